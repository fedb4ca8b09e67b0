"""The main window: composes the worklist, the case viewers and the information panel."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog, QLabel, QMainWindow, QMessageBox, QSplitter, QStackedWidget, QVBoxLayout, QWidget,
)

from app.editing.mode import LabelMode
from app.state.overlays import VolumeOverlay, load_case_with_overlay
from app.state.session import Session
from app.viewers.case_view import CaseView
from app.viewers.volume_view import VolumeView
from app.widgets.case_info import CaseInfoPanel
from app.widgets.worklist import WorklistPanel
from app.workers.pool import TaskRunner
from core.domain import CaseKind, LoadedCase, Modality
from core.errors import StudioError
from core.workspace import Workspace

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    def __init__(self, session: Session):
        super().__init__()
        self.session = session
        self.io = TaskRunner("io", max_workers=2, parent=self)
        self.gpu = TaskRunner("gpu", max_workers=1, parent=self)
        self.setWindowTitle(f"Anomaly Studio — {session.workspace.name}")
        self.resize(1600, 1000)

        self.worklist = WorklistPanel()
        self.case_view = CaseView()
        self.volume_view = VolumeView()
        self.info = CaseInfoPanel()
        self.empty = QLabel("Select a case in the worklist")
        self.empty.setAlignment(Qt.AlignCenter)
        self.empty.setObjectName("muted")
        self.loading = QLabel("")
        self.loading.setAlignment(Qt.AlignCenter)
        self.loading.setObjectName("muted")
        self.viewers = QStackedWidget()
        for w in (self.empty, self.case_view, self.volume_view, self.loading):
            self.viewers.addWidget(w)

        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.viewers, 1)
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self.worklist)
        splitter.addWidget(centre)
        splitter.addWidget(self.info)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        splitter.setSizes([330, 1000, 270])
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)
        self.status_label = QLabel("")
        self.statusBar().addWidget(self.status_label, 1)

        self.worklist.case_selected.connect(self.open_case)
        self._build_menus()
        self.label_mode = LabelMode(self)
        self._loaded: LoadedCase | None = None
        self.refresh_cases()

    # -- menus and keys ----------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        act = QAction("&Open workspace…", self, shortcut=QKeySequence.Open, triggered=self._choose_workspace)
        file_menu.addAction(act)
        file_menu.addSeparator()
        file_menu.addAction(QAction("&Quit", self, shortcut=QKeySequence.Quit, triggered=self.close))
        nav = self.menuBar().addMenu("&Navigate")
        nav.addAction(QAction("&Previous case", self, shortcut=QKeySequence("A"), triggered=lambda: self.worklist.step(-1)))
        nav.addAction(QAction("&Next case", self, shortcut=QKeySequence("D"), triggered=lambda: self.worklist.step(1)))
        for a in nav.actions():
            self.addAction(a)

    def _choose_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open workspace", str(self.session.workspace.root.parent))
        if not folder:
            return
        try:
            ws = Workspace.open(Path(folder))
        except StudioError as exc:
            QMessageBox.warning(self, "Cannot open workspace", str(exc))
            return
        self.session.workspace.close()
        self.session.workspace = ws
        self.setWindowTitle(f"Anomaly Studio — {ws.name}")
        self.refresh_cases()

    # -- cases -----------------------------------------------------------------------------
    def refresh_cases(self) -> None:
        self.session.reload_cases()
        self.worklist.set_cases(self.session.cases)
        ws = self.session.workspace
        self.status_label.setText(f"{ws.root}   ·   {len(self.session.cases)} cases   ·   user {self.session.user}")

    def open_case(self, case_id: str) -> None:
        """Load the case's pixels on the I/O pool; show them if it is still the current case."""
        self.session.current_case_id = case_id
        record = self.session.case(case_id)
        self.info.show_case(record)
        self.loading.setText(f"Loading {case_id}…")
        QTimer.singleShot(150, lambda: self._show_loading_if_pending(case_id))
        self.io.submit(load_case_with_overlay, self.session.workspace, case_id,
                       on_done=self._on_case_loaded, on_error=lambda e, cid=case_id: self._on_case_error(cid, e))

    def _show_loading_if_pending(self, case_id: str) -> None:
        if self.session.current_case_id == case_id and (self._loaded is None or self._loaded.id != case_id):
            self.viewers.setCurrentWidget(self.loading)

    def _on_case_loaded(self, loaded: tuple[LoadedCase, VolumeOverlay | None]) -> None:
        case, overlay = loaded
        if case.id != self.session.current_case_id:
            return  # the user moved on; never show a stale case
        self.show_loaded(case, overlay)

    def _on_case_error(self, case_id: str, exc: BaseException) -> None:
        if case_id != self.session.current_case_id:
            return
        log.error("cannot open case %s: %s", case_id, exc)
        self.loading.setText(f"Cannot open {case_id}:\n{exc}")
        self.viewers.setCurrentWidget(self.loading)
        self.statusBar().showMessage(f"Cannot open {case_id}: {exc}", 10000)

    def show_loaded(self, case: LoadedCase, overlay: VolumeOverlay | None = None) -> None:
        self._loaded = case
        if self.label_mode.show_case(case):
            return
        if case.record.kind == CaseKind.MRI:
            mri = case.images.get(overlay.image) if overlay is not None else None
            mri = mri or case.first(Modality.MRI)
            affine = mri.record.meta.affine_array()
            self.volume_view.set_volume(mri.array, affine if affine is not None else _eye4(), title=mri.record.name)
            if overlay is not None and overlay.heatmap.shape == mri.array.shape:
                self.volume_view.set_overlay(overlay.heatmap, overlay.mask, overlay.pixel_threshold, overlay.describe())
                top = overlay.extras.get("top_slice")
                if top is not None and overlay.extras.get("slice_axis") is not None:
                    self._go_to_slice(mri, int(overlay.extras["slice_axis"]), int(top))
            self.viewers.setCurrentWidget(self.volume_view)
        else:
            self.case_view.show_case(case)
            self.viewers.setCurrentWidget(self.case_view)

    def open_case_now(self, case_id: str) -> None:
        """Synchronous variant for screenshots and tests."""
        self.session.current_case_id = case_id
        self.worklist.blockSignals(True)
        try:
            self.worklist.select_case(case_id)
        finally:
            self.worklist.blockSignals(False)
        self.info.show_case(self.session.case(case_id))
        self.show_loaded(*load_case_with_overlay(self.session.workspace, case_id))

    def _go_to_slice(self, image, axis: int, index: int) -> None:
        """Move the crosshair to slice ``index`` along array ``axis`` (e.g. the model's top slice)."""
        import numpy as np

        centre = [s // 2 for s in image.array.shape]
        centre[axis] = index
        ras = [0, 0, 0]
        for src, (dst, flip) in enumerate(np.asarray(self.volume_view.ornt, int)):
            ras[dst] = image.array.shape[src] - 1 - centre[src] if flip < 0 else centre[src]
        self.volume_view.set_position(*ras)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if not self.label_mode.confirm_close():
            event.ignore()
            return
        self.io.shutdown(wait=False)
        self.gpu.shutdown(wait=False)
        super().closeEvent(event)


def _eye4():
    import numpy as np

    return np.eye(4)
