"""Label mode of the main window: a Review | Label switch, the 2-D and MRI labelling views in the
window's viewer stack, and saving on close (a failed save is never closed over silently). The
review shortcuts in ``REVIEW_KEYS_TAKEN_BY_LABELLING`` step aside while labelling (app.menus)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QMessageBox, QPushButton, QStackedWidget, QWidget

from app.editing.label_view import LabelView
from app.editing.sessions import EditorSessions
from app.editing.volume_label_view import VolumeLabelView
from core.domain import CaseKind, LoadedCase

REVIEW_KEYS_TAKEN_BY_LABELLING = {"normal", "abnormal", "approve", "flag", "overlays", "reset_view"}


class ModeSwitch(QWidget):
    changed = Signal(bool)  # True: label mode

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("modeswitch")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 2, 8, 2)
        row.setSpacing(0)
        self.review = QPushButton("Review")
        self.label = QPushButton("Label")
        self.group = QButtonGroup(self)
        for i, b in enumerate((self.review, self.label)):
            b.setCheckable(True)
            b.setFocusPolicy(Qt.NoFocus)
            b.setObjectName("modeleft" if i == 0 else "moderight")
            self.group.addButton(b)
            row.addWidget(b)
        self.review.setChecked(True)
        self.review.setToolTip("Review cases: scores, heatmaps, decisions (Ctrl+L toggles)")
        self.label.setToolTip("Label symptoms: polygons, brush, eraser, SAM (Ctrl+L toggles)")
        self.label.toggled.connect(self.changed)
        self.setStyleSheet("""
            QPushButton#modeleft, QPushButton#moderight { padding: 3px 14px; border: 1px solid #343840; background: #23262b; }
            QPushButton#modeleft { border-top-right-radius: 0; border-bottom-right-radius: 0; }
            QPushButton#moderight { border-top-left-radius: 0; border-bottom-left-radius: 0; border-left: none; }
            QPushButton#modeleft:checked, QPushButton#moderight:checked { background: #3d8bfd; color: white; }
        """)

    def set_label_mode(self, on: bool) -> None:
        (self.label if on else self.review).setChecked(True)


class LabelMode(QObject):
    """Label mode of the window. It owns the labelling views (added to ``viewers``), the Review |
    Label switch and its actions; ``active_changed`` tells the window to make room and show the
    current case again, ``message(text, ms)`` goes to the status bar."""

    active_changed = Signal(bool)
    message = Signal(str, int)

    def __init__(self, session, io, gpu, viewers: QStackedWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.viewers = viewers
        self.active = False
        ws = lambda: session.workspace  # noqa: E731
        self.sessions = EditorSessions(ws, session.user, io, parent=self)
        self.view2d = LabelView(self.sessions, gpu, ws)
        self.view3d = VolumeLabelView(self.sessions, gpu, ws)
        for v in (self.view2d, self.view3d):
            v.setMinimumWidth(480)  # hidden pages must not widen the review layout (QStackedWidget)
            viewers.addWidget(v)
            v.status.connect(self._relay)
        self._last_message = ""
        session.events.current_case.connect(self._on_case_changed)
        self.switch = ModeSwitch()
        self.switch.changed.connect(self.set_active)
        self.action = QAction("&Label mode", self, checkable=True, shortcut=QKeySequence("Ctrl+L"))
        self.action.toggled.connect(self.set_active)
        self.save_action = QAction("&Save labels now", self, shortcut=QKeySequence("Ctrl+Shift+S"), triggered=self.save_all)

    def _relay(self, text: str) -> None:
        self._last_message = text
        self.message.emit(text, 8000)

    def _on_case_changed(self, _case_id) -> None:
        """Messages about the previous case's labels ("Undid SAM mask") end with that case: the
        views' own lines are cleared and the status bar too while it still shows one of them."""
        for v in (self.view2d, self.view3d):
            v.message.setText("")
        window = self.viewers.window()
        bar = window.statusBar() if hasattr(window, "statusBar") else None
        if self._last_message and bar is not None and bar.currentMessage() == self._last_message:
            bar.clearMessage()
        self._last_message = ""

    def set_active(self, on: bool) -> None:
        on = bool(on)
        if on == self.active:
            return
        self.active = on
        self.switch.blockSignals(True)
        self.action.blockSignals(True)
        self.switch.set_label_mode(on)
        self.action.setChecked(on)
        self.switch.blockSignals(False)
        self.action.blockSignals(False)
        if not on:
            self.save_all()
        self.active_changed.emit(on)

    def show_case(self, case: LoadedCase) -> bool:
        """Show ``case`` in the labelling view when label mode is on; False leaves it to review."""
        if not self.active:
            return False
        if case.record.kind == CaseKind.MRI:
            self.view3d.open_case(case)
            self.viewers.setCurrentWidget(self.view3d)
        else:
            self.view2d.open_case(case)
            self.viewers.setCurrentWidget(self.view2d)
        return True

    def save_all(self) -> list[str]:
        errors = self.sessions.flush_all()
        if errors:
            self.message.emit("Labels NOT saved: " + "; ".join(errors), 15000)
        return errors

    def confirm_close(self) -> bool:
        """Write every open label; if that fails, ask before closing (never lose work silently)."""
        errors = self.sessions.close_all()
        if not errors:
            return True
        answer = QMessageBox.warning(
            self.viewers.window(),
            "Labels could not be saved",
            "These labels could not be written:\n\n"
            + "\n".join(errors)
            + "\n\nFree disk space or fix the folder permissions, then close again.\nClose anyway and lose these changes?",
            QMessageBox.Close | QMessageBox.Cancel,
            QMessageBox.Cancel,
        )
        return answer == QMessageBox.Close
