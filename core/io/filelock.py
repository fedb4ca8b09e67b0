"""A small inter-process file lock (fcntl on POSIX, msvcrt on Windows) plus a thread lock.

The lock file records its holder (user, host, pid, since) so a process that has to wait can say
who it waits for. A waiter reports once through :func:`report_waiting` (the command line prints
that line on stderr) and gives up after ``timeout`` seconds with a :class:`LockBusyError` that
names the holder, never a bare ``TimeoutError``.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core.errors import LockBusyError

log = logging.getLogger(__name__)
ENV_LOCK_WAIT = "ANOMALY_STUDIO_LOCK_WAIT_S"
DEFAULT_WAIT_S = 60.0
NOTICE_AFTER_S = 1.0

_reporter: Callable[[str], None] | None = None


def set_wait_reporter(fn: Callable[[str], None] | None) -> None:
    """Where 'waiting for ...' messages go (the CLI: stderr; the GUI: the status bar)."""
    global _reporter
    _reporter = fn


def report_waiting(message: str) -> None:
    log.warning("%s", message)
    if _reporter is not None:
        try:
            _reporter(message)
        except Exception:  # noqa: BLE001 - a broken reporter (closed stderr) must not break the wait
            pass


def lock_wait_s(default: float = DEFAULT_WAIT_S) -> float:
    """How long to wait for a busy lock or database (``ANOMALY_STUDIO_LOCK_WAIT_S``)."""
    try:
        value = float(os.environ.get(ENV_LOCK_WAIT, ""))
    except ValueError:
        return default
    return value if value >= 0 else default


def _user() -> str:
    try:
        return os.environ.get("ANOMALY_STUDIO_USER") or getpass.getuser() or "user"
    except Exception:  # noqa: BLE001 - getpass fails without a login name (containers)
        return os.environ.get("USER") or os.environ.get("USERNAME") or "user"


def holder_record(app: str = "") -> dict:
    user = _user()
    return {"user": user, "host": socket.gethostname(), "pid": os.getpid(), "app": app, "since": time.time()}


def describe_holder(info: dict | None) -> str:
    """'alice on host-1 (pid 4242, anomaly-studio predict) since 14:02:11' or a fallback."""
    if not info:
        return "another program (it did not record its name)"
    since = info.get("since")
    when = time.strftime("%H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else "?"
    app = f", {info['app']}" if info.get("app") else ""
    return f"{info.get('user', '?')} on {info.get('host', '?')} (pid {info.get('pid', '?')}{app}) since {when}"


def read_holder(path: str | Path) -> dict | None:
    try:
        text = Path(path).read_text(encoding="utf-8")
        info = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def try_lock_fd(fd: int) -> bool:
    try:
        if sys.platform == "win32":  # mypy narrows sys.platform checks, not os.name
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def unlock_fd(fd: int) -> None:
    try:
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, 0, 0)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def write_holder(fd: int, info: dict) -> None:
    """Record the holder in the (locked) lock file; best effort (a full disk must not fail the lock)."""
    try:
        data = json.dumps(info).encode()
        os.lseek(fd, 0, 0)
        os.ftruncate(fd, 0)
        os.write(fd, data)
    except OSError:
        pass


class FileLock:
    """Exclusive lock on ``path`` shared by threads of this process and other processes.

    Re-entrant within one thread. The lock file itself is never deleted (deleting races).
    ``timeout=None`` waits as long as ``ANOMALY_STUDIO_LOCK_WAIT_S`` says (default 60 s).
    """

    def __init__(self, path: str | Path, timeout: float | None = None, what: str = "lock", app: str = ""):
        self.path = Path(path)
        self.timeout = timeout
        self.what = what
        self.app = app
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def acquire(self) -> None:
        self._thread_lock.acquire()
        if self._depth == 0:
            try:
                self._fd = self._lock_file()
            except BaseException:
                self._thread_lock.release()
                raise
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            unlock_fd(self._fd)
            self._fd = None
        self._thread_lock.release()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def holder(self) -> dict | None:
        return read_holder(self.path)

    def _lock_file(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        timeout = lock_wait_s() if self.timeout is None else self.timeout
        start = time.monotonic()
        noticed = False
        while True:
            if try_lock_fd(fd):
                write_holder(fd, holder_record(self.app))
                return fd
            waited = time.monotonic() - start
            if waited > timeout:
                os.close(fd)
                raise LockBusyError(
                    f"{self.path}: the {self.what} is held by {describe_holder(self.holder())}; gave up after {waited:.0f} s "
                    f"(wait longer with {ENV_LOCK_WAIT}=SECONDS)"
                ) from None
            if not noticed and waited >= min(NOTICE_AFTER_S, timeout):
                noticed = True
                report_waiting(f"waiting for the {self.what} ({self.path.name}), held by {describe_holder(self.holder())}…")
            time.sleep(0.02)
