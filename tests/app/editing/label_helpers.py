"""Real mouse input for pyqtgraph views: map image/view coordinates to the viewport and send
press / move / release events as a user would."""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def viewport_pos(panel, x: float, y: float):
    return panel.graphics.mapFromScene(panel.view.mapViewToScene(QPointF(x, y)))


def image_pos(panel, x: float, y: float) -> tuple[float, float]:
    """Where a click aimed at image point (x, y) really lands (after rounding to a screen pixel)."""
    p = panel.view.mapSceneToView(panel.graphics.mapToScene(viewport_pos(panel, x, y)))
    return p.x(), p.y()


def _send(vp, kind, pos, button, buttons, modifiers=Qt.NoModifier):
    ev = QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, buttons, modifiers)
    QApplication.sendEvent(vp, ev)
    QApplication.processEvents()


def click(panel, x, y, button=Qt.LeftButton, modifiers=Qt.NoModifier, double=False):
    vp = panel.graphics.viewport()
    p = viewport_pos(panel, x, y)
    _send(vp, QEvent.MouseButtonPress, p, button, button, modifiers)
    _send(vp, QEvent.MouseButtonRelease, p, button, Qt.NoButton, modifiers)
    if double:
        _send(vp, QEvent.MouseButtonDblClick, p, button, button, modifiers)
        _send(vp, QEvent.MouseButtonRelease, p, button, Qt.NoButton, modifiers)


def drag(panel, points, button=Qt.LeftButton, modifiers=Qt.NoModifier):
    vp = panel.graphics.viewport()
    pts = [viewport_pos(panel, x, y) for x, y in points]
    _send(vp, QEvent.MouseButtonPress, pts[0], button, button, modifiers)
    for p in pts[1:]:
        # pyqtgraph drops moves closer than 1/mouseRateLimit s apart (100/s by default), as a
        # real mouse never sends them faster: pace them like a hand would
        time.sleep(0.012)
        _send(vp, QEvent.MouseMove, p, Qt.NoButton, button, modifiers)
    _send(vp, QEvent.MouseButtonRelease, pts[-1], button, Qt.NoButton, modifiers)
