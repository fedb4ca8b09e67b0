"""Is anything in a window cut off? Checks used by the laptop-screen tests (in the test process
at 100 % and in a child process at 150 %, where QT_SCALE_FACTOR must be set before Qt starts).

A widget counts as clipped when a user cannot see all of it: it lies (partly) outside the window,
or outside a scroll area's viewport in a direction that area cannot scroll; a button or combo box
narrower than its minimum size hint (its text is cut); a one-line plain label narrower than its
text, unless it elides and shows the whole text as a tooltip; a worklist cell whose text is wider
than its column without a tooltip that has the whole text."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QSlider,
    QTableView,
    QWidget,
)

CHECKED = (QAbstractButton, QComboBox, QLabel, QLineEdit, QAbstractSpinBox, QSlider)


def _name(w: QWidget) -> str:
    text = w.text() if hasattr(w, "text") and callable(w.text) else ""
    return f"{type(w).__name__}({w.objectName() or ''}{' ' + repr(text[:40]) if text else ''})"


def _rect_in(w: QWidget, ancestor: QWidget) -> QRect:
    return QRect(w.mapTo(ancestor, QPoint(0, 0)), w.size())


def _scroll_area_of(w: QWidget) -> QAbstractScrollArea | None:
    p = w.parentWidget()
    while p is not None:
        area = p.parentWidget()
        if isinstance(area, QAbstractScrollArea) and area.viewport() is p:
            return area
        p = p.parentWidget()
    return None


def clipped_widgets(window: QWidget) -> list[str]:
    problems: list[str] = []
    win = window.rect()
    for w in window.findChildren(QWidget):
        if not isinstance(w, CHECKED) or not w.isVisible() or w.window() is not window:
            continue
        if isinstance(w, QLabel) and not (w.text() or w.pixmap() is not None and not w.pixmap().isNull()):
            continue
        area = _scroll_area_of(w)
        if area is None:
            r = _rect_in(w, window)
            if not win.contains(r):
                problems.append(f"{_name(w)} at {r.getRect()} outside the window {win.getRect()}")
        else:
            view = area.viewport()
            r = _rect_in(w, view)
            vr = view.rect()
            horizontal_ok = (r.left() >= vr.left() and r.right() <= vr.right()) or area.horizontalScrollBar().isVisible()
            vertical_ok = (r.top() >= vr.top() and r.bottom() <= vr.bottom()) or area.verticalScrollBar().isVisible()
            if not (horizontal_ok and vertical_ok):
                problems.append(f"{_name(w)} at {r.getRect()} cut by a scroll area that cannot scroll to it ({vr.getRect()})")
            ar = _rect_in(area, window)
            if not win.contains(ar):
                problems.append(f"scroll area of {_name(w)} at {ar.getRect()} outside the window")
        if isinstance(w, (QAbstractButton, QComboBox)) and w.width() + 1 < w.minimumSizeHint().width():
            problems.append(f"{_name(w)} is {w.width()} px wide, its text needs {w.minimumSizeHint().width()}")
        if isinstance(w, QLabel) and not w.wordWrap() and w.textFormat() != Qt.RichText and w.text() and "<" not in w.text():
            full = getattr(w, "full_text", w.text)()
            need = QFontMetrics(w.font()).horizontalAdvance(full)
            if need > w.contentsRect().width() + 1 and full not in (w.toolTip() or ""):
                problems.append(f"{_name(w)} shows {w.contentsRect().width()} px of a {need} px text without a tooltip")
    for table in window.findChildren(QTableView):
        if table.isVisible():
            problems += clipped_cells(table)
    return problems


def clipped_cells(table: QTableView) -> list[str]:
    model, fm, out = table.model(), QFontMetrics(table.font()), []
    for row in range(model.rowCount()):
        for col in range(model.columnCount()):
            if table.isColumnHidden(col):
                continue
            index = model.index(row, col)
            text = model.data(index, Qt.DisplayRole)
            if not text:
                continue
            room = table.columnWidth(col) - 8
            if fm.horizontalAdvance(str(text)) > room and str(text) not in str(model.data(index, Qt.ToolTipRole) or ""):
                out.append(f"cell ({row}, {col}) {text!r} needs {fm.horizontalAdvance(str(text))} px, has {room}, no tooltip")
    return out


def reachable(window: QWidget, button: QWidget) -> bool:
    """Scroll ``button`` into view if it lies in a scroll area; then is it inside the window?"""
    area = _scroll_area_of(button)
    if area is not None and hasattr(area, "ensureWidgetVisible"):
        area.ensureWidgetVisible(button)
    return button.isVisible() and window.rect().contains(_rect_in(button, window))
