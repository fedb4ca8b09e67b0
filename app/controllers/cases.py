"""Opening cases: pixels from a small LRU cache or the I/O pool, the stored model result for the
display, prefetching of the worklist neighbours, and the case-id guard that keeps late answers
from being shown on the wrong case."""

from __future__ import annotations

import logging
from collections import OrderedDict

from PySide6.QtCore import QObject, Signal

from app.state.case_cache import CaseCache
from app.state.overlays import CaseOverlay, load_case_overlay
from app.state.runs import ModelChoice, load_scores
from app.workers.pool import TaskRunner
from core.domain import LoadedCase

log = logging.getLogger(__name__)


class CaseController(QObject):
    case_loaded = Signal(object)  # LoadedCase of the current case
    case_failed = Signal(str, object)  # case id, exception
    overlay_ready = Signal(str, object)  # case id, CaseOverlay | None (current case and model only)
    scores_ready = Signal(object, dict)  # ModelChoice, {case id: score}

    def __init__(self, session, io: TaskRunner, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.io = io
        self.cache = CaseCache()
        self._overlays: OrderedDict[tuple, CaseOverlay | None] = OrderedDict()
        self._pending: set[str] = set()
        self._overlay_request = 0

    # -- pixels ------------------------------------------------------------------------------
    def open(self, case_id: str) -> bool:
        """Load the case; ``case_loaded`` fires at once from the cache (returns True) or later."""
        cached = self.cache.get(case_id)
        if cached is not None:
            self.case_loaded.emit(cached)
            return True
        self._load(case_id)
        return False

    def load_now(self, case_id: str) -> LoadedCase:
        case = self.cache.get(case_id) or self.session.workspace.load_case(case_id)
        self.cache.put(case)
        return case

    def prefetch(self, case_ids: list[str]) -> None:
        for cid in case_ids:
            if cid and cid not in self.cache and cid not in self._pending:
                self._load(cid, prefetch=True)

    def _load(self, case_id: str, prefetch: bool = False) -> None:
        self._pending.add(case_id)
        ws = self.session.workspace
        self.io.submit(
            ws.load_case,
            case_id,
            on_done=lambda case, w=ws: self._on_loaded(case, w),
            on_error=lambda e, cid=case_id, p=prefetch: self._on_error(cid, e, p),
        )

    def _on_loaded(self, case: LoadedCase, ws) -> None:
        self._pending.discard(case.id)
        if ws is not self.session.workspace:
            return
        self.cache.put(case)
        if case.id == self.session.current_case_id:
            self.case_loaded.emit(case)

    def _on_error(self, case_id: str, exc: BaseException, prefetch: bool) -> None:
        self._pending.discard(case_id)
        if case_id == self.session.current_case_id:
            self.case_failed.emit(case_id, exc)
        elif not prefetch:
            log.info("load of %s failed after the user moved on: %s", case_id, exc)

    def forget(self) -> None:
        """A new workspace: nothing cached belongs to it."""
        self.cache.clear()
        self._overlays.clear()

    # -- model results -------------------------------------------------------------------------
    def cached_overlay(self, case_id: str, model: ModelChoice | None):
        if model is None:
            return None
        return self._overlays.get((case_id, model.key))

    def request_overlay(self, case_id: str) -> None:
        """Load the current model's stored result of ``case_id`` for display (I/O pool)."""
        model = self.session.model
        if model is None:
            self.overlay_ready.emit(case_id, None)
            return
        key = (case_id, model.key)
        if key in self._overlays:
            self._overlays.move_to_end(key)
            self.overlay_ready.emit(case_id, self._overlays[key])
            return
        self._overlay_request += 1
        request = self._overlay_request
        self.io.submit(
            load_case_overlay,
            self.session.workspace,
            model,
            case_id,
            on_done=lambda ov: self._on_overlay(key, request, ov),
            on_error=lambda e: self._on_overlay_error(key, e),
        )

    def load_overlay_now(self, case_id: str) -> CaseOverlay | None:
        model = self.session.model
        if model is None:
            return None
        ov = load_case_overlay(self.session.workspace, model, case_id)
        self._remember(case_id, model.key, ov)
        return ov

    def invalidate(self, case_id: str, model_key: tuple) -> None:
        self._overlays.pop((case_id, model_key), None)

    def _remember(self, case_id: str, model_key: tuple, ov) -> None:
        self._overlays[(case_id, model_key)] = ov
        while len(self._overlays) > 48:
            self._overlays.popitem(last=False)

    def _on_overlay(self, key: tuple, request: int, ov: CaseOverlay | None) -> None:
        case_id, model_key = key
        self._remember(case_id, model_key, ov)
        model = self.session.model
        # the guard: only the current case, under the current model, gets it
        if case_id == self.session.current_case_id and model is not None and model.key == model_key:
            self.overlay_ready.emit(case_id, ov)

    def _on_overlay_error(self, key: tuple, exc: BaseException) -> None:
        log.error("cannot load the stored result of %s for %s: %s", key[1], key[0], exc)
        if key[0] == self.session.current_case_id:
            self.overlay_ready.emit(key[0], None)

    def request_scores(self) -> None:
        model = self.session.model
        if model is None:
            self.scores_ready.emit(None, {})
            return
        self.io.submit(load_scores, self.session.workspace, model, on_done=lambda scores, m=model: self._on_scores(m, scores))

    def _on_scores(self, model: ModelChoice, scores: dict) -> None:
        if self.session.model is not None and self.session.model.key == model.key:
            self.scores_ready.emit(model, scores)
