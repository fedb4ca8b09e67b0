"""Overlay layers for any pyqtgraph view: a calibrated heatmap (colormap, opacity, clamp range,
transparent below the range), its iso-contour at the model's pixel threshold, and a segmentation
mask (fill + outline). ``ColorLegend`` draws the colour scale with numbers and the threshold.

Layers sit above the image (z 20-23), so other layers (labels) can be placed next to them.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QSizePolicy, QWidget

from app import theme
from app.state.overlays import OverlaySettings, iso_contours

MASK_COLOUR = (0, 229, 255)
CONTOUR_COLOUR = "#ffffff"
Z_HEATMAP, Z_MASK, Z_MASK_OUTLINE, Z_CONTOUR = 20, 21, 22, 23

_lut_cache: dict[str, np.ndarray] = {}


def colormap_lut(name: str, n: int = 256, fade: float = 0.25) -> np.ndarray:
    """(n, 4) uint8 RGBA table; alpha rises from 0 at the bottom of the range to full at ``fade``
    of it, so weak values leave the anatomy visible instead of tinting the whole image."""
    key = f"{name}/{n}/{fade}"
    if key not in _lut_cache:
        rgb = _colormap_rgb(name, n)
        t = np.linspace(0.0, 1.0, n)
        alpha = np.clip(t / fade, 0.0, 1.0) * 255 if fade > 0 else np.full(n, 255.0)
        _lut_cache[key] = np.concatenate([rgb[:, :3], alpha[:, None]], axis=1).astype(np.uint8)
    return _lut_cache[key]


def _colormap_rgb(name: str, n: int) -> np.ndarray:
    """(n, 3) RGB of one of pyqtgraph's bundled colour maps, read straight from its CSV with numpy
    (pyqtgraph's own loader builds a QColor per entry: ~50 ms on the GUI thread on a busy CPU)."""
    from pathlib import Path

    path = Path(pg.__file__).parent / "colors" / "maps" / f"{name}.csv"
    try:
        rows = [
            line.split(";")[0].split(",")[:3]
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith(";")
        ]
        table = np.asarray(rows, dtype=np.float64)
    except (OSError, ValueError):
        return pg.colormap.get(name).getLookupTable(0.0, 1.0, n, alpha=False)[:, :3]
    x = np.linspace(0.0, 1.0, len(table))
    t = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(t, x, table[:, c]) for c in range(3)], axis=1) * 255.0 + 0.5


class OverlayLayers:
    """Heatmap, iso-contour and mask items in one ``pg.ViewBox`` (a 2-D image or one MRI plane)."""

    def __init__(self, view: pg.ViewBox):
        self.view = view
        self.heat = pg.ImageItem()
        self.heat.setZValue(Z_HEATMAP)
        self.mask = pg.ImageItem()
        self.mask.setZValue(Z_MASK)
        self.mask.setLookupTable(np.array([[0, 0, 0, 0], [*MASK_COLOUR, 255]], np.uint8))
        self.mask_outline = pg.PlotCurveItem(pen=pg.mkPen(QColor(*MASK_COLOUR), width=1.5), connect="finite")
        self.mask_outline.setZValue(Z_MASK_OUTLINE)
        self.contour = pg.PlotCurveItem(pen=pg.mkPen(CONTOUR_COLOUR, width=1.5), connect="finite")
        self.contour.setZValue(Z_CONTOUR)
        for item in (self.heat, self.mask, self.mask_outline, self.contour):
            item.hide()
            view.addItem(item)
        for item in (self.heat, self.mask):  # repaints (cursor, scan marker) blit a cached pixmap
            item.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self._heat: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._rect: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
        self._level: float | None = None
        self._settings = OverlaySettings()
        self._pixel_threshold = 3.0

    # -- data --------------------------------------------------------------------------------
    def set_data(
        self,
        heat: np.ndarray | None,
        mask: np.ndarray | None,
        rect: tuple[float, float, float, float],
        pixel_threshold: float,
        settings: OverlaySettings,
    ) -> None:
        """Show ``heat`` / ``mask`` (2-D, any resolution) stretched over ``rect`` = (x, y, w, h)."""
        self._heat = None if heat is None else np.asarray(heat, np.float32)
        self._mask = None if mask is None or not np.any(mask) else np.asarray(mask, np.uint8)
        self._rect = tuple(float(v) for v in rect)
        self._pixel_threshold = float(pixel_threshold)
        x, y, w, h = self._rect
        if self._heat is not None:
            self.heat.setImage(self._heat, autoLevels=False, levels=settings.clamp_for(pixel_threshold))
            self.heat.setRect(QRectF(x, y, w, h))
            cx, cy = iso_contours(self._heat, pixel_threshold, (w, h))
            self.contour.setData(cx + x, cy + y) if cx.size else self.contour.setData([], [])
        else:
            self.heat.clear()
            self.contour.setData([], [])
        if self._mask is not None:
            self.mask.setImage(self._mask, autoLevels=False, levels=(0, 1))
            self.mask.setRect(QRectF(x, y, w, h))
            mx, my = iso_contours(self._mask.astype(np.float32), 0.5, (w, h))
            self.mask_outline.setData(mx + x, my + y) if mx.size else self.mask_outline.setData([], [])
        else:
            self.mask.clear()
            self.mask_outline.setData([], [])
        self.apply(settings)

    def clear(self) -> None:
        self._heat = self._mask = None
        self.heat.clear()
        self.mask.clear()
        self.contour.setData([], [])
        self.mask_outline.setData([], [])
        for item in (self.heat, self.mask, self.mask_outline, self.contour):
            item.hide()

    # -- appearance --------------------------------------------------------------------------
    def apply(self, settings: OverlaySettings) -> None:
        self._settings = settings
        on = settings.visible
        has_heat, has_mask = self._heat is not None, self._mask is not None
        if has_heat:
            self.heat.setLookupTable(colormap_lut(settings.colormap))
            self.heat.setLevels(settings.clamp_for(self._pixel_threshold))
            self.heat.setOpacity(float(np.clip(settings.opacity, 0.0, 1.0)))
        self.heat.setVisible(on and has_heat and settings.show_heatmap)
        self.contour.setVisible(on and has_heat and settings.show_contour)
        self.mask.setOpacity(0.30)
        self.mask.setVisible(on and has_mask and settings.show_mask)
        self.mask_outline.setVisible(on and has_mask and settings.show_mask)

    @property
    def has_heatmap(self) -> bool:
        return self._heat is not None

    @property
    def has_mask(self) -> bool:
        return self._mask is not None

    def heatmap_visible(self) -> bool:
        return self.heat.isVisible()

    def contour_points(self) -> int:
        x, _ = self.contour.getData()
        return 0 if x is None else int(np.isfinite(x).sum())


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


