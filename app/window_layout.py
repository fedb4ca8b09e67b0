"""The main window's layout: worklist | viewers with the colour legend | the side column of panels
(review, overlays, model, case details), in a splitter. Pure composition, no behaviour."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QSplitter, QVBoxLayout, QWidget


def muted_label(text: str = "") -> QLabel:
    """A centred, muted placeholder for the viewer stack ("Select a case…", "Loading…")."""
    label = QLabel(text)
    label.setAlignment(Qt.AlignCenter)
    label.setObjectName("muted")
    return label


def side_column(*panels: QWidget) -> QScrollArea:
    """The panels stacked top-down in a vertical scroll area as wide as they need (at most 440 px)."""
    side = QWidget()
    sl = QVBoxLayout(side)
    sl.setContentsMargins(4, 4, 4, 4)
    sl.setSpacing(8)
    for panel in panels:
        sl.addWidget(panel)
    sl.addStretch(1)
    scroll = QScrollArea()
    scroll.setWidget(side)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    scroll.setMinimumWidth(side.minimumSizeHint().width() + 16)
    scroll.setMaximumWidth(440)
    return scroll


def main_splitter(worklist: QWidget, viewers: QWidget, legend: QWidget, sidebar: QWidget, banner: QWidget | None = None) -> QSplitter:
    """Worklist | (banner over) viewers + legend | side column; only the centre grows with the window."""
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
    splitter = QSplitter(Qt.Horizontal)
    splitter.addWidget(worklist)
    splitter.addWidget(centre)
    splitter.addWidget(sidebar)
    splitter.setStretchFactor(0, 0)
    splitter.setStretchFactor(1, 1)
    splitter.setStretchFactor(2, 0)
    splitter.setSizes([446, 834, 320])
    splitter.setChildrenCollapsible(False)
    return splitter
