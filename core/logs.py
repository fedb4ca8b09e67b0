"""Logging to a rotating file in the application-data folder (never inside the bundle)."""

from __future__ import annotations

import logging
import logging.handlers

from core.settings import app_data_dir

_configured = False


def log_dir():
    d = app_data_dir() / "logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def setup_logging(level: int = logging.INFO, max_bytes: int = 2_000_000, backups: int = 5) -> None:
    """Once per process: INFO and up to ``<app data>/logs/anomaly-studio.log``, rotated at
    ``max_bytes`` keeping ``backups`` old files (``.1`` .. ``.5``)."""
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger()
    root.setLevel(level)
    try:
        handler = logging.handlers.RotatingFileHandler(log_dir() / "anomaly-studio.log", maxBytes=max_bytes,
                                                       backupCount=backups, encoding="utf-8")
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    root.addHandler(handler)
