"""A small inter-process file lock (fcntl on POSIX, msvcrt on Windows) plus a thread lock."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path


class FileLock:
    """Exclusive lock on ``path`` shared by threads of this process and other processes.

    Re-entrant within one thread. The lock file itself is never deleted (deleting races).
    """

    def __init__(self, path: str | Path, timeout: float = 60.0):
        self.path = Path(path)
        self.timeout = timeout
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
            self._unlock_file(self._fd)
            self._fd = None
        self._thread_lock.release()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _lock_file(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if sys.platform == "win32":  # mypy narrows sys.platform checks, not os.name
                    import msvcrt

                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                else:
                    import fcntl

                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except OSError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise TimeoutError(f"{self.path}: another process holds the lock") from None
                time.sleep(0.02)

    @staticmethod
    def _unlock_file(fd: int) -> None:
        try:
            if sys.platform == "win32":  # mypy narrows sys.platform checks, not os.name
                import msvcrt

                os.lseek(fd, 0, 0)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
