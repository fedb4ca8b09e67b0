"""The Retrain dialog: choose a method, see the training data it would use (reviewed normals,
corrected pixel labels, MRI slice labels), set hyper-parameters (the paper defaults) and the
device, see a time estimate, run ``anomaly-studio train`` in its own process with live progress,
cancel / resume, then compare the new version with the active one on the reviewed cases and
activate it (or roll back). Nothing retrains by itself: this dialog is the only way in from the GUI.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.state.runs import format_seconds
from app.training.comparison import ComparisonTable
from app.training.process import TrainingProcess
from app.training.progress_view import TrainingProgress
from app.training.settings_table import SettingsTable
from app.workers.pool import TaskRunner
from core.errors import ConfigError, StudioError
from core.models import retraining, store
from core.models.base import new_version_id
from core.models.registry import METHODS, model_class
from core.runtime.progress import CancelToken

log = logging.getLogger(__name__)
DEVICES = (("Auto", "auto"), ("CPU", "cpu"), ("CUDA GPU", "cuda"))


class RetrainDialog(QDialog):
    models_changed = Signal(str)  # method name whose active version changed
    _compare_progress = Signal(int, int, str)

    def __init__(
        self,
        workspace,
        user: str,
        gpu: TaskRunner | None = None,
        parent: QWidget | None = None,
        method: str | None = None,
        grace_s: float = 20.0,
    ):
        super().__init__(parent)
        self.setWindowTitle("Retrain a model")
        self.resize(1180, 820)
        self.ws = workspace
        self.user = user
        self.gpu = gpu or TaskRunner("retrain-compare", max_workers=1, parent=self)
        self.process = TrainingProcess(self, grace_s=grace_s)
        self._close_when_stopped = False
        self._runs: list[dict] = []
        self.run_id: str | None = None
        self.new_version: str | None = None
        self.comparison: dict | None = None
        self._compare_cancel: CancelToken | None = None

        # -- setup ---------------------------------------------------------------------------------
        self.method = QComboBox()
        for name in METHODS:
            cls = model_class(name)
            self.method.addItem(f"{name} — {cls.title}", name)
        self.data = QLabel("")
        self.data.setWordWrap(True)
        self.params = SettingsTable()
        self.params.itemChanged.connect(self._on_param_changed)
        self.device = QComboBox()
        for text, value in DEVICES:
            self.device.addItem(text, value)
        self.estimate = QLabel("")
        self.estimate.setObjectName("muted")
        self.estimate.setWordWrap(True)
        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("primary")
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume")
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        setup = QGroupBox("Training")
        form = QFormLayout(setup)
        form.addRow("Method", self.method)
        form.addRow("Data", self.data)
        form.addRow(self.params)
        form.addRow("Device", self.device)
        form.addRow("Estimate", self.estimate)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.resume_button):
            buttons.addWidget(b)
        form.addRow(buttons)

        # -- progress ------------------------------------------------------------------------------
        self.progress = TrainingProgress()
        run_box = QGroupBox("Run")
        QVBoxLayout(run_box).addWidget(self.progress)

        # -- compare and activate ------------------------------------------------------------------
        self.compare_button = QPushButton("Compare with active")
        self.compare_button.setToolTip("Score the reviewed cases with both versions and compare them")
        self.compare_button.clicked.connect(self.compare)
        self.activate_button = QPushButton("Activate new version")
        self.activate_button.setObjectName("primary")
        self.activate_button.clicked.connect(self.activate)
        self.rollback_button = QPushButton("Roll back")
        self.rollback_button.setToolTip("Make the previously active version active again")
        self.rollback_button.clicked.connect(self.rollback)
        self.table = ComparisonTable()
        self.versions = QLabel("")
        self.versions.setObjectName("muted")
        self.versions.setWordWrap(True)
        cmp_box = QGroupBox("Compare and activate (reviewed cases: decisions as truth, labels for pixel metrics)")
        cl = QVBoxLayout(cmp_box)
        row = QHBoxLayout()
        for b in (self.compare_button, self.activate_button, self.rollback_button):
            row.addWidget(b)
        row.addStretch(1)
        cl.addLayout(row)
        cl.addWidget(self.table)
        cl.addWidget(self.versions)

        split = QSplitter(Qt.Horizontal)
        split.addWidget(setup)
        split.addWidget(run_box)
        split.setSizes([430, 750])
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addWidget(cmp_box)

        self.method.currentIndexChanged.connect(lambda _i: self._on_method())
        self.process.event.connect(self._on_event)
        self.process.log_line.connect(self.progress.add_log)
        self.process.finished.connect(self._on_finished)
        self._compare_progress.connect(self._on_compare_progress)
        if method is not None:
            i = self.method.findData(method)
            if i >= 0:
                self.method.setCurrentIndex(i)
        self._on_method()

    # -- setup -------------------------------------------------------------------------------------
    def preset(self, method: str, modality: str) -> None:
        """Open on ``method`` with its modality setting at ``modality`` (the model panel's Fit / Train)."""
        i = self.method.findData(method)
        if i >= 0 and not self.process.running:
            self.method.setCurrentIndex(i)
            if modality in model_class(self.name).modalities:
                self.set_param("modality", modality)
                self._read_training_data()
                self._update_buttons()

    @property
    def name(self) -> str:
        return str(self.method.currentData())

    def _on_method(self) -> None:
        """The settings table, generated from the method's settings dataclass (defaults, tooltips)."""
        self.params.load(model_class(self.name).Settings)
        self._read_training_data()
        self._runs = retraining.runs_of(self.ws, self.name)  # read once per method, again after a run
        self.run_id = self._resumable_run()
        self.new_version = None
        self.comparison = None
        self.table.setRowCount(0)
        self._update_estimate()
        self._update_versions()
        self._update_buttons()

    def _read_training_data(self) -> None:
        cls = model_class(self.name)
        modality = self.config().get("modality") or store.default_modality(self.ws, self.name)
        if modality not in cls.modalities:
            self.training = None
            self.data.setText(f"{self.name} trains on {', '.join(cls.modalities)} images, not '{modality}'")
            return
        try:
            self.training = retraining.training_data(self.ws, self.name, modality)
            self.data.setText(
                self.training.describe() + ("" if cls.capabilities.trained else " (memory bank: fitted, no gradient training)")
            )
        except StudioError as exc:
            self.training = None
            self.data.setText(f"Cannot read the training data: {exc}")

    def _on_param_changed(self, item) -> None:
        if self.params.key_at(item.row()) == "modality":
            self._read_training_data()
            self._update_buttons()
        self._update_estimate()

    def set_param(self, key: str, value) -> None:
        if not self.params.set_value(key, value):
            raise KeyError(f"{self.name} has no setting '{key}'")

    def config(self) -> dict:
        """Settings that differ from the method's defaults (strings; the model parses them), plus the device."""
        out = self.params.changes()
        if self.device.currentData() != "auto":
            out["device"] = self.device.currentData()
        return out

    def _update_estimate(self) -> None:
        n = self.training.n_cases if self.training else 0
        try:
            seconds, source = retraining.estimate_seconds(self.ws, self.name, self.config(), n, runs=self._runs)
        except ConfigError as exc:
            self.estimate.setText(f"Check the settings: {exc}")
            self.estimate.setStyleSheet(f"color: {theme.WARN};")
            return
        self.estimate.setStyleSheet("")
        self.estimate.setText(f"about {format_seconds(seconds)} on CPU ({source})")

    def _resumable_run(self) -> str | None:
        for run in reversed(self._runs):
            if run.get("status") in ("cancelled", "failed", "running") and (self.ws.root / "runs" / run["run"]).exists():
                return run["run"]
            if run.get("status") == "done":
                return None
        return None

    def _update_buttons(self) -> None:
        running = self.process.running
        self.start_button.setEnabled(not running and self.training is not None)
        self.cancel_button.setEnabled(running)
        resumable = not running and self.run_id is not None and self.new_version is None
        self.resume_button.setEnabled(resumable)
        self.resume_button.setText(f"Resume {self.run_id}" if resumable else "Resume")
        self.method.setEnabled(not running)
        self.params.setEnabled(not running)
        self.compare_button.setEnabled(not running and self.new_version is not None)
        self.activate_button.setEnabled(
            not running and self.new_version is not None and self.new_version != store.active_version(self.ws, self.name)
        )
        self.rollback_button.setEnabled(not running and len(store.list_versions(self.ws, self.name)) > 1)

    def _update_versions(self) -> None:
        rows = store.list_versions(self.ws, self.name)
        if not rows:
            self.versions.setText(f"No {self.name} version in this workspace yet.")
            return
        parts = []
        for v in rows[-6:]:
            mark = f" (active for {v.modality})" if v.active else ""
            parts.append(f"{html.escape(v.version)}{mark}")
        self.versions.setText("Versions: " + " · ".join(parts))

    # -- running -----------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            model_class(self.name).parse_settings(self.config())
        except ConfigError as exc:
            self.progress.add_log(f"Cannot start: {exc}")
            self.estimate.setText(f"Check the settings: {exc}")
            return
        self.run_id = new_version_id()
        self._launch(resume=False)

    def resume(self) -> None:
        if self.run_id:
            self._launch(resume=True)

    def _launch(self, resume: bool) -> None:
        config = {} if resume else self.config()
        argv = retraining.train_argv(self.ws.root, self.name, self.run_id, config, resume=resume)
        run_dir = self.ws.root / "runs" / self.run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            self.progress.reset()
        self.progress.add_log(("Resuming" if resume else "Starting") + f" run {self.run_id}")
        self.new_version = None
        root = Path(__file__).resolve().parents[2]
        self.process.start(argv, run_dir, cwd=root if (root / "app").is_dir() else None)
        self._update_buttons()

    def cancel(self) -> None:
        self.progress.add_log("Cancel requested: the trainer stops after the current step")
        self.process.cancel()
        self.cancel_button.setEnabled(False)

    def _on_event(self, e: dict) -> None:
        self.progress.on_event(e)
        if e.get("event") == "done":
            self.new_version = e.get("version")

    def _on_finished(self, status: str, code: int) -> None:
        if self._close_when_stopped:
            self._close_when_stopped = False
            self.close()
            return
        self._runs = retraining.runs_of(self.ws, self.name)
        message = "" if status == "done" else f"exit code {code}"
        self.progress.set_finished(status, message)
        if status == "done" and self.new_version is None:
            self.new_version = self.run_id
        self._update_versions()
        self._update_estimate()  # a finished run gives this workspace's own rate
        self._update_buttons()
        if status == "done":
            self.compare()

    # -- compare / activate ------------------------------------------------------------------------
    def compare(self) -> None:
        if self.new_version is None or self._compare_cancel is not None:
            return
        old = store.active_version(self.ws, self.name)
        old = None if old == self.new_version else old
        self._compare_cancel = CancelToken()
        self.compare_button.setEnabled(False)
        self.progress.add_log(f"Comparing {self.new_version} with {old or 'no active version'} on the reviewed cases…")

        def progress(done, total, message):
            self._compare_progress.emit(int(done), int(total), str(message))

        self.gpu.submit(
            retraining.compare_versions,
            self.ws,
            self.name,
            self.new_version,
            old,
            progress=progress,
            cancel=self._compare_cancel,
            on_done=self._on_compared,
            on_error=self._on_compare_error,
        )

    def _on_compare_progress(self, done: int, total: int, message: str) -> None:
        self.progress.status.setText(f"Comparing: {message} ({done}/{total})")

    def _on_compared(self, result: dict) -> None:
        self._compare_cancel = None
        self.comparison = result
        self.table.show_rows(result["rows"], self.new_version)
        excluded = len(result.get("excluded", []))
        self.progress.status.setText(
            f"Compared on {len(result['cases'])} reviewed case(s) neither version was trained on"
            + (f" ({excluded} excluded: training data)" if excluded else "")
            + f". {result.get('recommendation', '')}"
        )
        self._update_buttons()

    def _on_compare_error(self, exc: BaseException) -> None:
        self._compare_cancel = None
        self.progress.add_log(f"Comparison failed: {exc}")
        self.progress.status.setText(f"Comparison not possible: {exc}")
        self.progress.status.setStyleSheet(f"color: {theme.WARN};")
        self._update_buttons()

    def activate(self) -> None:
        if self.new_version is None:
            return
        store.activate(self.ws, self.name, self.new_version, user=self.user)
        self.progress.add_log(f"Activated {self.name} {self.new_version}")
        self._after_activation()

    def rollback(self) -> None:
        try:
            version = retraining.rollback(self.ws, self.name, user=self.user)
        except StudioError as exc:
            self.progress.add_log(str(exc))
            return
        self.progress.add_log(f"Rolled back: {self.name} {version} is active again")
        self._after_activation()

    def _after_activation(self) -> None:
        self._update_versions()
        self._update_buttons()
        self.models_changed.emit(self.name)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.process.running:
            # never wait here (the GUI would freeze for the grace period): ask the trainer to stop,
            # keep showing its progress, and close when it has (killed after the grace period)
            self.progress.add_log(
                "Closing: the run is cancelled and this window closes when the trainer has stopped (the run can resume later)"
            )
            self._close_when_stopped = True
            self.process.cancel()
            event.ignore()
            return
        if self._compare_cancel is not None:
            self._compare_cancel.cancel()
        super().closeEvent(event)
