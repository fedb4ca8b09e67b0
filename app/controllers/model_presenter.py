"""Model wiring of the main window: the model choice (worklist scores, overlays, summary), runs
started from the model panel and their per-case results, and the device setting. Widgets never
touch torch; the work is done by app.controllers.model_runs on the GPU worker. The result shown
for the current case is the session's (``session.overlay``); the window draws it when it changes."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject

from app.state.runs import RunState, available_models, default_choice, describe_load_error, method_for, missing_modality, runnable
from core.errors import StudioError

log = logging.getLogger(__name__)


class ModelPresenter(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        window.cases.scores_ready.connect(self._on_scores)
        window.model_panel.model_changed.connect(self.set_model)
        window.model_panel.run_requested.connect(self.run)
        window.model_panel.cancel_requested.connect(window.runs.cancel)
        window.model_panel.device_changed.connect(self._on_device_changed)
        window.runs.run_changed.connect(self._on_run_changed)
        window.runs.case_scored.connect(self._on_case_scored)
        window.runs.device_info.connect(self._on_device_info)
        window.model_panel.train_requested.connect(self.open_training)
        window.cases.case_failed.connect(self._on_case_failed)
        window.session.events.current_case.connect(self._on_current_case)
        window.session.events.overlay.connect(self._on_overlay)
        self._on_overlay(window.session.overlay)

    def refresh(self, wanted: str | None = None) -> None:
        try:
            choices = available_models(self.w.session.workspace)
        except StudioError as exc:
            log.error("cannot list models: %s", exc)
            choices = []
        current = self.w.session.model
        selected = (
            default_choice(choices, wanted)
            if wanted or current is None
            else next((c for c in choices if c.key == current.key), default_choice(choices))
        )
        if wanted and selected is None:
            self.w.statusBar().showMessage(f"No fitted model '{wanted}' in this workspace", 10000)
            selected = default_choice(choices)
        self.w.model_panel.set_choices(choices, selected)
        self.set_model(selected)

    def set_model(self, choice) -> None:
        self.w.session.model = choice
        self.w.session.scores = {}
        self.w.worklist.set_scores({}, choice.threshold if choice else None)
        if choice is not None:
            self.w.overlays.set_pixel_threshold(choice.pixel_threshold)
        self.w.cases.request_scores()
        self.update_fit_action()
        session = self.w.session
        cid = session.current_case_id
        # the window shows the new model's result (review panel, and the viewer when the case is on screen)
        session.overlay = self.w.cases.cached_overlay(cid, choice) if cid else None
        if cid and session.shows_current_case():
            self.w.cases.request_overlay(cid)

    def _on_overlay(self, overlay) -> None:
        """Overlay controls only where there is something to overlay."""
        images = overlay.images.values() if overlay is not None else ()
        heat = any(im.heatmap is not None for im in images)
        self.w.overlays.set_available(heat, any(im.mask is not None for im in images))
        if overlay is not None:
            self.w.overlays.set_contour_level(overlay.pixel_threshold)

    def _on_current_case(self, case_id: str | None) -> None:
        self.update_fit_action()

    def update_fit_action(self) -> None:
        """Offer Fit / Train… when no version of the chosen method scores (an image of) the open case."""
        session = self.w.session
        choice = session.model
        record = session.case(session.current_case_id) if session.current_case_id else None
        modality = missing_modality(choice, record) if record is not None else (None if choice else "fundus")
        method = method_for(modality, choice.name if choice else None) if modality else None
        self.w.model_panel.set_missing(method, modality, choice is not None)

    def open_training(self, method: str, modality: str) -> None:
        """The Retrain dialog, preset for ``method`` on ``modality`` images."""
        dlg = self.w.show_retrain(method)
        dlg.preset(method, modality)
        return dlg

    def _on_case_failed(self, case_id: str, exc: BaseException) -> None:
        """The pixels cannot be read: say so in the review panel (the stored result still shows)."""
        self.w.review_panel.set_image_problem(case_id, describe_load_error(exc))
        self.w.cases.request_overlay(case_id)

    def _on_scores(self, model, scores: dict) -> None:
        self.w.session.scores = dict(scores)
        self.w.worklist.set_scores(scores, model.threshold if model else None)

    def run(self, scope: str) -> None:
        choice = self.w.session.model
        if choice is None:
            self.w.statusBar().showMessage("No fitted model to run: press Fit / Train… in the model panel to make one", 8000)
            return
        if scope == "case":
            ids = [self.w.session.current_case_id] if self.w.session.current_case_id else []
        elif scope == "selection":
            ids = self.w.worklist.selected_ids()
        else:
            ids = [c.id for c in self.w.session.cases]
        records = [r for r in (self.w.session.case(i) for i in ids) if r is not None]
        ok, skipped = runnable(choice, records)
        if not ok:
            text = f"{choice.name} scores {' and '.join(choice.modalities)} images; " + (
                "no case selected" if not records else "none in the chosen case(s)"
            )
            self.w.model_panel.show_error(text)
            self.w.statusBar().showMessage(text, 8000)
            return
        self.w.runs.start(choice, ok, skipped)

    def _on_run_changed(self, run: RunState) -> None:
        self.w.model_panel.show_run(run)
        if run.running:
            if self.w.runs.cancelling:
                self.w.model_panel.progress_text.setText("Cancelling after the case being scored…")
            self.w.worklist.set_pending([c for c in run.remaining if c != run.current], run.current)
            return
        self.w.worklist.set_pending([], None)
        self.w.worklist.resort()
        self.w.statusBar().showMessage(run.summary() + (f" — {run.error}" if run.error else ""), 15000)

    def _on_case_scored(self, run: RunState, case_id: str, result) -> None:
        self.w.cases.invalidate(case_id, run.model.key)
        model = self.w.session.model
        if model is None or model.key != run.model.key:
            return  # a result of another model: stored, not shown
        self.w.session.scores[case_id] = result.score
        self.w.worklist.set_score(case_id, result.score)
        if case_id == self.w.session.current_case_id:
            self.w.cases.request_overlay(case_id)

    def _on_device_changed(self, name: str) -> None:
        self.w.settings.device = name
        try:
            self.w.settings.save()
        except OSError as exc:
            log.warning("cannot save settings: %s", exc)
        self.w.runs.set_device(name)

    def _on_device_info(self, text: str, ok: bool) -> None:
        self.w.model_panel.show_device(text if ok else f"Device problem: {text}", ok)
        self.w.device_label.setText(f"Device: {text}" if ok else "Device: unavailable")
