"""Logging to a rotating file in the application-data folder (never inside the bundle).

A hard crash (a segfault, ``Fatal Python error`` from a C extension) leaves no Python traceback
behind; ``faulthandler`` writes the stacks of every thread into the same log file, and is pointed
at the new file each time the log rotates.
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import sys

from core.settings import app_data_dir

_configured = False
LOG_NAME = "anomaly-studio.log"


def log_dir():
    d = app_data_dir() / "logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def log_file():
    return log_dir() / LOG_NAME


class _FaultLoggingHandler(logging.handlers.RotatingFileHandler):
    """Rotating log file whose open stream also receives ``faulthandler``'s crash reports."""

    def _enable_faulthandler(self) -> None:
        if self.stream is None:
            self.stream = self._open()
        try:
            faulthandler.enable(file=self.stream, all_threads=True)
        except (ValueError, OSError, AttributeError):  # a stream without a file descriptor
            pass

    def doRollover(self) -> None:  # noqa: N802 - logging API
        super().doRollover()
        self._enable_faulthandler()

    def close(self) -> None:
        """Hand crash reports back to stderr before the file closes (never to a reused descriptor)."""
        try:
            if sys.__stderr__ is None:  # pythonw: no console
                faulthandler.disable()
            else:
                faulthandler.enable(file=sys.__stderr__, all_threads=True)
        except (ValueError, OSError, AttributeError):
            faulthandler.disable()
        super().close()


def setup_logging(level: int = logging.INFO, max_bytes: int = 2_000_000, backups: int = 5) -> None:
    """Once per process: INFO and up to ``<app data>/logs/anomaly-studio.log``, rotated at
    ``max_bytes`` keeping ``backups`` old files (``.1`` .. ``.5``); ``faulthandler`` writes a hard
    crash's thread stacks into that file."""
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger()
    root.setLevel(level)
    try:
        handler = _FaultLoggingHandler(log_file(), maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    root.addHandler(handler)
    handler._enable_faulthandler()
