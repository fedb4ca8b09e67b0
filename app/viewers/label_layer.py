"""Label overlay for an ImagePanel's view: filled class colours, crisp outlines, the selection.

Area shapes (polygon, rectangle, circle, mask) are filled in their class colour at the layer's
opacity and outlined at full strength; lines and points are drawn as outlines and markers. Pixel
regions and outlines are cached per shape object (shapes are immutable while editing), so a
change re-rasterises only the shapes it touched. Volume planes use ``show_index`` (an index image
and a colour table) instead of shapes.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QPen

from core.io.labelme import Shape
from core.labels.raster import Region
from core.labels.shapes import label_to_view, shape_region

FALLBACK = ("#ff6f61", "#6b5b95", "#88b04b", "#f7cac9", "#92a8d1", "#955251", "#b565a7", "#009b77")


def colour_for(label: str, colours: dict[str, str]) -> str:
    if label in colours:
        return colours[label]
    return FALLBACK[sum(map(ord, label)) % len(FALLBACK)]


_brushes: dict[str, QBrush] = {}
_pens: dict[tuple[str, float], QPen] = {}


def brush_for(colour: str) -> QBrush:
    """One QBrush per colour for scatter markers. pyqtgraph's ScatterPlotItem keys its symbol atlas
    by the brush *object*: a fresh brush on every ``setData`` adds a symbol to the atlas each time,
    so the atlas (and the item's memory) grew with every SAM click and label redraw."""
    brush = _brushes.get(colour)
    if brush is None:
        brush = _brushes[colour] = pg.mkBrush(colour)
    return brush


def pen_for(colour: str, width: float = 1.0) -> QPen:
    """One QPen per (colour, width) for scatter markers (the atlas keys pens by object too)."""
    pen = _pens.get((colour, width))
    if pen is None:
        pen = _pens[(colour, width)] = pg.mkPen(colour, width=width)
    return pen


def hex_rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _outline(shape: Shape, region: Region | None) -> list[np.ndarray]:
    """Polylines (view coordinates) outlining one shape; closed ones repeat their first point."""
    t = shape.shape_type
    if t == "mask":
        if region is None:
            return []
        import cv2

        contours, _ = cv2.findContours(region.mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        out = []
        for c in contours:
            p = c.reshape(-1, 2).astype(np.float64) + [region.x0 + 0.5, region.y0 + 0.5]
            out.append(np.vstack([p, p[:1]]))
        return out
    pts = label_to_view(shape.points)
    if t == "polygon":
        return [np.vstack([pts, pts[:1]])]
    if t == "rectangle":
        (x1, y1), (x2, y2) = pts[0], pts[1]
        return [np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]])]
    if t == "circle":
        (cx, cy), (px, py) = pts[0], pts[1]
        r = float(np.hypot(px - cx, py - cy))
        a = np.linspace(0, 2 * np.pi, 65)
        return [np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1)]
    if t in ("line", "linestrip"):
        return [pts]
    return []


