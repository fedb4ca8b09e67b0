"""Open label editors of the session, one per image (or B-scan page / MRI volume), each with its
own undo history and autosave. Kept while the user moves between cases, so going back to an
image keeps its undo steps; clean editors beyond ``keep`` are dropped, dirty ones never."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from app.editing.autosave import AutosaveDriver
from core.labels.save_guard import LabelSaveGuard, VolumeSaveGuard
from core.labels.targets import LabelTarget, open_editor, open_volume_editor


@dataclass
class TargetSession:
    target: LabelTarget
    editor: object  # LabelEditor | VolumeLabelEditor
    saver: AutosaveDriver


class EditorSessions(QObject):
    """``state_changed(key)`` whenever a session's save state changes."""

    state_changed = Signal(str)

    def __init__(self, workspace_provider: Callable[[], object], user: str, io_runner, keep: int = 12, parent: QObject | None = None):
        super().__init__(parent)
        self.workspace_provider = workspace_provider
        self.user = user
        self.io = io_runner
        self.keep = keep
        self.autosave = True  # new editors start with the user's choice (Settings, the panel's toggle)
        self._open: OrderedDict[str, TargetSession] = OrderedDict()

    def get(self, target: LabelTarget, legend: dict[str, int] | None = None) -> TargetSession:
        key = target.key
        if key in self._open:
            self._open.move_to_end(key)
            return self._open[key]
        ws = self.workspace_provider()
        # saves go through a guard: labels another window saved meanwhile are merged, never dropped
        if target.is_volume:
            editor = open_volume_editor(ws, target.image, legend or {})
            guard = VolumeSaveGuard(ws, target.image, *editor.save_payload())
        else:
            editor = open_editor(ws, target)
            guard = LabelSaveGuard(ws, target, editor.save_payload())
        write = lambda payload, g=guard: g.save(payload, user=self.user)  # noqa: E731
        saver = AutosaveDriver(editor, write, self.io, title=target.key, parent=self)
        saver.state_changed.connect(lambda k=key: self.state_changed.emit(k))
        if not self.autosave:
            saver.set_enabled(False)
        session = TargetSession(target, editor, saver)
        self._open[key] = session
        self._prune()
        return session

    def peek(self, key: str) -> TargetSession | None:
        return self._open.get(key)

    def sessions(self) -> list[TargetSession]:
        return list(self._open.values())

    def _prune(self) -> None:
        while len(self._open) > self.keep:
            victim = next((k for k, s in self._open.items() if not s.saver.dirty and s.saver.scheduler.in_flight is None), None)
            if victim is None:
                return
            self._drop(victim)

    def _drop(self, key: str) -> None:
        s = self._open.pop(key)
        s.saver.detach()
        s.saver.deleteLater()

    def dirty(self) -> list[TargetSession]:
        return [s for s in self._open.values() if s.saver.dirty]

    def set_autosave(self, on: bool) -> None:
        self.autosave = bool(on)
        for s in self._open.values():
            s.saver.set_enabled(on)

    def flush_all(self) -> list[str]:
        """Write every dirty editor now; returns the errors of those that could not be saved."""
        errors = []
        for s in list(self._open.values()):
            if not s.saver.flush():
                errors.append(f"{s.target.key}: {s.saver.last_error}")
        return errors

    def close_all(self) -> list[str]:
        errors = self.flush_all()
        for key in list(self._open):
            if not self._open[key].saver.dirty:
                self._drop(key)
        return errors
