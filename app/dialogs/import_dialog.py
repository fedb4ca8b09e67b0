"""File → Import… and files or folders dropped on the window: the command line's ``import`` (same
engine, core.data.importer; same options: dataset format, BMAD modality) with progress, Stop and a
report of what was imported and what was skipped, and why. Loose files are imported together (a
fundus photo and an OCT of one case pair up by name, as in a folder); each folder is imported on
its own. A dropped workspace folder is opened instead of imported."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QListWidget, QPushButton

from app.dialogs.job_dialog import JobDialog
from core.data.adapters import ADAPTERS

FORMATS = ("auto", "folder", *ADAPTERS)
FORMAT_HELP = "auto: detect a known dataset layout, else a folder of images; or name the dataset layout"
MODALITIES = ("", "fundus", "oct", "slice")


def stage_files(files: list[Path], into: Path) -> Path:
    """Put loose files side by side in ``into`` (hard links where possible, else copies) so the
    importer groups them by name as it does in a folder."""
    into.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = into / f.name
        if target.exists():
            continue  # two files of the same name: the first one wins, the report counts cases
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)
    return into


def import_sources(ws, sources: list[Path], user: str, layout: str, modality: str | None, progress) -> dict:
    """Import every folder in ``sources`` and all loose files together; one merged report."""
    from core.data.importer import import_folder
    from core.errors import InputError

    merged = {"imported": [], "skipped": [], "warnings": [], "layouts": []}
    folders = [p for p in sources if p.is_dir()]
    files = [p for p in sources if p.is_file()]
    for p in sources:
        if not p.exists():
            merged["skipped"].append({"path": str(p), "reason": "does not exist"})
    staging = None
    try:
        if files:
            staging = Path(tempfile.mkdtemp(prefix="anomaly-studio-import-"))
            folders.append(stage_files(files, staging / "dropped"))
        for n, folder in enumerate(folders):
            step = _scaled(progress, n, len(folders))
            try:
                report = import_folder(ws, folder, user=user, progress=step, layout=layout, modality=modality or None)
            except InputError as exc:
                merged["skipped"].append({"path": str(folder), "reason": exc.reason})
                continue
            merged["imported"] += report.imported
            merged["skipped"] += report.skipped
            merged["warnings"] += report.warnings
            merged["layouts"].append(report.layout)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return merged


def _scaled(progress, index: int, count: int):
    """Progress of folder ``index`` of ``count``: its own cases, the folder named when several."""

    def report(done: int, total: int, message: str) -> None:
        progress(done, total, f"folder {index + 1}/{count}: {message}" if count > 1 else message)

    return report


class ImportDialog(JobDialog):
    def __init__(self, window, sources: list[Path] | None = None):
        super().__init__(window, "Import images", "Import")
        self.resize(560, 420)
        self.sources = QListWidget()
        self.sources.setToolTip("Folders are imported one by one; loose files together (a case's fundus and OCT pair up by name)")
        add_folder = QPushButton("Add folder…")
        add_files = QPushButton("Add files…")
        remove = QPushButton("Remove")
        add_folder.clicked.connect(self._add_folder)
        add_files.clicked.connect(self._add_files)
        remove.clicked.connect(lambda: [self.sources.takeItem(self.sources.row(i)) for i in self.sources.selectedItems()])
        row = QHBoxLayout()
        for b in (add_folder, add_files, remove):
            row.addWidget(b)
        row.addStretch(1)
        self.format = QComboBox()
        self.format.addItems(FORMATS)
        self.format.setToolTip(FORMAT_HELP)
        self.modality = QComboBox()
        for m in MODALITIES:
            self.modality.addItem(m or "from the folder name", m)
        self.modality.setToolTip("Modality of BMAD images (the command line's --modality)")
        form = QFormLayout()
        form.addRow("Dataset format", self.format)
        form.addRow("BMAD modality", self.modality)
        self.options.addWidget(self.sources, 1)
        self.options.addLayout(row)
        self.options.addLayout(form)
        self.finished_job.connect(lambda _r: window.refresh_cases())
        self.add_sources(sources or [])

    def add_sources(self, paths: list[Path]) -> None:
        have = set(self.source_paths())
        for p in paths:
            if Path(p) not in have:
                self.sources.addItem(str(p))

    def source_paths(self) -> list[Path]:
        return [Path(self.sources.item(i).text()) for i in range(self.sources.count())]

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to import")
        if folder:
            self.add_sources([Path(folder)])

    def _add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Files to import")
        self.add_sources([Path(f) for f in files])

    def job(self):
        sources = self.source_paths()
        if not sources:
            raise ValueError("Add a folder or files to import (or drop them on the window).")
        ws, user = self.window_.session.workspace, self.window_.session.user
        layout, modality = self.format.currentText(), self.modality.currentData()
        return lambda progress: import_sources(ws, sources, user, layout, modality, progress)

    def report(self, result: dict) -> str:
        lines = [f"Imported {len(result['imported'])} case(s), skipped {len(result['skipped'])}."]
        lines += [f"+ {e['case']}  ({e['kind']}: {', '.join(e['images'])})" for e in result["imported"]]
        lines += [f"- {s.get('path')}: {s['reason']}" for s in result["skipped"]]
        lines += [f"! {w}" for w in result["warnings"]]
        return "\n".join(lines)


def show_import(window, sources: list[Path] | None = None) -> ImportDialog:
    dlg = window.dialogs.get("import")
    if dlg is None or not dlg.isVisible():
        dlg = ImportDialog(window, sources)
        window.dialogs["import"] = dlg  # one import dialog at a time
    else:
        dlg.add_sources(sources or [])
    dlg.show()
    dlg.raise_()
    dlg.start.setFocus()
    return dlg


class DropImport(QObject):
    """Files and folders dropped on the main window: a workspace folder opens, anything else goes
    to the Import dialog (prefilled; the user picks the format and presses Import)."""

    def __init__(self, window):
        super().__init__(window)
        self.window_ = window
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    @staticmethod
    def local_paths(mime) -> list[Path]:
        if mime is None or not mime.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if obj is not self.window_ or event.type() not in (QEvent.DragEnter, QEvent.DragMove, QEvent.Drop):
            return False
        paths = self.local_paths(event.mimeData())
        if not paths:
            return False
        event.acceptProposedAction()
        if event.type() == QEvent.Drop:
            self.dropped(paths)
        return True

    def dropped(self, paths: list[Path]):
        from core.workspace.workspace import CATALOG_NAME

        if len(paths) == 1 and paths[0].is_dir() and (paths[0] / CATALOG_NAME).exists():
            self.window_.open_workspace(paths[0])
            return None
        return show_import(self.window_, paths)