def _polyline_data(lines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not lines:
        return np.zeros(0), np.zeros(0)
    parts = []
    for ln in lines:
        parts.append(ln)
        parts.append(np.array([[np.nan, np.nan]]))
    xy = np.vstack(parts)
    return xy[:, 0], xy[:, 1]


class LabelLayer:
    def __init__(self, view: pg.ViewBox, z: float = 20.0):
        self.view = view
        self.fill = pg.ImageItem()
        self.fill.setZValue(z)
        self.fill.setOpacity(0.45)
        view.addItem(self.fill)
        self.points = pg.ScatterPlotItem(size=8, pen=pen_for("#ffffff", 1))
        self.points.setZValue(z + 2)
        view.addItem(self.points)
        self.selection = pg.PlotCurveItem(pen=pg.mkPen("#ffffff", width=2, style=Qt.DashLine), connect="finite")
        self.selection.setZValue(z + 3)
        view.addItem(self.selection)
        self._outlines: dict[str, pg.PlotCurveItem] = {}
        self._z = z
        self._cache: dict[int, tuple[Shape, Region | None, list[np.ndarray]]] = {}
        self._visible = True
        self._outline_visible = True
        self._last: tuple | None = None
        self.rect: tuple[float, float, float, float] | None = None

    # -- settings -------------------------------------------------------------------------------
    def set_opacity(self, value: float) -> None:
        self.fill.setOpacity(float(np.clip(value, 0.0, 1.0)))

    def opacity(self) -> float:
        return float(self.fill.opacity())

    def set_visible(self, visible: bool) -> None:
        self._visible = bool(visible)
        for item in [self.fill, self.points, self.selection, *self._outlines.values()]:
            item.setVisible(self._visible)

    def is_visible(self) -> bool:
        return self._visible

    def clear(self) -> None:
        self.fill.clear()
        self.points.setData([], [])
        self.selection.setData([], [])
        for c in self._outlines.values():
            c.setData([], [])
        self._cache.clear()

    # -- shapes ---------------------------------------------------------------------------------
    def _entry(self, shape: Shape, height: int, width: int):
        key = id(shape)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is shape:
            return hit
        region = shape_region(shape, height, width) if shape.shape_type in ("polygon", "rectangle", "circle", "mask") else None
        entry = (shape, region, _outline(shape, region))
        self._cache[key] = entry
        return entry

    def region_of(self, shape: Shape, height: int, width: int) -> Region | None:
        return self._entry(shape, height, width)[1]

    def show_shapes(
        self,
        shapes,
        height: int,
        width: int,
        colours: dict[str, str],
        visible: set[str] | None = None,
        selected: set[int] | frozenset = frozenset(),
    ) -> None:
        live = {id(s) for s in shapes}
        for key in [k for k in self._cache if k not in live]:
            del self._cache[key]
        rgba = np.zeros((height, width, 4), np.uint8)
        lines: dict[str, list[np.ndarray]] = defaultdict(list)
        pts_x, pts_y, pts_brush = [], [], []
        sel_lines: list[np.ndarray] = []
        for i, s in enumerate(shapes):
            if visible is not None and s.label not in visible:
                continue
            _, region, outline = self._entry(s, height, width)
            colour = colour_for(s.label, colours)
            if region is not None:
                sub = rgba[region.y0 : region.y1, region.x0 : region.x1]
                sub[region.mask] = (*hex_rgb(colour), 255)
            lines[colour].extend(outline)
            if s.shape_type == "point":
                p = label_to_view(s.points)[0]
                pts_x.append(p[0])
                pts_y.append(p[1])
                pts_brush.append(brush_for(colour))
            if i in selected:
                sel_lines.extend(outline)
                if region is not None and s.shape_type == "mask":
                    x0, y0, x1, y1 = region.x0, region.y0, region.x1, region.y1
                    sel_lines.append(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], float))
        self.fill.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.fill.setRect(*(self.rect or (0, 0, width, height)))
        for colour, curve in self._outlines.items():
            if colour not in lines:
                curve.setData([], [])
        for colour, ls in lines.items():
            curve = self._outlines.get(colour)
            if curve is None:
                curve = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1.6), connect="finite")
                curve.setZValue(self._z + 1)
                curve.setVisible(self._visible)
                self.view.addItem(curve)
                self._outlines[colour] = curve
            x, y = _polyline_data(ls)
            curve.setData(*self._scaled(x, y, height, width))
        if pts_x:
            x, y = self._scaled(np.array(pts_x), np.array(pts_y), height, width)
            self.points.setData(x, y, brush=pts_brush)
        else:
            self.points.setData([], [])
        x, y = _polyline_data(sel_lines)
        self.selection.setData(*self._scaled(x, y, height, width))

    def _scaled(self, x: np.ndarray, y: np.ndarray, height: int, width: int):
        if self.rect is None:
            return x, y
        rx, ry, rw, rh = self.rect
        return rx + x * rw / width, ry + y * rh / height

    # -- index images (volume planes) -----------------------------------------------------------
    def show_index(self, index: np.ndarray, lut: np.ndarray, rect: tuple[float, float, float, float] | None = None) -> None:
        """Colour an index image with ``lut`` ((256, 4) uint8, row 0 transparent)."""
        rgba = lut[np.asarray(index, np.uint8)]
        self.fill.setImage(rgba, autoLevels=False, levels=(0, 255))
        h, w = index.shape
        self.fill.setRect(*(rect or (0, 0, w, h)))


def make_lut(colours_by_id: dict[int, str], visible_ids: set[int] | None = None) -> np.ndarray:
    lut = np.zeros((256, 4), np.uint8)
    for i, colour in colours_by_id.items():
        if 0 < i < 256 and (visible_ids is None or i in visible_ids):
            lut[i] = (*hex_rgb(colour), 255)
    return lut
