"""The model panel: choose a fitted model version and the device, run it on the current case, the
selected cases or all cases, follow the progress (per case, ETA) and cancel. No torch here: the
panel only emits requests; app.controllers.model_runs does the work on the GPU worker."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.state.runs import ModelChoice, RunState

DEVICES = (("Auto", "auto"), ("CPU", "cpu"), ("CUDA GPU", "cuda"))
PROGRESS_STEPS = 1000  # the bar moves within a case as the model reports its slices / B-scans


class ModelPanel(QGroupBox):
    model_changed = Signal(object)  # ModelChoice | None
    run_requested = Signal(str)  # "case" | "selection" | "all"
    cancel_requested = Signal()
    device_changed = Signal(str)  # auto | cpu | cuda
    train_requested = Signal(str, str)  # method, modality: open the Retrain dialog preset for them

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Model", parent)
        self.choices: list[ModelChoice] = []
        self.combo = QComboBox()
        self.combo.setFocusPolicy(Qt.NoFocus)
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(16)
        self.combo.currentIndexChanged.connect(self._on_choice)
        self.details = QLabel("")
        self.details.setObjectName("muted")
        self.details.setWordWrap(True)
        self.device = QComboBox()
        for text, value in DEVICES:
            self.device.addItem(text, value)
        self.device.setFocusPolicy(Qt.NoFocus)
        self.device.currentIndexChanged.connect(lambda _i: self.device_changed.emit(self.device.currentData()))
        self.device_status = QLabel("starting…")
        self.device_status.setObjectName("muted")
        self.device_status.setWordWrap(True)

        self.run_case = QPushButton("Run case")
        self.run_case.setObjectName("primary")
        self.run_case.setToolTip("Run the model on the open case (Ctrl+R)")
        self.run_selection = QPushButton("Selection")
        self.run_selection.setToolTip("Run the model on the cases selected in the worklist")
        self.run_all = QPushButton("All cases")
        self.run_all.setToolTip("Run the model on every case it can score")
        for button, scope in ((self.run_case, "case"), (self.run_selection, "selection"), (self.run_all, "all")):
            button.setFocusPolicy(Qt.NoFocus)
            button.clicked.connect(lambda _c=False, s=scope: self.run_requested.emit(s))
        self.train = QPushButton("Fit / Train…")
        self.train.setFocusPolicy(Qt.NoFocus)
        self.train.clicked.connect(lambda _c=False: self.train_requested.emit(*self._train_target))
        self.train.hide()
        self.train_hint = QLabel("")
        self.train_hint.setObjectName("muted")
        self.train_hint.setWordWrap(True)
        self.train_hint.hide()
        self._train_target = ("patchcore", "fundus")
        self.cancel = QPushButton("Cancel")
        self.cancel.setFocusPolicy(Qt.NoFocus)
        self.cancel.setToolTip("Stop the run; a volume being scored stops between its slices (Ctrl+.)")
        self.cancel.clicked.connect(self.cancel_requested.emit)
        self.cancel.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(0)
        self.progress_text = QLabel("No run yet")
        self.progress_text.setObjectName("muted")
        self.progress_text.setWordWrap(True)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error.setStyleSheet(f"color: {theme.DANGER};")
        self.error.hide()

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.addWidget(self.combo, 0, 0, 1, 2)
        grid.addWidget(_muted("Device"), 1, 0)
        grid.addWidget(self.device, 1, 1)
        grid.setColumnStretch(1, 1)
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.run_case)
        buttons.addWidget(self.run_selection)
        buttons.addWidget(self.run_all)
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 10, 8, 8)
        layout.setSpacing(6)
        layout.addLayout(grid)
        layout.addWidget(self.details)
        layout.addWidget(self.device_status)
        layout.addLayout(buttons)
        layout.addWidget(self.train_hint)
        layout.addWidget(self.train)
        layout.addLayout(prog)
        layout.addWidget(self.progress_text)
        layout.addWidget(self.error)
        self._running = False
        self._update_buttons()

    # -- models ------------------------------------------------------------------------------
    def set_choices(self, choices: list[ModelChoice], selected: ModelChoice | None) -> None:
        self.choices = list(choices)
        self.combo.blockSignals(True)
        self.combo.clear()
        if not choices:
            self.combo.addItem("No fitted model", None)
        for c in choices:
            self.combo.addItem(c.label, c.key)
            self.combo.setItemData(
                self.combo.count() - 1, f"{c.name} version {c.version}" + (" (active)" if c.active else ""), Qt.ToolTipRole
            )
        if selected is not None:
            idx = self.combo.findData(selected.key)
            self.combo.setCurrentIndex(max(idx, 0))
        self.combo.blockSignals(False)
        self._show_details(self.current())
        self._update_buttons()

    def current(self) -> ModelChoice | None:
        key = self.combo.currentData()
        return next((c for c in self.choices if c.key == key), None) if key else None

    def _on_choice(self, _index: int) -> None:
        choice = self.current()
        self._show_details(choice)
        self._update_buttons()
        self.model_changed.emit(choice)

    def _show_details(self, c: ModelChoice | None) -> None:
        if c is None:
            self.details.setText("No fitted model in this workspace yet: press Fit / Train… to make the first one.")
            return
        parts = "; ".join(f"{p.modality}: version {p.version}" for p in c.members)
        self.details.setText(
            f"{html.escape(c.title)} on {html.escape(c.modality)} images"
            + (f" ({html.escape(parts)}; a pair is judged on both images)" if parts else "")
            + f" · case threshold {c.threshold:.1f} SD · heatmap contour at {c.pixel_threshold:.1f} SD"
        )

    def set_missing(self, method: str | None, modality: str | None, has_model: bool) -> None:
        """Offer Fit / Train… for ``modality`` (a modality of the open case no version scores)."""
        if modality is None or method is None:
            self.train.hide()
            self.train_hint.hide()
            return
        self._train_target = (method, modality)
        self.train.setText(f"Fit / Train {method} for {modality}…")
        self.train.setToolTip(f"Open the Retrain dialog with {method} and its modality set to {modality}")
        self.train_hint.setText(
            f"No {method} version scores this case's {modality} images yet." if has_model else f"No fitted model yet: start with {method}."
        )
        self.train.show()
        self.train_hint.show()

    # -- device ------------------------------------------------------------------------------
    def set_device(self, name: str) -> None:
        idx = self.device.findData(name)
        self.device.blockSignals(True)
        self.device.setCurrentIndex(max(idx, 0))
        self.device.blockSignals(False)

    def show_device(self, text: str, ok: bool = True) -> None:
        self.device_status.setText(text)
        self.device_status.setStyleSheet("" if ok else f"color: {theme.DANGER};")

    # -- runs --------------------------------------------------------------------------------
    def show_run(self, run: RunState) -> None:
        self._running = run.running
        self.progress.setFormat(f"%p %  ·  {run.processed} / {run.total} cases")
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(int(round(run.fraction * PROGRESS_STEPS)))
        self.progress_text.setText(run.progress_text())
        if run.running:
            self.error.hide()
        elif run.failed or run.error:
            lines = [run.error] if run.error else []
            lines += [f"{cid}: {msg}" for cid, msg in list(run.failed.items())[:4]]
            if len(run.failed) > 4:
                lines.append(f"… and {len(run.failed) - 4} more (see the log)")
            self.show_error("\n".join(lines))
        self._update_buttons()

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def _update_buttons(self) -> None:
        has_model = self.current() is not None
        for b in (self.run_case, self.run_selection, self.run_all):
            b.setEnabled(has_model and not self._running)
        self.cancel.setEnabled(self._running)
        self.combo.setEnabled(not self._running)
        self.device.setEnabled(not self._running)


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    return label
