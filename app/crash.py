"""What the GUI process does with an error nobody caught.

* An exception raised in a slot or a timer callback on the GUI thread (Qt calls ``sys.excepthook``
  and carries on): logged with its traceback and shown in a plain, non-modal dialog. Nothing is
  closed, so unsaved labels stay open and are saved by autosave as usual.
* An exception that escapes a plain worker thread (``threading.excepthook``): logged, and the dialog
  is shown on the GUI thread.
* A hard crash (``Fatal Python error``, a segfault in a C extension) cannot be caught: the log file
  receives every thread's stack from ``faulthandler`` (core.logs).
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

log = logging.getLogger("anomaly_studio.crash")


class ErrorReporter(QObject):
    """Installed once per GUI process; ``uninstall`` restores the previous hooks (tests)."""

    _show = Signal(str, str)  # summary, details: queued to the GUI thread

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.count = 0
        self.dialog: QMessageBox | None = None
        self._previous = (sys.excepthook, threading.excepthook)
        self._show.connect(self._present, Qt.QueuedConnection)

    def install(self) -> ErrorReporter:
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook
        return self

    def uninstall(self) -> None:
        sys.excepthook, threading.excepthook = self._previous

    # -- hooks (any thread) ------------------------------------------------------------------
    def _excepthook(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous[0](exc_type, exc, tb)
            return
        self.report(exc_type, exc, tb, where="the window")

    def _thread_excepthook(self, args) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "a worker thread"
        self.report(args.exc_type, args.exc_value, args.exc_traceback, where=f"background thread {name}")

    def report(self, exc_type, exc, tb, where: str) -> None:
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unhandled error in %s:\n%s", where, details)
        self._show.emit(f"{exc_type.__name__}: {exc}", details)

    # -- GUI thread ----------------------------------------------------------------------------
    def _present(self, summary: str, details: str) -> None:
        self.count += 1
        from core.logs import log_file

        text = (
            f"Something went wrong in Anomaly Studio:\n\n{summary}\n\nYour work is still open and nothing was "
            f"closed. Labels are saved as usual. Details are in the log file:\n{log_file()}"
        )
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.setText(text + f"\n\n({self.count} errors so far in this session)")
            self.dialog.setDetailedText(details)
            return
        parent = QApplication.activeWindow()
        box = QMessageBox(QMessageBox.Warning, "Unexpected error", text, QMessageBox.Ok, parent)
        box.setDetailedText(details)
        box.setWindowModality(Qt.NonModal)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.destroyed.connect(self._forget_dialog)
        self.dialog = box
        box.show()

    def _forget_dialog(self, *_args) -> None:
        self.dialog = None


def install_error_reporter(app: QApplication) -> ErrorReporter:
    """One reporter per application (parented to it, so it lives as long as the window)."""
    existing = app.findChild(ErrorReporter)
    if existing is not None:
        return existing
    return ErrorReporter(app).install()
