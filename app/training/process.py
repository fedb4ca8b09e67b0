"""A training run in its own process (``anomaly-studio train``), read through its JSON-lines stdout.

The GUI never trains in-process: a crash or an out-of-memory kill of the trainer ends that process
only, and the workspace stays consistent because the trainer writes checkpoints, run.json and the
new model version atomically. Cancel writes the run folder's CANCEL file (the trainer stops at the
next step, keeping its last epoch checkpoint, so the run can resume); if the process has not ended
after a grace period it is killed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from core.models.retraining import CANCEL_FILE

log = logging.getLogger(__name__)


class TrainingProcess(QObject):
    event = Signal(dict)  # one parsed JSON line of the trainer
    log_line = Signal(str)  # anything else it printed (stderr, warnings)
    finished = Signal(str, int)  # status: done | cancelled | failed | killed | crashed; exit code

    def __init__(self, parent: QObject | None = None, grace_s: float = 20.0):
        super().__init__(parent)
        self.grace_s = grace_s
        self.proc: QProcess | None = None
        self.run_dir: Path | None = None
        self.status = "idle"
        self._buffer = {"out": b"", "err": b""}
        self._cancel_requested = False
        self._killed = False
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill_after_grace)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.state() != QProcess.NotRunning

    def start(self, argv: list[str], run_dir: Path, cwd: Path | None = None) -> None:
        if self.running:
            raise RuntimeError("a training run is already going")
        self.run_dir = Path(run_dir)
        self._buffer = {"out": b"", "err": b""}
        self._cancel_requested = self._killed = False
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("NO_ALBUMENTATIONS_UPDATE", "1")
        proc.setProcessEnvironment(env)
        if cwd is not None:
            proc.setWorkingDirectory(str(cwd))
        proc.readyReadStandardOutput.connect(lambda: self._read("out"))
        proc.readyReadStandardError.connect(lambda: self._read("err"))
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self.proc = proc
        self.status = "running"
        log.info("training: %s", " ".join(argv))
        proc.start(argv[0], argv[1:])

    def cancel(self) -> None:
        """Ask the trainer to stop at its next step; kill it if it has not stopped after the grace period."""
        if not self.running or self._cancel_requested:
            return
        self._cancel_requested = True
        try:
            (self.run_dir / CANCEL_FILE).write_text("cancel requested from the GUI\n", encoding="utf-8")
        except OSError as exc:
            self.log_line.emit(f"cannot write the cancel request ({exc}); stopping the process")
            self.proc.terminate()
        self._kill_timer.start(int(self.grace_s * 1000))

    def kill(self) -> None:
        if self.running:
            self._killed = True
            self.proc.kill()

    def wait(self, ms: int = 5000) -> bool:
        return self.proc is None or self.proc.waitForFinished(ms)

    # -- internals ---------------------------------------------------------------------------
    def _kill_after_grace(self) -> None:
        if self.running:
            self.log_line.emit(f"the trainer did not stop within {self.grace_s:.0f} s: killing it")
            self.kill()

    def _read(self, which: str) -> None:
        if self.proc is None:
            return
        data = bytes(self.proc.readAllStandardOutput() if which == "out" else self.proc.readAllStandardError())
        self._buffer[which] += data
        *lines, self._buffer[which] = self._buffer[which].split(b"\n")
        for raw in lines:
            self._line(raw.decode("utf-8", "replace").rstrip("\r"), which)

    def _line(self, text: str, which: str) -> None:
        if not text.strip():
            return
        if which == "out" and text.lstrip().startswith("{"):
            try:
                payload = json.loads(text)
            except ValueError:
                payload = None
            if isinstance(payload, dict):
                self.event.emit(payload)
                return
        self.log_line.emit(text)

    def _on_error(self, error) -> None:
        if error == QProcess.FailedToStart:
            self.status = "failed"
            self.log_line.emit(f"the training process could not start: {self.proc.errorString()}")
            self.finished.emit("failed", -1)

    def _on_finished(self, code: int, exit_status) -> None:
        self._kill_timer.stop()
        for which in ("out", "err"):
            rest = self._buffer[which]
            self._buffer[which] = b""
            if rest:
                self._line(rest.decode("utf-8", "replace"), which)
        if self._killed:
            status = "killed"
        elif exit_status == QProcess.CrashExit:
            status = "crashed"
        elif code == 0:
            status = "done"
        elif code == 3 or (self._cancel_requested and code in (130, 2)):
            status = "cancelled"
        else:
            status = "failed"
        self.status = status
        self.finished.emit(status, int(code))
