"""The main window's layout: worklist | viewers with the colour legend | the side column of panels
(review, overlays, model, case details), in a splitter. Pure composition, no behaviour.

Laptop screens (1366x768, or 1920x1080 at 150 % = 1280x720 logical): the worklist and the side
column collapse (drag the splitter handle to the edge, or View → Worklist / Side panels), the side
column scrolls, and the first layout shares the window's width instead of assuming 1600 px."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QSplitter, QVBoxLayout, QWidget

WORKLIST, CENTRE, SIDEBAR = range(3)
CENTRE_MIN = 440  # two images side by side stay readable down to about this width


def muted_label(text: str = "") -> QLabel:
    """A centred, muted placeholder for the viewer stack ("Select a case…", "Loading…")."""
    label = QLabel(text)
    label.setAlignment(Qt.AlignCenter)
    label.setObjectName("muted")
    label.setWordWrap(True)
    return label


def side_column(*panels: QWidget) -> QScrollArea:
    """The panels stacked top-down in a scroll area as wide as they need (at most 440 px). It
    scrolls vertically on short screens; a panel that grows wider than the column scrolls
    sideways instead of being cut off."""
    side = QWidget()
    side.setObjectName("sideColumn")
    sl = QVBoxLayout(side)
    sl.setContentsMargins(4, 4, 4, 4)
    sl.setSpacing(8)
    for panel in panels:
        sl.addWidget(panel)
    sl.addStretch(1)
    scroll = QScrollArea()
    scroll.setObjectName("sidebar")
    scroll.setWidget(side)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
    scroll.setMinimumWidth(side.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)
    scroll.setMaximumWidth(440)
    return scroll


def main_splitter(worklist: QWidget, viewers: QWidget, legend: QWidget, sidebar: QWidget, banner: QWidget | None = None) -> QSplitter:
    """Worklist | (banner over) viewers + legend | side column; only the centre grows with the
    window, and only the worklist and the side column collapse."""
    centre = QWidget()
    cl = QVBoxLayout(centre)
    cl.setContentsMargins(0, 0, 0, 0)
    cl.setSpacing(2)
    if banner is not None:
        cl.addWidget(banner)
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(2)
    row.addWidget(viewers, 1)
    row.addWidget(legend)
    cl.addLayout(row, 1)
    centre.setMinimumWidth(CENTRE_MIN)
    splitter = QSplitter(Qt.Horizontal)
    splitter.setObjectName("mainSplitter")
    splitter.addWidget(worklist)
    splitter.addWidget(centre)
    splitter.addWidget(sidebar)
    splitter.setStretchFactor(WORKLIST, 0)
    splitter.setStretchFactor(CENTRE, 1)
    splitter.setStretchFactor(SIDEBAR, 0)
    splitter.setCollapsible(WORKLIST, True)
    splitter.setCollapsible(CENTRE, False)
    splitter.setCollapsible(SIDEBAR, True)
    splitter.setHandleWidth(6)
    splitter.setSizes(default_sizes(splitter, 1600))
    return splitter


def default_sizes(splitter: QSplitter, width: int) -> list[int]:
    """Worklist, centre and side column for a window ``width`` logical pixels wide: the side
    column gets what its panels need, the worklist a quarter (260-446 px), the centre the rest."""
    side_min = splitter.widget(SIDEBAR).minimumWidth()
    work_min = splitter.widget(WORKLIST).minimumSizeHint().width()
    handles = 2 * splitter.handleWidth()
    side = max(side_min, min(380, int(width * 0.25)))
    work = max(work_min, min(446, int(width * 0.26)))
    centre = max(CENTRE_MIN, width - side - work - handles)
    return [work, centre, side]
