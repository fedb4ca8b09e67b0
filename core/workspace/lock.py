"""The workspace writer lock: which window edits a workspace.

A window (or a command that must be alone, such as ``restore``) takes ``W/workspace.lock``: an OS
file lock (``flock`` / ``msvcrt``) held for the whole session, plus a JSON record of the holder
(user, host, pid, app, since). The OS lock disappears with the process, so a crashed holder
never blocks anyone: a record whose lock is free is stale and is simply taken over (and said so
in the log). A second window gets the holder's record back instead of the lock and shows it.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from core.io.filelock import describe_holder, holder_record, read_holder, try_lock_fd, unlock_fd, write_holder

log = logging.getLogger(__name__)
LOCK_NAME = "workspace.lock"


class WorkspaceLock:
    def __init__(self, root: str | Path, app: str = "anomaly-studio"):
        self.path = Path(root) / LOCK_NAME
        self.app = app
        self._fd: int | None = None
        self.took_over: dict | None = None  # the stale record we replaced, if any

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> dict | None:
        """Take the lock. Returns None when we hold it, else the current holder's record."""
        if self._fd is not None:
            return None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only workspace: nobody can write, report it as held by nobody
            log.warning("cannot create %s: %s", self.path, exc)
            return {"user": "nobody", "host": socket.gethostname(), "pid": None, "app": f"read-only folder ({exc.strerror})"}
        if not try_lock_fd(fd):
            os.close(fd)
            return read_holder(self.path) or {}
        previous = read_holder(self.path)
        if previous and previous.get("pid") != os.getpid():
            # a record without the OS lock behind it: its process ended without releasing (crash, kill)
            self.took_over = previous
            log.info("took over the stale workspace lock of %s", describe_holder(previous))
        write_holder(fd, holder_record(self.app))
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.lseek(fd, 0, 0)
            os.ftruncate(fd, 0)  # an empty record: nobody holds it
        except OSError:
            pass
        unlock_fd(fd)

    def holder(self) -> dict | None:
        return read_holder(self.path)

    def __enter__(self) -> WorkspaceLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
