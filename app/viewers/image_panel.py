"""One 2-D image in a zoomable, pannable pyqtgraph view with a title bar.

Arrays are row-major: (H, W) grey, (H, W, 3) RGB. 16-bit and float data are windowed by levels
(default: 0.5 and 99.5 percentiles).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app import theme
from app.elided_label import ElidedLabel

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


def auto_levels(array: np.ndarray) -> tuple[float, float]:
    a = np.asarray(array)
    if a.dtype == np.uint8:
        return 0.0, 255.0
    sample = a[:: max(1, a.shape[0] // 256), :: max(1, a.shape[1] // 256)] if a.ndim >= 2 else a
    lo, hi = np.percentile(sample, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


class ImagePanel(QWidget):
    """A titled image view. ``mouse_moved`` gives image coordinates (x, y) under the cursor."""

    mouse_moved = Signal(float, float)

    def __init__(self, title: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("panel")
        self.title = QLabel(title)
        self.title.setObjectName("title")
        self.subtitle = ElidedLabel("", min_chars=14)  # the eye stays readable first; the tooltip has the rest
        self.subtitle.setObjectName("muted")
        self.subtitle.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.badge = QLabel("")
        self.badge.setObjectName("badge")
        self.badge.hide()
        head = QHBoxLayout()
        head.setContentsMargins(8, 4, 8, 2)
        head.setSpacing(10)  # "Fundus  right eye (OD)", never "Fundusright eye (OD)"
        head.addWidget(self.title)
        head.addWidget(self.badge)
        head.addWidget(self.subtitle, 1)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(theme.VIEW_BG)
        self.graphics.ci.setContentsMargins(0, 0, 0, 0)
        self.view: pg.ViewBox = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setDefaultPadding(0.01)
        self.image_item = pg.ImageItem()
        self.view.addItem(self.image_item)
        self.placeholder = pg.TextItem("", color=theme.MUTED, anchor=(0.5, 0.5))
        self.view.addItem(self.placeholder)
        self._shape: tuple[int, int] | None = None
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(0)
        layout.addLayout(head)
        layout.addWidget(self.graphics, 1)

    def set_title(self, title: str, subtitle: str = "", badge: str = "") -> None:
        self.title.setText(title)
        self.subtitle.setText(subtitle)
        self.badge.setText(badge)
        self.badge.setVisible(bool(badge))

    def set_image(
        self,
        array: np.ndarray,
        levels: tuple[float, float] | None = None,
        rect: tuple[float, float, float, float] | None = None,
        keep_view: bool = False,
    ) -> None:
        a = np.asarray(array)
        self.placeholder.setText("")
        self.image_item.setImage(a, levels=levels or auto_levels(a), autoLevels=False)
        h, w = a.shape[:2]
        if rect is not None:
            self.image_item.setRect(*rect)
        else:
            self.image_item.setRect(0, 0, w, h)
        if not keep_view or self._shape != (h, w):
            self.view.autoRange(padding=0.01)
        self._shape = (h, w)

    def set_levels(self, low: float, high: float) -> None:
        self.image_item.setLevels((low, high))

    def show_message(self, text: str) -> None:
        self.image_item.clear()
        self._shape = None
        self.placeholder.setText(text)
        self.placeholder.setPos(0, 0)
        self.view.setRange(xRange=(-1, 1), yRange=(-1, 1), padding=0)

    def clear(self) -> None:
        self.image_item.clear()
        self._shape = None

    def _on_mouse(self, pos) -> None:
        if self._shape is None:
            return
        p = self.view.mapSceneToView(pos)
        self.mouse_moved.emit(float(p.x()), float(p.y()))

    def cursor_shape(self) -> Qt.CursorShape:
        return self.graphics.cursor().shape()
