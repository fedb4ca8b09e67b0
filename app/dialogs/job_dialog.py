"""A dialog that runs one engine job (import, label export) on the window's I/O pool with a
determinate progress bar, an ETA, a Stop button and a plain report at the end. The event loop
never waits for the job: progress arrives as a queued signal from the worker thread."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget

from core.errors import CancelledError
from core.runtime.progress import CancelToken


class _Progress(QObject):
    """Thread-safe progress: called on the worker thread, delivered on the GUI thread."""

    progressed = Signal(int, int, str)

    def __init__(self, cancel: CancelToken, parent=None):
        super().__init__(parent)
        self.cancel = cancel

    def __call__(self, done: int, total: int, message: str) -> None:
        self.cancel.raise_if_cancelled()  # the engine calls progress between cases: a clean stop
        self.progressed.emit(int(done), int(total), str(message))


def eta_text(done: int, total: int, elapsed: float) -> str:
    if done <= 0 or total <= 0 or done >= total or elapsed < 1.0:
        return ""
    left = elapsed / done * (total - done)
    return f" · about {left:.0f} s left" if left < 90 else f" · about {left / 60:.0f} min left"


class JobDialog(QDialog):
    """Subclasses lay out their options in ``self.options`` and implement ``job()`` (returns a
    callable run on the I/O pool, given a progress callback) and ``report(result)`` (text)."""

    finished_job = Signal(object)  # the result, after the report is shown

    def __init__(self, window, title: str, start_text: str, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.window_ = window
        self.setWindowTitle(title)
        self.options = QVBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.result_box = QPlainTextEdit()
        self.result_box.setReadOnly(True)
        self.result_box.setMaximumHeight(160)
        self.result_box.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.start = QPushButton(start_text)
        self.start.setDefault(True)
        self.buttons.addButton(self.start, QDialogButtonBox.ActionRole)
        self.stop = QPushButton("Stop")
        self.stop.setToolTip("Stop after the current case (what is done stays done)")
        self.stop.setEnabled(False)
        self.buttons.addButton(self.stop, QDialogButtonBox.ActionRole)
        self.start.clicked.connect(self.run)
        self.stop.clicked.connect(self.request_stop)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.options)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.result_box)
        layout.addWidget(self.buttons)
        self.running = False
        self.result = None
        self._cancel = CancelToken()
        self._t0 = 0.0

    # -- subclass hooks ---------------------------------------------------------------------------
    def job(self):  # pragma: no cover - abstract
        raise RuntimeError("subclasses return the job to run")

    def report(self, result) -> str:  # pragma: no cover - abstract
        raise RuntimeError("subclasses describe the result")

    # -- running ------------------------------------------------------------------------------------
    def run(self) -> bool:
        if self.running:
            return False
        try:
            work = self.job()
        except ValueError as exc:  # the options are incomplete: say so beside the button
            self.status.setText(str(exc))
            return False
        self._cancel = CancelToken()
        bridge = _Progress(self._cancel, self)
        bridge.progressed.connect(self._on_progress, Qt.QueuedConnection)
        self.running = True
        self._t0 = time.monotonic()
        self.start.setEnabled(False)
        self.stop.setEnabled(True)
        self.progress.setRange(0, 0)  # busy until the engine says how many steps
        self.status.setText("Starting…")
        self.result_box.hide()
        self.window_.io.submit(work, bridge, on_done=self._on_done, on_error=self._on_error)
        return True

    def request_stop(self) -> None:
        self._cancel.cancel()
        self.stop.setEnabled(False)
        self.status.setText("Stopping after the current case…")

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if not self.running:
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.status.setText(f"{done}/{total} · {message}{eta_text(done, total, time.monotonic() - self._t0)}")

    def _finish(self) -> None:
        self.running = False
        self.start.setEnabled(True)
        self.stop.setEnabled(False)

    def _on_done(self, result) -> None:
        self._finish()
        self.result = result
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        text = self.report(result)
        self.status.setText(text.splitlines()[0] if text else "Done")
        self.result_box.setPlainText(text)
        self.result_box.show()
        self.finished_job.emit(result)

    def _on_error(self, exc: BaseException) -> None:
        self._finish()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        if isinstance(exc, CancelledError):
            self.status.setText("Stopped. What was done before the stop is kept.")
            self.finished_job.emit(None)
        else:
            self.status.setText(f"Failed: {exc}")

    def reject(self) -> None:
        if self.running:
            self.request_stop()  # the job stops at its next step; the dialog stays until it has
            return
        super().reject()
