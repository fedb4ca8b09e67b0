"""Window / level for an ImagePanel: right-button drag (left-right = window width, up-down =
level), right double-click resets, the current values are shown in the view's corner.

Works for 8-bit, 16-bit and float images (grey or RGB). The tool wraps the view's drag handler
for the right button only; left drag (pan) and the wheel (zoom) are untouched, so other tools
(label editing) can use the left button.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from app import theme


class WindowLevelTool:
    SENSITIVITY = 250.0  # pixels of drag that change the width by a factor e / move the level one width

    def __init__(self, panel, on_change: Callable[[float, float], None] | None = None):
        self.panel = panel
        self.on_change = on_change
        self.default: tuple[float, float] | None = None
        self.data_range: tuple[float, float] = (0.0, 255.0)
        self._start: tuple[float, float] | None = None
        self.label = pg.TextItem("", color=theme.MUTED, anchor=(0, 1))
        self.label.setParentItem(panel.view)  # fixed to the view, not the image
        self.label.setZValue(50)
        view = panel.view
        self._drag = view.mouseDragEvent
        self._click = view.mouseClickEvent
        view.mouseDragEvent = self._on_drag
        view.mouseClickEvent = self._on_click
        view.sigResized.connect(self._place_label)

    # -- state -------------------------------------------------------------------------------
    def image_changed(self, array: np.ndarray | None = None, default: tuple[float, float] | None = None) -> None:
        """Call after a new image: remember its default levels and the data range."""
        levels = default or self.levels()
        self.default = levels
        if array is not None and np.asarray(array).size:
            a = np.asarray(array)
            step = max(1, a.shape[0] // 256)
            sample = a[::step, ::step] if a.ndim >= 2 else a
            self.data_range = (float(np.min(sample)), float(np.max(sample)))
        self.refresh_label()

    def levels(self) -> tuple[float, float]:
        lv = self.panel.image_item.levels
        if lv is None:
            return (0.0, 1.0)
        lv = np.asarray(lv, float)
        if lv.ndim == 2:  # per-channel levels of RGB data
            return float(lv[:, 0].min()), float(lv[:, 1].max())
        return float(lv[0]), float(lv[1])

    def window(self) -> tuple[float, float]:
        """(width, centre)."""
        lo, hi = self.levels()
        return hi - lo, (hi + lo) / 2

    def set_window(self, width: float, centre: float, notify: bool = True) -> None:
        span = max(self.data_range[1] - self.data_range[0], 1e-6)
        width = float(np.clip(width, span * 1e-3, span * 4))
        lo, hi = centre - width / 2, centre + width / 2
        self.panel.image_item.setLevels((lo, hi))
        self.refresh_label()
        if notify and self.on_change is not None:
            self.on_change(lo, hi)

    def drag_by(self, dx: float, dy: float, start: tuple[float, float] | None = None) -> None:
        """Apply a drag of (dx, dy) screen pixels starting from window ``start`` = (width, centre)."""
        width, centre = start or self.window()
        self.set_window(width * float(np.exp(dx / self.SENSITIVITY)), centre - dy / self.SENSITIVITY * width)

    def reset(self) -> None:
        if self.default is not None:
            lo, hi = self.default
            self.set_window(hi - lo, (hi + lo) / 2)

    # -- mouse -------------------------------------------------------------------------------
    def _on_drag(self, ev, axis=None):
        if ev.button() != Qt.RightButton or self.panel.image_item.image is None:
            return self._drag(ev, axis) if axis is not None else self._drag(ev)
        ev.accept()
        if ev.isStart():
            self._start = self.window()
        if self._start is None:
            return None
        d = ev.screenPos() - ev.buttonDownScreenPos()
        self.drag_by(d.x(), d.y(), self._start)
        if ev.isFinish():
            self._start = None
        return None

    def _on_click(self, ev):
        if ev.button() == Qt.RightButton:
            ev.accept()
            if ev.double():
                self.reset()
            return None
        return self._click(ev)

    def refresh_label(self) -> None:
        width, centre = self.window()
        self.label.setText(f"W {width:.4g}  L {centre:.4g}")
        self._place_label()

    def _place_label(self, *_):
        r = self.panel.view.rect()
        self.label.setPos(r.left() + 6, r.bottom() - 4)
