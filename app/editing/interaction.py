"""Mouse events of a labelling view to its active drawing tool (app.editing.tools)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt


class InteractionItem(pg.GraphicsObject):
    """An invisible item over the image that hands mouse events to the active tool. Drags with
    buttons the tool does not use fall through to the view (pan); the wheel always zooms."""

    def __init__(self, dispatcher):
        super().__init__()
        self.dispatcher = dispatcher  # has .tool (Tool | None) and .bounds() -> QRectF
        self.setAcceptHoverEvents(True)
        self.setZValue(50)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self.dispatcher.bounds()

    def paint(self, painter, option, widget=None) -> None:
        pass

    def _xy(self, pos) -> tuple[float, float]:
        return float(pos.x()), float(pos.y())

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        tool = self.dispatcher.tool
        if tool is None or ev.button() not in (Qt.LeftButton, Qt.RightButton):
            ev.ignore()
            return
        if ev.button() == Qt.RightButton and tool.name != "sam":
            ev.ignore()
            return
        ev.accept()
        tool.click(*self._xy(ev.pos()), ev.button(), ev.modifiers(), double=ev.double())

    def mouseDragEvent(self, ev) -> None:  # noqa: N802
        tool = self.dispatcher.tool
        if tool is None or not tool.wants_drag(ev.button()):
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            tool.drag_start(*self._xy(ev.buttonDownPos()), ev.button(), ev.modifiers())
            tool.drag_move(*self._xy(ev.pos()))
        elif ev.isFinish():
            tool.drag_end(*self._xy(ev.pos()))
        else:
            tool.drag_move(*self._xy(ev.pos()))

    def hoverEvent(self, ev) -> None:  # noqa: N802
        tool = self.dispatcher.tool
        if tool is None:
            return
        if ev.isExit():
            tool.hover(None, None)
        else:
            tool.hover(*self._xy(ev.pos()))
