"""Autosave scheduling: every change is on disk, written atomically, within 2 s.

``AutosaveScheduler`` is the Qt-free timing state. Each edit calls ``changed(revision)``; a save
becomes due ``delay`` seconds after the last edit (debounce while the user is drawing) but never
later than ``max_delay`` after the first unsaved edit, so a save starts at most ``max_delay`` (1 s)
after any change and, with an atomic write of tens of milliseconds, finishes well within 2 s.
Only one save runs at a time; a failed save keeps the document dirty, remembers the error for the
user and retries after ``retry`` seconds. A save never marks newer edits clean: it records the
revision it wrote.

``Autosaver`` drives a scheduler synchronously for one editor (``poll()`` from any loop); the GUI
uses the scheduler with a timer and runs the writes on its I/O worker instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

DELAY_S = 0.3
MAX_DELAY_S = 1.0
RETRY_S = 3.0


class Editable(Protocol):
    revision: int

    def subscribe(self, fn: Callable[[str], None]) -> None: ...

    def save_payload(self) -> Any: ...


class AutosaveScheduler:
    def __init__(
        self,
        delay: float = DELAY_S,
        max_delay: float = MAX_DELAY_S,
        retry: float = RETRY_S,
        clock: Callable[[], float] = time.monotonic,
        saved_revision: int = 0,
    ):
        if not 0 <= delay <= max_delay:
            raise ValueError("need 0 <= delay <= max_delay")
        self.delay, self.max_delay, self.retry = delay, max_delay, retry
        self.clock = clock
        self.enabled = True
        self.revision = saved_revision  # newest revision seen
        self.saved_revision = saved_revision  # newest revision known to be on disk
        self.in_flight: int | None = None  # revision being written
        self.last_error: str | None = None
        self.last_saved_at: float | None = None
        self._first_unsaved: float | None = None
        self._last_change: float | None = None
        self._retry_at: float | None = None

    @property
    def dirty(self) -> bool:
        return self.revision != self.saved_revision

    def changed(self, revision: int, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        self.revision = revision
        if self._first_unsaved is None:
            self._first_unsaved = now
        self._last_change = now

    def deadline(self) -> float | None:
        """Clock time at which the next save should start (None: nothing to do or waiting)."""
        if not self.enabled or not self.dirty or self.in_flight is not None:
            return None
        if self._retry_at is not None:
            return self._retry_at
        if self._first_unsaved is None or self._last_change is None:  # dirty without a recorded change time: save now
            return self.clock()
        return min(self._last_change + self.delay, self._first_unsaved + self.max_delay)

    def due(self, now: float | None = None) -> bool:
        d = self.deadline()
        return d is not None and (self.clock() if now is None else now) >= d

    def begin(self) -> int:
        """Mark a save of the current revision as started; returns that revision."""
        self.in_flight = self.revision
        return self.revision

    def done(self, revision: int, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        self.in_flight = None
        self.saved_revision = max(self.saved_revision, revision)
        self.last_error = None
        self.last_saved_at = now
        self._retry_at = None
        if not self.dirty:  # edits that arrived while writing keep their (earlier) clock
            self._first_unsaved = self._last_change = None

    def failed(self, revision: int, error: BaseException | str, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        self.in_flight = None
        self.last_error = str(error)
        self._retry_at = now + self.retry

    def reset(self, revision: int) -> None:
        """A freshly loaded document: everything up to ``revision`` is on disk."""
        self.revision = self.saved_revision = revision
        self.in_flight = None
        self.last_error = None
        self._first_unsaved = self._last_change = self._retry_at = None


class Autosaver:
    """Synchronous autosave of one editor: ``write(payload)`` is called when a save is due."""

    def __init__(
        self,
        editor: Editable,
        write: Callable[[Any], Any],
        scheduler: AutosaveScheduler | None = None,
        on_error: Callable[[str], None] | None = None,
    ):
        self.editor = editor
        self.write = write
        self.scheduler = scheduler or AutosaveScheduler(saved_revision=editor.revision)
        self.on_error = on_error
        editor.subscribe(self._on_change)

    def _on_change(self, _text: str) -> None:
        self.scheduler.changed(self.editor.revision)

    @property
    def dirty(self) -> bool:
        return self.scheduler.dirty

    @property
    def last_error(self) -> str | None:
        return self.scheduler.last_error

    def poll(self, now: float | None = None) -> bool:
        """Save if a save is due. Returns True when something was written."""
        if not self.scheduler.due(now):
            return False
        return self.save_now()

    def save_now(self) -> bool:
        if not self.scheduler.dirty:
            return False
        rev = self.scheduler.begin()
        try:
            self.write(self.editor.save_payload())
        except Exception as exc:  # noqa: BLE001 - any failure (disk full, read-only) is reported, never swallowed
            log.warning("autosave failed: %s", exc)
            self.scheduler.failed(rev, exc)
            if self.on_error is not None:
                self.on_error(str(exc))
            return False
        self.scheduler.done(rev)
        return True
