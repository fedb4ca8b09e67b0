"""File → Export labels…: the command line's ``labels export`` (core.labels.export) from the
window: format (PNG index masks, NIfTI label volumes in the scan's space, LabelMe JSON), an
output folder, progress, and the report (files written, images skipped and why)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit, QPushButton

from app.dialogs.job_dialog import JobDialog

EXPORT_FORMATS = (
    ("png", "PNG index masks (one per image; legend.json names the ids)"),
    ("nifti", "NIfTI label volumes (MRI, in the scan's own space)"),
    ("labelme", "LabelMe JSON (with the images)"),
)


class ExportLabelsDialog(JobDialog):
    def __init__(self, window):
        super().__init__(window, "Export labels", "Export")
        self.resize(560, 320)
        self.format = QComboBox()
        for key, text in EXPORT_FORMATS:
            self.format.addItem(text, key)
        self.out = QLineEdit()
        self.out.setPlaceholderText("Output folder (created)")
        default = window.session.workspace.root.parent / f"{window.session.workspace.root.name}-labels"
        self.out.setText(str(default))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.out, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Folder", row)
        self.options.addLayout(form)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export labels to", self.out.text())
        if folder:
            self.out.setText(folder)

    def job(self):
        from core.labels.export import export_labels

        text = self.out.text().strip()
        if not text:
            raise ValueError("Choose the folder to export to.")
        out = Path(text).expanduser()
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out} is a file; choose a folder.")
        ws, fmt = self.window_.session.workspace, self.format.currentData()
        return lambda progress: export_labels(ws, fmt, out, progress=progress)

    def report(self, result) -> str:
        lines = [f"Exported {len(result.written)} label file(s) to {Path(self.out.text()).expanduser()}, skipped {len(result.skipped)}."]
        lines += [f"- {s.get('image') or s.get('path')}: {s['reason']}" for s in result.skipped]
        lines += [f"! {w}" for w in result.warnings]
        return "\n".join(lines)


def show_export_labels(window) -> ExportLabelsDialog:
    dlg = window.dialogs.get("export")
    if dlg is None or not dlg.isVisible():
        dlg = ExportLabelsDialog(window)
        window.dialogs["export"] = dlg
    dlg.show()
    dlg.raise_()
    return dlg
