"""The main window: composes the worklist, the viewers with their overlay bar and colour legend,
and the side panels (review, model, case details). Work happens in the controllers:
app.controllers.cases (open cases, results for display), .model_runs (the GPU worker),
.review (decisions). The current case, the case on screen and the result shown on it live in the
session (app.state.session); the window shows them when the session says they changed. Menus and
keys: app.menus."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QStackedWidget

from app.controllers.cases import CaseController
from app.controllers.model_presenter import ModelPresenter
from app.controllers.model_runs import ModelRunController
from app.controllers.review import ReviewController
from app.dialogs.import_dialog import DropImport
from app.editing.mode import LabelMode
from app.elided_label import ElidedLabel
from app.menus import add_label_menu, build_menus, set_review_keys_for_labelling
from app.state.overlays import CaseOverlay, OverlaySettings
from app.state.session import Session
from app.viewers.case_view import CaseView
from app.viewers.overlays import ColorLegend
from app.viewers.volume_view import VolumeView
from app.widgets.case_info import CaseInfoPanel
from app.widgets.model_panel import ModelPanel
from app.widgets.overlay_panel import OverlayPanel
from app.widgets.review_panel import ReviewPanel
from app.widgets.worklist import WorklistPanel
from app.widgets.workspace_banner import WorkspaceBanner
from app.window_layout import main_splitter, muted_label, side_column
from app.window_state import PanelLayout, remember_workspace
from app.workers.gc_guard import collect_in_gui_thread
from app.workers.pool import TaskRunner
from core.domain import CaseKind, LoadedCase, Modality
from core.errors import StudioError
from core.settings import Settings
from core.workspace import Workspace

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    def __init__(self, session: Session, model: str | None = None, warm_up: bool = True):
        super().__init__()
        collect_in_gui_thread()
        self.session = session
        self.io = TaskRunner("io", max_workers=2, parent=self)
        self.gpu = TaskRunner("gpu", max_workers=1, parent=self)
        self.settings = Settings.load()
        self.setWindowTitle(f"Anomaly Studio — {session.workspace.name}")

        self.cases = CaseController(session, self.io, parent=self)
        self.runs = ModelRunController(session, self.gpu, device=self.settings.device, parent=self)
        self.review = ReviewController(session, parent=self)

        self.worklist = WorklistPanel()
        self.case_view = CaseView()
        self.volume_view = VolumeView()
        self.info = CaseInfoPanel()
        self.overlays = OverlayPanel()
        self.legend = ColorLegend()
        self.review_panel = ReviewPanel()
        self.model_panel = ModelPanel()
        self.empty = muted_label("Select a case in the worklist")
        self.loading = muted_label()
        self.banner = WorkspaceBanner()  # another window has this workspace open: say who
        self.banner.attach(session.workspace)
        self.viewers = QStackedWidget()
        for w in (self.empty, self.case_view, self.volume_view, self.loading):
            self.viewers.addWidget(w)
        self.sidebar = side_column(self.review_panel, self.overlays, self.model_panel, self.info)
        self.splitter = main_splitter(self.worklist, self.viewers, self.legend, self.sidebar, self.banner)
        self.setCentralWidget(self.splitter)
        self.panels = PanelLayout(self, self.splitter)  # fits the screen; collapses; remembered
        self.status_label = ElidedLabel("", mode=Qt.ElideMiddle)
        self.statusBar().addWidget(self.status_label, 1)
        self.device_label = QLabel("Device: starting…")
        self.device_label.setObjectName("muted")
        self.statusBar().addPermanentWidget(self.device_label)

        self._retrain = None
        self.dialogs: dict[str, object] = {}  # File menu dialogs kept while open (import, export)
        self._quit_after_training = False
        self._connect()
        self.models = ModelPresenter(self)
        self.shortcut_actions = build_menus(self)
        self.label_mode = LabelMode(session, self.io, self.gpu, self.viewers, parent=self)
        add_label_menu(self, self.label_mode)
        self.label_mode.active_changed.connect(self._on_label_mode)
        self.label_mode.message.connect(self.statusBar().showMessage)
        self.model_panel.set_device(self.settings.device)
        self._apply_autosave(self.settings.autosave)
        DropImport(self)  # files and folders dropped on the window: import (a workspace folder: open)
        self.refresh_cases()
        self.refresh_models(model)
        if warm_up:
            QTimer.singleShot(200, self.runs.warm_up)

    def _connect(self) -> None:
        self.session.events.loaded.connect(self._display)
        self.session.events.overlay.connect(self._on_overlay_changed)
        self.worklist.case_selected.connect(self.open_case)
        self.cases.case_loaded.connect(self._on_case_loaded)
        self.cases.case_failed.connect(self._on_case_error)
        self.cases.overlay_ready.connect(self._on_overlay)
        self.overlays.settings_changed.connect(self._on_overlay_settings)
        self.review_panel.decision_clicked.connect(lambda v: self.review_action("decide", v))
        self.review_panel.approve_clicked.connect(lambda: self.review_action("approve"))
        self.review_panel.flag_clicked.connect(lambda: self.review_action("flag"))
        self.review_panel.comment_saved.connect(lambda text: self.review_action("comment", text))
        self.review_panel.comment.leave.connect(lambda: self.viewers.setFocus())
        self.review.case_changed.connect(self._on_review_changed)
        self.review.message.connect(lambda text: self.statusBar().showMessage(text, 8000))

    # -- dialogs and view commands (the menus call these) ------------------------------------------
    def show_retrain(self, method: str | None = None):
        """The Retrain dialog (training runs in its own process; only activation changes the app)."""
        from app.training.dialog import RetrainDialog

        dlg = self._retrain
        if dlg is None:
            current = self.session.model.name if self.session.model is not None else None
            dlg = RetrainDialog(self.session.workspace, self.session.user, self.gpu, self, method=method or current)
            dlg.models_changed.connect(self.refresh_models)
            self._retrain = dlg
        dlg.show()
        dlg.raise_()
        return dlg

    def show_shortcuts(self) -> None:
        from app.dialogs.shortcuts import ShortcutsDialog

        dlg = ShortcutsDialog(self)
        dlg.exec()
        dlg.deleteLater()  # a child of the window: without this every F1 would keep one

    def reset_view(self) -> None:
        current = self.viewers.currentWidget()
        if current in (self.case_view, self.volume_view):
            current.reset_view()

    def apply_settings(self, settings: Settings) -> None:
        """Settings saved by the Settings dialog take effect in this window at once."""
        self.settings = settings
        self.session.user = settings.resolved_user()
        self.label_mode.sessions.user = self.session.user
        self.model_panel.set_device(settings.device)
        self.runs.set_device(settings.device)
        self._apply_autosave(settings.autosave)
        self.refresh_cases()

    def _apply_autosave(self, on: bool) -> None:
        self.label_mode.sessions.autosave = on
        for view in (self.label_mode.view2d, self.label_mode.view3d):
            view.panel.autosave.setChecked(on)

    def choose_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open workspace", str(self.session.workspace.root.parent))
        if folder:
            self.open_workspace(Path(folder))

    def open_workspace(self, folder: Path) -> bool:
        """Switch this window to the workspace in ``folder`` (File → Open, Open recent, a drop)."""
        if Path(folder).resolve() == self.session.workspace.root.resolve():
            return True
        if any(getattr(d, "running", False) for d in self.dialogs.values()):
            QMessageBox.information(self, "Import or export running", "Wait for it to finish (or stop it) before switching workspaces.")
            return False
        try:
            ws = Workspace.open(Path(folder))
        except StudioError as exc:
            QMessageBox.warning(self, "Cannot open workspace", str(exc))
            return False
        retrain = self._retrain
        if retrain is not None and retrain.process.running:
            QMessageBox.information(
                self, "Training is running", "Finish or cancel the training run in the Retrain dialog before switching workspaces."
            )
            ws.close()
            return False
        if retrain is not None:
            retrain.close()
            retrain.deleteLater()
            self._retrain = None
        self.runs.cancel()
        self._save_pending_comment()
        self.session.workspace.close()
        self.session.workspace = ws
        self.banner.attach(ws)
        self.session.current_case_id = None
        self.cases.forget()
        self.setWindowTitle(f"Anomaly Studio — {ws.name}")
        self.refresh_cases()
        self.refresh_models()
        remember_workspace(ws.root)
        return True

    # -- cases -----------------------------------------------------------------------------
    def refresh_cases(self) -> None:
        self.session.reload_cases()
        self.worklist.set_cases(self.session.cases)
        ws = self.session.workspace
        self.status_label.setText(f"{ws.root}   ·   {len(self.session.cases)} cases   ·   user {self.session.user}")

    def open_case(self, case_id: str) -> None:
        """Show the case: from the cache at once, else loaded on the I/O pool (stale loads are dropped)."""
        if case_id == self.session.current_case_id and self.session.shows_current_case():
            return
        self._save_pending_comment()
        self.session.current_case_id = case_id
        self._show_record(case_id)
        if not self.cases.open(case_id):
            self.loading.setText(f"Loading {case_id}…")
            QTimer.singleShot(150, lambda: self._show_loading_if_pending(case_id))

    def _show_record(self, case_id: str) -> None:
        record = self.session.case(case_id)
        self.info.show_case(record)
        self.review_panel.set_case(record, self.review.history(case_id))
        self.session.overlay = self.cases.cached_overlay(case_id, self.session.model)

    def _show_loading_if_pending(self, case_id: str) -> None:
        if self.session.current_case_id == case_id and not self.session.shows_current_case():
            self.viewers.setCurrentWidget(self.loading)

    def _on_case_loaded(self, case: LoadedCase) -> None:
        if case.id != self.session.current_case_id:
            return  # the user moved on; never show a stale case
        self.show_loaded(case)
        self.cases.request_overlay(case.id)
        ids = self.worklist.visible_ids()
        if case.id in ids:
            i = ids.index(case.id)
            self.cases.prefetch([ids[j] for j in (i + 1, i - 1) if 0 <= j < len(ids)])

    def _on_case_error(self, case_id: str, exc: BaseException) -> None:
        if case_id != self.session.current_case_id:
            return
        log.error("cannot open case %s: %s", case_id, exc)
        self.loading.setText(f"Cannot open {case_id}:\n{exc}")
        self.viewers.setCurrentWidget(self.loading)
        self.statusBar().showMessage(f"Cannot open {case_id}: {exc}", 10000)

    def show_loaded(self, case: LoadedCase) -> None:
        """Put ``case`` on screen (the session's ``loaded`` event shows it)."""
        self.session.loaded = case

    def _display(self, case: LoadedCase | None) -> None:
        """Show the pixels of ``case`` in the labelling view or the review viewers, with its result."""
        if case is None or self.label_mode.show_case(case):
            return
        ov = self.session.overlay_for(case.id)
        if case.record.kind == CaseKind.MRI:
            mri = case.images.get(ov.primary_image) if ov is not None else None  # the sequence the model scored
            mri = mri or case.first(Modality.MRI)
            affine = mri.record.meta.affine_array()
            self.volume_view.set_volume(mri.array, affine if affine is not None else np.eye(4), title=mri.record.name, case_id=case.id)
            self.volume_view.apply_overlay_settings(self.overlays.settings)
            self.viewers.setCurrentWidget(self.volume_view)
        else:
            self.case_view.show_case(case)
            self.case_view.apply_overlay_settings(self.overlays.settings)
            self.viewers.setCurrentWidget(self.case_view)
        self.apply_overlay(ov)

    def open_case_now(self, case_id: str) -> None:
        """Synchronous variant for screenshots and tests (pixels and the stored result)."""
        self.session.current_case_id = case_id
        self.worklist.blockSignals(True)
        try:
            self.worklist.select_case(case_id)
        finally:
            self.worklist.blockSignals(False)
        self._show_record(case_id)
        self.session.overlay = self.cases.load_overlay_now(case_id)
        self.show_loaded(self.cases.load_now(case_id))

    # -- model results on the case ---------------------------------------------------------------
    def _on_overlay(self, case_id: str, overlay: CaseOverlay | None) -> None:
        if case_id == self.session.current_case_id:
            self.session.overlay = overlay

    def _on_overlay_changed(self, overlay: CaseOverlay | None) -> None:
        self.review_panel.set_result(self.session.model, overlay)
        if self.session.shows_current_case():
            self.apply_overlay(overlay)

    def apply_overlay(self, overlay: CaseOverlay | None) -> None:
        """Draw ``overlay`` (or none) on the review viewer on screen and update the colour legend."""
        view = self.volume_view if self.viewers.currentWidget() is self.volume_view else self.case_view
        view.set_result(overlay)
        self._update_legend()

    def _update_legend(self) -> None:
        model, ov = self.session.model, self.session.overlay
        if self.label_mode.active or model is None or ov is None or not any(im.heatmap is not None for im in ov.images.values()):
            self.legend.set_inactive()
            self.legend.hide()
            return
        self.legend.show()
        s = self.overlays.settings
        lo, hi = s.clamp_for(model.pixel_threshold)
        self.legend.set_scale(s.colormap, lo, hi, model.pixel_threshold, active=s.visible and s.show_heatmap)

    def _on_overlay_settings(self, settings: OverlaySettings) -> None:
        self.case_view.apply_overlay_settings(settings)
        self.volume_view.apply_overlay_settings(settings)
        self._update_legend()

    def _on_label_mode(self, on: bool) -> None:
        """Labelling needs the width: the review column and the heatmap legend make room for the
        label panel (the label view has its own model-result-to-label tools)."""
        set_review_keys_for_labelling(self.shortcut_actions, on)
        self.sidebar.setVisible(not on)
        self.legend.setVisible(not on)
        if not on:
            self._update_legend()
        self._display(self.session.loaded)

    # -- models (app.controllers.model_presenter does the work) ---------------------------------
    def refresh_models(self, wanted: str | None = None) -> None:
        self.models.refresh(wanted)

    def set_model(self, choice) -> None:
        self.models.set_model(choice)

    def run_model(self, scope: str) -> None:
        self.models.run(scope)

    # -- review ------------------------------------------------------------------------------
    def review_action(self, action: str, value: str | None = None) -> None:
        self.review.act(self.session.current_case_id, action, value)

    def _on_review_changed(self, case) -> None:
        self.worklist.update_case(case)
        if case.id == self.session.current_case_id:
            self.info.show_case(case)
            self.review_panel.set_case(case, self.review.history(case.id))
            self.review_panel.set_result(self.session.model, self.session.overlay)

    def _save_pending_comment(self) -> None:
        panel = self.review_panel
        if panel.case is not None and panel.comment_dirty():
            self.review.act(panel.case.id, "comment", panel.comment_text())

    def _close_after_training(self, *_args) -> None:
        self.close()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if not self.label_mode.confirm_close():
            event.ignore()
            return
        retrain = self._retrain
        if retrain is not None and retrain.process.running:
            answer = QMessageBox.question(
                self,
                "Training is running",
                "A training run is still going. Cancel it and quit? It keeps its last epoch checkpoint and can be resumed "
                "from Model → Retrain….",
            )
            if answer != QMessageBox.Yes:
                event.ignore()
                return
            # the trainer stops at its next step (killed after the grace period); quit once it has
            # (one connection, however often the user asks to quit while it stops)
            if not self._quit_after_training:
                self._quit_after_training = True
                retrain.process.finished.connect(self._close_after_training, Qt.QueuedConnection)
            retrain.close()
            event.ignore()
            return
        self._save_pending_comment()
        self.session.workspace.release_writer()
        self.runs.shutdown()
        self.io.shutdown(wait=False)
        self.gpu.shutdown(wait=False)
        super().closeEvent(event)
