"""Drawing tools. A tool turns mouse and key events (in view coordinates) into calls on its host
(the 2-D label canvas or one plane of the MRI label view) and draws its own live preview. The
events reach the active tool through app.editing.interaction; names, keys and tips of the tools
are in app.editing.tool_keys.

Host methods used: ``view`` (pg.ViewBox), ``brush_radius`` (pixels), ``pixel_size()`` (view
units per image pixel), ``active_colour()``, ``apply_stroke(points, erase)``, ``add_polygon(points)``,
``add_rectangle(p0, p1)``, ``fill_at(x, y)``, ``select_at(x, y, extend)``, ``selection_contains(x, y)``,
``preview_move(dx, dy)``, ``move_selection(dx, dy)``, ``sam_point(x, y, positive)``,
``sam_box(p0, p1)``, ``sam_accept()``, ``sam_clear()``, ``sam_activated()``, ``notify(text)``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem, QGraphicsRectItem

from app.viewers.label_layer import brush_for, pen_for


def cosmetic_pen(colour: str, width: float = 1.5, style=Qt.SolidLine) -> QPen:
    pen = QPen(QColor(colour))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    pen.setStyle(style)
    return pen


class Tool:
    name = "tool"
    drag_buttons: tuple = (Qt.LeftButton,)

    def __init__(self):
        self.host = None

    def activate(self, host) -> None:
        self.host = host

    def deactivate(self) -> None:
        self.cancel()
        self.host = None

    def wants_drag(self, button) -> bool:
        return button in self.drag_buttons

    def click(self, x: float, y: float, button, modifiers, double: bool = False) -> None: ...
    def drag_start(self, x: float, y: float, button, modifiers) -> None: ...
    def drag_move(self, x: float, y: float) -> None: ...
    def drag_end(self, x: float, y: float) -> None: ...
    def hover(self, x: float | None, y: float | None) -> None: ...

    def key(self, key) -> bool:
        if key == Qt.Key_Escape:
            self.cancel()
            return True
        return False

    def cancel(self) -> None: ...

    def refresh(self) -> None:
        """Colour or size changed."""


class BrushTool(Tool):
    name = "brush"
    erase = False

    def activate(self, host) -> None:
        super().activate(host)
        self.points: list[tuple[float, float]] = []
        self.stroke = QGraphicsPathItem()
        self.stroke.setZValue(40)
        self.cursor = QGraphicsEllipseItem()
        self.cursor.setZValue(41)
        self.cursor.hide()
        host.view.addItem(self.stroke)
        host.view.addItem(self.cursor)
        self.refresh()

    def deactivate(self) -> None:
        if self.host is not None:
            self.host.view.removeItem(self.stroke)
            self.host.view.removeItem(self.cursor)
        super().deactivate()

    def _radius_view(self) -> float:
        sx, sy = self.host.pixel_size()
        return self.host.brush_radius * (sx + sy) / 2.0

    def refresh(self) -> None:
        if self.host is None:
            return
        colour = QColor("#e8e8e8" if self.erase else self.host.active_colour())
        colour.setAlpha(120 if self.erase else 150)
        pen = QPen(colour)
        pen.setWidthF(2 * self._radius_view())
        pen.setCapStyle(Qt.RoundCap)
        pen.setJoinStyle(Qt.RoundJoin)
        pen.setCosmetic(False)
        self.stroke.setPen(pen)
        self.cursor.setPen(cosmetic_pen("#ffffff" if not self.erase else "#ff8080", 1.2))
        r = self._radius_view()
        self.cursor.setRect(QRectF(-r, -r, 2 * r, 2 * r))

    def _draw(self) -> None:
        path = QPainterPath()
        if self.points:
            path.moveTo(QPointF(*self.points[0]))
            for p in self.points[1:] or self.points:
                path.lineTo(QPointF(*p))
        self.stroke.setPath(path)

    def click(self, x, y, button, modifiers, double=False) -> None:
        if button == Qt.LeftButton:
            self.host.apply_stroke([(x, y)], self.erase)

    def drag_start(self, x, y, button, modifiers) -> None:
        self.points = [(x, y)]
        self._draw()

    def drag_move(self, x, y) -> None:
        self.points.append((x, y))
        self._draw()
        self.hover(x, y)

    def drag_end(self, x, y) -> None:
        self.points.append((x, y))
        points, self.points = self.points, []
        self._draw()
        self.host.apply_stroke(points, self.erase)

    def hover(self, x, y) -> None:
        if x is None:
            self.cursor.hide()
            return
        self.cursor.setPos(x, y)
        self.cursor.show()

    def cancel(self) -> None:
        if self.host is not None:
            self.points = []
            self._draw()


class EraserTool(BrushTool):
    name = "eraser"
    erase = True


class PolygonTool(Tool):
    name = "polygon"
    drag_buttons = ()

    def activate(self, host) -> None:
        super().activate(host)
        self.points: list[tuple[float, float]] = []
        self.hover_pt: tuple[float, float] | None = None
        self.curve = pg.PlotCurveItem()
        self.curve.setZValue(40)
        self.dots = pg.ScatterPlotItem(size=7)
        self.dots.setZValue(41)
        host.view.addItem(self.curve)
        host.view.addItem(self.dots)
        self.refresh()

    def deactivate(self) -> None:
        if self.host is not None:
            self.host.view.removeItem(self.curve)
            self.host.view.removeItem(self.dots)
        super().deactivate()

    def refresh(self) -> None:
        if self.host is None:
            return
        colour = self.host.active_colour()
        self.curve.setPen(pg.mkPen(colour, width=2))
        self.dots.setPen(pen_for("#ffffff", 1))
        self.dots.setBrush(brush_for(colour))  # cached: the dots' symbol atlas keys brushes by object
        self._draw()

    def _draw(self) -> None:
        pts = list(self.points) + ([self.hover_pt] if self.points and self.hover_pt else [])
        if pts:
            a = np.asarray(pts, float)
            self.curve.setData(a[:, 0], a[:, 1])
            b = np.asarray(self.points, float)
            self.dots.setData(b[:, 0], b[:, 1])
        else:
            self.curve.setData([], [])
            self.dots.setData([], [])

    def _near_first(self, x, y) -> bool:
        if len(self.points) < 3:
            return False
        px = self.host.view.viewPixelSize()
        tol = 8 * max(px[0], px[1])
        return float(np.hypot(x - self.points[0][0], y - self.points[0][1])) <= tol

    def click(self, x, y, button, modifiers, double=False) -> None:
        if button != Qt.LeftButton:
            return
        if double or self._near_first(x, y):
            self.close()
            return
        self.points.append((x, y))
        self._draw()

    def hover(self, x, y) -> None:
        self.hover_pt = None if x is None else (x, y)
        if self.points:
            self._draw()

    def close(self) -> None:
        pts = list(dict.fromkeys(self.points))  # a double-click repeats its last point
        self.points, self.hover_pt = [], None
        self._draw()
        if len(pts) >= 3:
            self.host.add_polygon(pts)
        else:
            self.host.notify("A polygon needs at least three points")

    def key(self, key) -> bool:
        if key in (Qt.Key_Return, Qt.Key_Enter):
            if self.points:
                self.close()
                return True
            return False
        if key == Qt.Key_Backspace and self.points:
            self.points.pop()
            self._draw()
            return True
        return super().key(key)

    def cancel(self) -> None:
        if self.host is not None:
            self.points, self.hover_pt = [], None
            self._draw()


class RectangleTool(Tool):
    name = "rectangle"

    def activate(self, host) -> None:
        super().activate(host)
        self.p0 = None
        self.rect = QGraphicsRectItem()
        self.rect.setZValue(40)
        self.rect.hide()
        host.view.addItem(self.rect)
        self.refresh()

    def deactivate(self) -> None:
        if self.host is not None:
            self.host.view.removeItem(self.rect)
        super().deactivate()

    def refresh(self) -> None:
        if self.host is not None:
            self.rect.setPen(cosmetic_pen(self.host.active_colour(), 2))

    def drag_start(self, x, y, button, modifiers) -> None:
        self.p0 = (x, y)

    def drag_move(self, x, y) -> None:
        if self.p0 is None:
            return
        x0, y0 = self.p0
        self.rect.setRect(QRectF(min(x0, x), min(y0, y), abs(x - x0), abs(y - y0)))
        self.rect.show()

    def drag_end(self, x, y) -> None:
        p0, self.p0 = self.p0, None
        self.rect.hide()
        if p0 is not None and abs(x - p0[0]) > 0 and abs(y - p0[1]) > 0:
            self.host.add_rectangle(p0, (x, y))

    def cancel(self) -> None:
        if self.host is not None:
            self.p0 = None
            self.rect.hide()


class FillTool(Tool):
    name = "fill"
    drag_buttons = ()

    def click(self, x, y, button, modifiers, double=False) -> None:
        if button == Qt.LeftButton:
            self.host.fill_at(x, y)


class SelectTool(Tool):
    name = "select"

    def activate(self, host) -> None:
        super().activate(host)
        self.start = None

    def click(self, x, y, button, modifiers, double=False) -> None:
        if button == Qt.LeftButton:
            self.host.select_at(x, y, extend=bool(modifiers & Qt.ShiftModifier))

    def wants_drag(self, button) -> bool:
        return button == Qt.LeftButton and getattr(self.host, "supports_selection", False)

    def drag_start(self, x, y, button, modifiers) -> None:
        if not self.host.selection_contains(x, y):
            self.host.select_at(x, y, extend=False)
        self.start = (x, y) if self.host.selection_contains(x, y) else None

    def drag_move(self, x, y) -> None:
        if self.start is not None:
            self.host.preview_move(x - self.start[0], y - self.start[1])

    def drag_end(self, x, y) -> None:
        if self.start is not None:
            dx, dy = x - self.start[0], y - self.start[1]
            self.start = None
            self.host.preview_move(0.0, 0.0)
            self.host.move_selection(dx, dy)

    def cancel(self) -> None:
        if self.host is not None and self.start is not None:
            self.start = None
            self.host.preview_move(0.0, 0.0)


class SamTool(Tool):
    name = "sam"
    drag_buttons = (Qt.LeftButton,)

    def activate(self, host) -> None:
        super().activate(host)
        self.p0 = None
        self.rect = QGraphicsRectItem()
        self.rect.setZValue(40)
        self.rect.setPen(cosmetic_pen("#39d353", 1.5, Qt.DashLine))
        self.rect.hide()
        host.view.addItem(self.rect)
        host.sam_activated()

    def deactivate(self) -> None:
        if self.host is not None:
            self.host.view.removeItem(self.rect)
        super().deactivate()

    def click(self, x, y, button, modifiers, double=False) -> None:
        if button == Qt.LeftButton:
            self.host.sam_point(x, y, positive=not bool(modifiers & (Qt.ShiftModifier | Qt.AltModifier)))
        elif button == Qt.RightButton:
            self.host.sam_point(x, y, positive=False)

    def drag_start(self, x, y, button, modifiers) -> None:
        self.p0 = (x, y)

    def drag_move(self, x, y) -> None:
        if self.p0 is not None:
            x0, y0 = self.p0
            self.rect.setRect(QRectF(min(x0, x), min(y0, y), abs(x - x0), abs(y - y0)))
            self.rect.show()

    def drag_end(self, x, y) -> None:
        p0, self.p0 = self.p0, None
        self.rect.hide()
        if p0 is not None:
            self.host.sam_box(p0, (x, y))

    def key(self, key) -> bool:
        if key in (Qt.Key_Return, Qt.Key_Enter):
            self.host.sam_accept()
            return True
        if key == Qt.Key_Escape:
            self.host.sam_clear()
            return True
        return False


TOOLS = {cls.name: cls for cls in (SelectTool, PolygonTool, RectangleTool, BrushTool, EraserTool, FillTool, SamTool)}