LEGEND_HELP = (
    "Colours: how many standard deviations (SD) a pixel's anomaly lies above the normal images the model "
    "was calibrated on. The marked line is the level of the contour drawn on the image: 99.9 % of the "
    "pixels of those normal images stay below it."
)


class ColorLegend(QWidget):
    """A vertical colour bar with its numeric scale and the iso-contour threshold marked."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumWidth(84)
        self.setMaximumWidth(96)
        self.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Expanding)
        self.colormap = "turbo"
        self.range = (0.0, 1.0)
        self.threshold: float | None = None
        self.title = "SD above\nnormal"
        self.active = False
        self.setToolTip(LEGEND_HELP)

    def set_scale(self, colormap: str, lo: float, hi: float, threshold: float | None, active: bool = True) -> None:
        self.colormap, self.range, self.threshold, self.active = colormap, (float(lo), float(hi)), threshold, active
        if threshold is not None:
            self.setToolTip(LEGEND_HELP.replace("The marked line", f"The marked line ({threshold:.1f} SD)"))
        self.update()

    def set_inactive(self) -> None:
        self.active = False
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor(theme.BG))
        font = QFont(self.font())
        font.setPointSizeF(8.5)
        p.setFont(font)
        fm = p.fontMetrics()
        p.setPen(QColor(theme.MUTED))
        title_h = fm.height() * 2 + 6
        p.drawText(QRectF(0, 4, self.width(), title_h), Qt.AlignHCenter | Qt.AlignTop, self.title)
        top, bottom = title_h + 12, self.height() - fm.height() - 8
        bar = QRectF(10, top, 16, max(bottom - top, 10))
        if not self.active:
            p.setPen(QPen(QColor(theme.BORDER)))
            p.drawRect(bar)
            p.setPen(QColor(theme.MUTED))
            p.drawText(QRectF(0, bottom + 2, self.width(), fm.height() + 4), Qt.AlignHCenter, "no result")
            p.end()
            return
        lut = colormap_lut(self.colormap, 64, fade=0.0)
        grad = QLinearGradient(0, bar.bottom(), 0, bar.top())
        for i, c in enumerate(lut):
            grad.setColorAt(i / (len(lut) - 1), QColor(int(c[0]), int(c[1]), int(c[2])))
        p.fillRect(bar, grad)
        p.setPen(QPen(QColor(theme.BORDER)))
        p.drawRect(bar)
        lo, hi = self.range

        def ypos(v: float) -> float:
            return bar.bottom() - (v - lo) / (hi - lo) * bar.height() if hi > lo else bar.bottom()

        p.setPen(QColor(theme.TEXT))
        for v in nice_ticks(lo, hi):
            y = ypos(v)
            p.drawLine(int(bar.right()), int(y), int(bar.right()) + 4, int(y))
            p.drawText(
                QRectF(bar.right() + 7, y - fm.height() / 2, self.width() - bar.right() - 7, fm.height()),
                Qt.AlignLeft | Qt.AlignVCenter,
                f"{v:g}",
            )
        if self.threshold is not None and lo <= self.threshold <= hi:
            y = ypos(self.threshold)
            p.setPen(QPen(QColor(CONTOUR_COLOUR), 2))
            p.drawLine(int(bar.left()) - 4, int(y), int(bar.right()) + 2, int(y))
        p.setPen(QColor(theme.MUTED))
        thr = f"contour {self.threshold:.1f}" if self.threshold is not None else ""
        p.drawText(QRectF(0, bottom + 2, self.width(), fm.height() + 4), Qt.AlignHCenter, thr)
        p.end()
