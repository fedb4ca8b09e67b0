"""The B-scans of an OCT volume on the en-face view (localizer or fundus photo), and the bar that
moves through the volume.

``BScanLines`` draws every B-scan's line thin and translucent (the current B-scan's line is the
case view's highlighted scan line) and finds the B-scan a click selects: the nearest line within
a few screen pixels, or within its band of the en-face map (half the spacing between lines).
``VolumeBar`` holds the B-scan slider, the B-scan's number and score, the en-face toggle and, when
a case has several en-face images (a localizer and a fundus photo), which one is shown.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QWidget

from core.domain import ScanLine
from core.models.enface import line_half_width, nearest_bscan

LINE_COLOUR = "#39d353"
Z_LINES = 24  # above the overlay layers (20-23), below the current line and the cursor marker
CLICK_TOLERANCE_PX = 8.0  # screen pixels


class BScanLines:
    def __init__(self, view: pg.ViewBox):
        self.view = view
        colour = QColor(LINE_COLOUR)
        colour.setAlpha(120)
        self.item = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1), connect="finite")
        self.item.setZValue(Z_LINES)
        view.addItem(self.item)
        self.positions: list[ScanLine] = []
        self._band = 0.0

    def set_positions(self, positions: Sequence[ScanLine] | None) -> None:
        self.positions = list(positions or [])
        if not self.positions:
            self.item.setData([], [])
            self._band = 0.0
            return
        xs = np.array([[p.start[0], p.end[0], np.nan] for p in self.positions], np.float64).ravel()
        ys = np.array([[p.start[1], p.end[1], np.nan] for p in self.positions], np.float64).ravel()
        self.item.setData(xs, ys)
        self._band = line_half_width(self.positions) if len(self.positions) > 1 else 0.0

    def clear(self) -> None:
        self.set_positions(None)

    def line_count(self) -> int:
        return len(self.positions)

    def pick(self, x: float, y: float) -> int | None:
        """The B-scan a click at image point (x, y) selects, or None."""
        if not self.positions:
            return None
        px = self.view.viewPixelSize()
        tolerance = max(CLICK_TOLERANCE_PX * max(float(px[0]), float(px[1])), self._band)
        return nearest_bscan(x, y, self.positions, tolerance)


class VolumeBar(QWidget):
    """B-scan slider with the B-scan's number and score, the en-face toggle and the image chooser."""

    page_changed = Signal(int)
    enface_toggled = Signal(bool)
    image_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setMinimum(0)
        self.slider.setToolTip("Move through the volume (wheel over the B-scan; Ctrl+wheel zooms; click a line on the localizer)")
        self.label = QLabel("")
        self.label.setObjectName("muted")
        self.enface = QCheckBox("En-face map")
        self.enface.setChecked(True)
        self.enface.setToolTip("Draw the en-face anomaly map (highest value of every A-scan) on the localizer")
        self.enface.hide()
        self.chooser = QComboBox()
        self.chooser.setToolTip("En-face image shown next to the B-scan")
        self.chooser.hide()
        self.caption = QLabel("B-scan")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 0, 8, 0)
        row.addWidget(self.chooser)
        row.addWidget(self.caption)
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        row.addWidget(self.enface)
        self.slider.valueChanged.connect(self.page_changed)
        self.enface.toggled.connect(self.enface_toggled)
        self.chooser.activated.connect(lambda i: self.image_chosen.emit(self.chooser.itemData(i)))

    def set_volume(self, is_volume: bool) -> None:
        """Show the B-scan controls (a volume) or only the image chooser."""
        for w in (self.caption, self.slider, self.label):
            w.setVisible(is_volume)

    def set_pages(self, count: int, page: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(count - 1, 0))
        self.slider.setValue(page)
        self.slider.blockSignals(False)

    def set_images(self, names: list[tuple[str, str]], current: str | None) -> None:
        """(name, title) of the en-face images to choose from; the chooser shows with two or more."""
        self.chooser.blockSignals(True)
        self.chooser.clear()
        for name, title in names:
            self.chooser.addItem(title, name)
        idx = self.chooser.findData(current)
        self.chooser.setCurrentIndex(max(idx, 0))
        self.chooser.blockSignals(False)
        self.chooser.setVisible(len(names) > 1)

    def show_page(self, page: int, count: int, score: float | None, top: int | None) -> None:
        text = f"{page + 1} / {count}"
        if score is not None:
            text += f"  ·  score {score:.2f}" + ("  (highest)" if top == page else "")
        self.label.setText(text)
