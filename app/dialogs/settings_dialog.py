"""File → Settings…: the user name written into reviews and labels, the compute device, the
weights folder (user-supplied official weights) and label autosave. Saved to the per-user
settings file (core.settings, written atomically), re-read first so that nothing else in it (PACS
servers, recent workspaces) is lost, and applied to the open window at once."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from app import theme
from core.settings import Settings, default_user

DEVICES = (("auto", "Auto (GPU when there is one)"), ("cpu", "CPU"), ("cuda", "GPU (CUDA)"))


@dataclass(frozen=True)
class SettingsChoice:
    user: str | None
    device: str
    weights_dir: str | None
    autosave: bool


def validate(user: str, device: str, weights: str, autosave: bool) -> SettingsChoice:
    """The dialog's fields as settings, or ValueError with the reason to show."""
    user = user.strip()
    if len(user) > 64 or any(unicodedata.category(ch).startswith("C") for ch in user):
        raise ValueError("User name: at most 64 printable characters.")
    if device not in {d for d, _ in DEVICES}:
        raise ValueError(f"Device: one of {', '.join(d for d, _ in DEVICES)}.")
    weights = weights.strip()
    if weights:
        path = Path(weights).expanduser()
        if not path.is_dir():
            raise ValueError(f"Weights folder: {path} is not a folder.")
        weights = str(path.resolve())
    return SettingsChoice(user or None, device, weights or None, bool(autosave))


def save_choice(choice: SettingsChoice) -> Settings:
    """Write ``choice`` into the settings file, keeping its other entries (atomic write)."""
    settings = Settings.load()
    settings.user, settings.device, settings.weights_dir, settings.autosave = (
        choice.user,
        choice.device,
        choice.weights_dir,
        choice.autosave,
    )
    settings.save()
    return settings


class SettingsDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Settings")
        current = Settings.load()
        self.user = QLineEdit(current.user or "")
        self.user.setPlaceholderText(f"{default_user()} (the login name)")
        self.user.setToolTip("Written with every review decision, comment and label")
        self.device = QComboBox()
        for key, text in DEVICES:
            self.device.addItem(text, key)
        self.device.setCurrentIndex(max(0, self.device.findData(current.device)))
        self.weights = QLineEdit(current.weights_dir or "")
        self.weights.setPlaceholderText(str(current.resolved_weights_dir()))
        self.weights.setToolTip("Official weights you supply (SAM ViT-B, WideResNet-50, CLIP); ANOMALY_STUDIO_WEIGHTS overrides it")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.weights, 1)
        row.addWidget(browse)
        self.autosave = QCheckBox("Save labels automatically (within 2 s of a change)")
        self.autosave.setChecked(current.autosave)
        self.error = QLabel("")
        self.error.setStyleSheet(f"color: {theme.DANGER}")
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow("User name", self.user)
        form.addRow("Device", self.device)
        form.addRow("Weights folder", row)
        form.addRow("", self.autosave)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(520, self.sizeHint().height())

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Weights folder", self.weights.text())
        if folder:
            self.weights.setText(folder)

    def save(self) -> bool:
        try:
            choice = validate(self.user.text(), self.device.currentData(), self.weights.text(), self.autosave.isChecked())
            settings = save_choice(choice)
        except (ValueError, OSError) as exc:
            self.error.setText(str(exc))
            return False
        self.window_.apply_settings(settings)
        self.accept()
        return True


def show_settings(window) -> SettingsDialog:
    dlg = SettingsDialog(window)
    dlg.setModal(True)
    dlg.show()
    return dlg
