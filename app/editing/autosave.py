"""Autosave in the GUI: the Qt-free scheduler (core.labels.autosave) armed by a timer, the write
itself on the I/O worker, results applied back on the GUI thread.

A failed write (disk full, read-only folder) keeps the document dirty, is reported through
``state_changed`` (the label view shows a red banner) and is retried; nothing is ever marked
saved unless the atomic write of that revision returned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from core.labels.autosave import AutosaveScheduler

log = logging.getLogger(__name__)


class AutosaveDriver(QObject):
    state_changed = Signal()

    def __init__(self, source, write: Callable[[Any], Any], runner, title: str = "", parent: QObject | None = None):
        super().__init__(parent)
        self.source = source
        self.write = write
        self.runner = runner
        self.title = title
        self.scheduler = AutosaveScheduler(saved_revision=source.revision)
        self._future: Future | None = None
        self._token = 0  # callbacks of a save superseded by flush() are ignored
        self.note = ""  # what the last save had to do besides writing (a merge with another window's labels)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._tick)
        source.subscribe(self._on_change)

    # -- state -------------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self.scheduler.dirty

    @property
    def last_error(self) -> str | None:
        return self.scheduler.last_error

    @property
    def enabled(self) -> bool:
        return self.scheduler.enabled

    def set_enabled(self, on: bool) -> None:
        self.scheduler.enabled = bool(on)
        self._arm()
        self.state_changed.emit()

    def describe(self) -> tuple[str, str]:
        """(text, level) for the status line: level is 'ok', 'pending' or 'error'."""
        s = self.scheduler
        if s.last_error:
            return f"Save failed: {s.last_error} — changes are NOT saved (retrying)", "error"
        if s.in_flight is not None:
            return "Saving…", "pending"
        if s.dirty:
            return ("Unsaved changes" + ("" if s.enabled else " (autosave off: Ctrl+S)")), "pending"
        if s.last_saved_at is not None:
            ago = time.monotonic() - s.last_saved_at
            if self.note:
                return f"All changes saved, {self.note}", "pending"
            return (f"All changes saved{'' if ago < 1 else f' ({ago:.0f} s ago)'}"), "ok"
        return "No changes", "ok"

    # -- scheduling --------------------------------------------------------------------------------
    def _on_change(self, _text: str) -> None:
        self.scheduler.changed(self.source.revision)
        self._arm()
        self.state_changed.emit()

    def _arm(self) -> None:
        d = self.scheduler.deadline()
        if d is None:
            self.timer.stop()
            return
        self.timer.start(max(0, int((d - self.scheduler.clock()) * 1000)))

    def _tick(self) -> None:
        if not self.scheduler.due():
            self._arm()
            return
        self._start_save()

    def _start_save(self) -> None:
        rev = self.scheduler.begin()
        payload = self.source.save_payload()
        self._token += 1
        tok = self._token
        self.state_changed.emit()
        self._future = self.runner.submit(
            self.write, payload, on_done=lambda r: self._done(rev, tok, r), on_error=lambda e: self._failed(rev, e, tok)
        )

    def _done(self, rev: int, tok: int, result=None) -> None:
        if tok != self._token:
            return
        self.note = getattr(result, "note", "") or ""
        self.scheduler.done(rev)
        self._future = None
        self._arm()
        self.state_changed.emit()

    def _failed(self, rev: int, exc: BaseException, tok: int) -> None:
        if tok != self._token:
            return
        log.warning("saving %s failed: %s", self.title, exc)
        self.scheduler.failed(rev, exc)
        self._future = None
        self._arm()
        self.state_changed.emit()

    def save_now(self) -> None:
        """Start a save at once (Ctrl+S), even with autosave off."""
        if self.scheduler.in_flight is None and self.scheduler.dirty:
            self._start_save()

    def flush(self, timeout: float = 10.0) -> bool:
        """Write everything now, on this thread (closing, switching workspace). True when clean.

        A save still running on the worker is waited for and then superseded: its callback is
        ignored and the current revision is written again here (an atomic replace, so harmless)."""
        self.timer.stop()
        if self._future is not None:
            try:
                self._future.result(timeout=timeout)
            except Exception:  # noqa: BLE001 - a timeout: the synchronous write below still runs
                pass
            self._future = None
            self._token += 1
            self.scheduler.in_flight = None
        if self.scheduler.dirty or self.scheduler.last_error:
            rev = self.scheduler.begin()
            try:
                result = self.write(self.source.save_payload())
            except Exception as exc:  # noqa: BLE001 - reported, never swallowed
                self.scheduler.failed(rev, exc)
                self.state_changed.emit()
                return False
            self.note = getattr(result, "note", "") or ""
            self.scheduler.done(rev)
        self.state_changed.emit()
        return not self.scheduler.dirty

    def detach(self) -> None:
        self.timer.stop()
        self.source.unsubscribe(self._on_change)
