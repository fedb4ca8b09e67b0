"""Interactive SAM: point / box prompts -> mask preview, computed on the single GPU worker.

The image embedding is computed once per image content hash (and cached in the workspace's
array store, shared with MIAS-SAM); after that each prompt change only runs the prompt encoder
and mask decoder (core.labels.sam_prompts: clicks become candidate boxes for box-trained
LiteMedSAM, SAM point prompts for point-trained encoders). Requests are coalesced: while a decode runs, newer prompts replace older
waiting ones, so fast clicking never queues stale work. Adding prompts to an existing mask feeds
SAM its previous low-resolution logits (``mask_input``), SAM's own refinement loop.

``prefetch()`` (called when an image is shown) starts the embedding ahead of the first click as
the GPU worker's lowest-priority task (``TaskRunner.submit_idle``): it waits for any model run or
decode, is dropped when the image changes before it starts, and its result is ignored when the
image changed while it ran. A click during the prefetch waits for it instead of encoding twice.
The ``sam_prefetch`` user setting (``ANOMALY_STUDIO_SAM_PREFETCH``) turns it off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


@dataclass
class Prompts:
    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None

    def empty(self) -> bool:
        return not self.points and self.box is None


@dataclass
class SamResult:
    mask: np.ndarray  # bool (H, W)
    score: float
    logits: np.ndarray  # (256, 256) low-res logits of the chosen mask
    decode_ms: float
    generation: int
    crop: tuple[int, int, int, int] | None = None  # native-resolution crop the mask was decoded on (small prompts)


def default_service(store):
    from core.sam.service import get_sam_service

    return get_sam_service("litemedsam", "auto", store=store)


class SamAssist(QObject):
    preview_changed = Signal(object)  # SamResult | None
    status_changed = Signal(str)
    embedding_ready = Signal(bool)

    def __init__(
        self,
        runner,
        store_provider: Callable[[], object],
        service_factory=default_service,
        parent: QObject | None = None,
        prefetch_enabled: bool | None = None,
    ):
        super().__init__(parent)
        if prefetch_enabled is None:
            from core.settings import Settings

            prefetch_enabled = Settings.load().resolved_sam_prefetch()
        self.prefetch_enabled = prefetch_enabled
        self.runner = runner
        self.store_provider = store_provider
        self.service_factory = service_factory
        self.image: np.ndarray | None = None
        self.sha: str | None = None
        self.prompts = Prompts()
        self.result: SamResult | None = None
        self._embedding: np.ndarray | None = None
        self._embedding_for: str | None = None
        self._embedding_pending: str | None = None
        self._prefetch_task = None  # workers.pool.IdleTask of a prefetch still waiting to start
        self._generation = 0  # bumps on every prompt change
        self._decoding = False
        self._wanted = False
        self.last_decode_ms: float | None = None
        self.last_encode_s: float | None = None

    # -- image -----------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray | None, sha: str | None) -> None:
        if sha == self.sha and image is not None:
            return
        self.image, self.sha = image, sha
        self.clear(quiet=True)
        if self._embedding_for != sha:
            self._embedding = None
        if self._prefetch_task is not None and self._prefetch_task.cancel():
            self._embedding_pending = None  # the prefetch of the previous image never starts
        self._prefetch_task = None

    @property
    def prefetch_task(self):
        """The prefetch still waiting for the worker (``IdleTask``), or None."""
        return self._prefetch_task

    def has_embedding(self) -> bool:
        return self._embedding is not None and self._embedding_for == self.sha

    def ensure_embedding(self) -> None:
        """Encode the image now (a click needs it): at normal priority, unless a prefetch of this
        image is already running (then the click waits for that)."""
        if self.image is None or self.has_embedding():
            return
        if self._embedding_pending == self.sha:
            task = self._prefetch_task
            if task is None or task.started or not task.cancel():
                return  # already being encoded
        self._prefetch_task = None
        self._embedding_pending = self.sha
        self.status_changed.emit("SAM: preparing this image (first time only)…")
        self.runner.submit(self._embedding_work(), on_done=self._on_embedding, on_error=self._on_embedding_error)

    def prefetch(self) -> None:
        """Start this image's embedding in the background so the first click does not pay for it."""
        if not self.prefetch_enabled or self.image is None or self.has_embedding() or self._embedding_pending == self.sha:
            return
        submit_idle = getattr(self.runner, "submit_idle", None)
        if submit_idle is None:
            return
        self._embedding_pending = self.sha
        self._prefetch_task = submit_idle(self._embedding_work(), on_done=self._on_embedding, on_error=self._on_embedding_error)

    def _embedding_work(self):
        store = self.store_provider()
        image, sha = self.image, self.sha

        def work():
            t0 = time.perf_counter()
            service = self.service_factory(store)
            emb = service.embedding(image, sha)
            prepare = getattr(service, "prepare_graphs", None)  # the decoder's session too, before the first click
            if prepare is not None:
                prepare()
            return sha, emb, time.perf_counter() - t0

        return work

    def _on_embedding(self, result) -> None:
        sha, emb, seconds = result
        if self._embedding_pending == sha:
            self._embedding_pending = None
            self._prefetch_task = None
        if sha != self.sha:
            return  # the image changed while it was encoded
        self._embedding, self._embedding_for = emb, sha
        self.last_encode_s = seconds
        self.status_changed.emit(f"SAM ready ({seconds:.1f} s to prepare). Click inside the structure.")
        self.embedding_ready.emit(True)
        if not self.prompts.empty():
            self._request()

    def _on_embedding_error(self, exc: BaseException) -> None:
        self._embedding_pending = None
        self._prefetch_task = None
        log.error("SAM embedding failed: %s", exc)
        self.status_changed.emit(f"SAM unavailable: {exc}")
        self.embedding_ready.emit(False)

    # -- prompts ---------------------------------------------------------------------------------
    def add_point(self, x: float, y: float, positive: bool = True) -> None:
        self.prompts.points.append((float(x), float(y)))
        self.prompts.labels.append(1 if positive else 0)
        self._request()

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.prompts.box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        self._request()

    def clear(self, quiet: bool = False) -> None:
        self.prompts = Prompts()
        self.result = None
        self._generation += 1
        self._wanted = False
        if not quiet:
            self.preview_changed.emit(None)

    def _request(self) -> None:
        self._generation += 1
        if self.image is None or self.prompts.empty():
            return
        if not self.has_embedding():
            self.ensure_embedding()
            return
        if self._decoding:
            self._wanted = True  # coalesce: decode the newest prompts when this one returns
            return
        self._submit_decode()

    def _submit_decode(self) -> None:
        from core.labels.sam_prompts import PromptResult, predict_prompts
        from core.sam.crop import mask_is_small, predict_small_prompts

        self._decoding, self._wanted = True, False
        p = self.prompts
        pts = np.asarray(p.points, np.float32).reshape(-1, 2) if p.points else None
        labels = np.asarray(p.labels, np.int64) if p.points else None
        box = np.asarray(p.box, np.float32) if p.box is not None else None
        prev = None
        if self.result is not None and len(p.points) > 1:
            prev = PromptResult(self.result.mask, self.result.score, self.result.logits, None, 0.0, self.result.crop)
        hw = tuple(self.image.shape[:2])
        emb, store, generation, image, sha = self._embedding, self.store_provider(), self._generation, self.image, self.sha

        def work():
            t0 = time.perf_counter()
            service = self.service_factory(store)
            whole_prev = prev if prev is not None and prev.crop is None else None
            res = predict_prompts(service, emb, hw, points=pts, labels=labels, box=box, previous=whole_prev)
            if res is None or mask_is_small(res.mask):
                # a small structure: a native-resolution crop around the prompts (None: not small, or it outgrows the crop)
                res = predict_small_prompts(service, image, sha, points=pts, labels=labels, box=box, previous=prev) or res
            ms = (time.perf_counter() - t0) * 1000.0
            if res is None:
                return SamResult(np.zeros(hw, bool), 0.0, np.zeros((256, 256), np.float32), ms, generation)
            return SamResult(res.mask, res.score, res.logits, ms, generation, res.crop)

        self.runner.submit(work, on_done=self._on_decoded, on_error=self._on_decode_error)

    def _on_decoded(self, result: SamResult) -> None:
        self._decoding = False
        self.last_decode_ms = result.decode_ms
        if result.generation == self._generation:
            self.result = result
            self.preview_changed.emit(result)
            n = int(result.mask.sum())
            if n:
                log.debug("SAM decode: %d px, predicted IoU %.3f, %.0f ms", n, result.score, result.decode_ms)
                self.status_changed.emit(f"SAM mask of {n:,} pixels, {fit_words(result.score)}. Enter accepts, Esc clears.")
            else:
                self.status_changed.emit("SAM found no region that fits these clicks: try a box (drag) or another click.")
        if self._wanted or result.generation != self._generation:
            if not self.prompts.empty():
                self._submit_decode()

    def _on_decode_error(self, exc: BaseException) -> None:
        self._decoding = False
        log.error("SAM decode failed: %s", exc)
        self.status_changed.emit(f"SAM failed: {exc}")

    def busy(self) -> bool:
        return self._decoding or self._embedding_pending is not None


def fit_words(predicted_iou: float) -> str:
    """SAM's own estimate of how well its mask fits, in words (the raw number goes to the log)."""
    if predicted_iou >= 0.85:
        return "SAM is confident of its outline"
    if predicted_iou >= 0.6:
        return "SAM is fairly sure of its outline: check the edges"
    return "SAM is unsure of its outline: add a click or drag a box"
