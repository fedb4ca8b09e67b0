"""Models inside a workspace (orchestration; the SQL is in core.workspace.versions / .results):

* ``W/models/<name>/<version>/`` holds ``model.pt`` + ``card.json``; the catalog lists the versions,
  marks one active per method and modality, and records each folder's digest at registration.
* Each prediction is stored once (core.workspace.results), so the GUI, the CLI and exports read
  identical numbers without recomputing.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from core.domain import CaseRecord, Decision, LoadedCase
from core.errors import StudioError
from core.hashing import file_sha256
from core.models.base import CARD_FILE, MODEL_FILE, AnomalyModel, AnomalyResult, ModelFolderError
from core.models.contract import FitContext, PredictContext
from core.models.registry import model_class
from core.runtime.progress import CancelToken, Progress, no_progress
from core.workspace.results import ImageResult, StoredResult, result_key
from core.workspace.versions import VersionRecord
from core.workspace.workspace import Workspace

__all__ = [
    "StoredResult",
    "activate",
    "active_version",
    "active_versions",
    "combined_result",
    "combined_scores",
    "delete_version",
    "fit_on_workspace",
    "list_versions",
    "load_result",
    "load_version",
    "predict_cases",
    "register_version",
    "result_arrays",
    "scores_for",
    "set_threshold",
    "store_result",
    "training_normals",
]


# -- training data --------------------------------------------------------------------------------
def training_normals(ws: Workspace, modality: str | None = None) -> list[CaseRecord]:
    """Normals to fit on: cases a reviewer decided are normal, plus known-normal cases of the
    training split. Test-split cases are never used for fitting."""
    out = []
    for c in ws.cases():
        if c.split == "test":
            continue
        reviewed_normal = c.decision == Decision.NORMAL
        known_normal = c.truth == "normal" and c.split == "train"
        if not (reviewed_normal or known_normal):
            continue
        if modality is not None and c.image(modality) is None:
            continue
        out.append(c)
    return out


def modalities_with_normals(ws: Workspace, name: str) -> list[str]:
    """The modalities ``name`` scores that have training normals in this workspace."""
    return [m for m in model_class(name).modalities if training_normals(ws, m)]


# -- versions ---------------------------------------------------------------------------------------
def model_folder(ws: Workspace, name: str, version: str) -> Path:
    """``W/models/<name>/<version>``, with both ids validated and the folder confined to the
    workspace (symlinks resolved): core.workspace.paths."""
    from core.workspace.paths import confine, validate_id

    return confine(ws.root, "models", validate_id("model", name), validate_id("version", version))


def folder_digest(folder: Path) -> str:
    """One sha256 over the folder's card and weights (recorded at registration, checked at load)."""
    import hashlib

    h = hashlib.sha256()
    for name in (CARD_FILE, MODEL_FILE):
        h.update(name.encode())
        h.update(file_sha256(folder / name).encode())
    return h.hexdigest()


def register_version(ws: Workspace, model: AnomalyModel, activate: bool = True, user: str = "system") -> str:
    version = model.card.version
    folder = model_folder(ws, model.name, version)
    model.save(folder)
    ws.versions.register(model.card, Path("models", model.name, version).as_posix(), folder_digest(folder), activate=activate, user=user)
    return version


def list_versions(ws: Workspace, name: str | None = None) -> list[VersionRecord]:
    return ws.versions.list(name)


def active_version(ws: Workspace, name: str, modality: str | None = None) -> str | None:
    return ws.versions.active(name, modality)


def activate(ws: Workspace, name: str, version: str, user: str = "system") -> None:
    ws.versions.activate(name, version, user)


def set_threshold(ws: Workspace, name: str, threshold: float, version: str | None = None, user: str = "system") -> None:
    """Change the operating threshold (calibrated units) of a model version: card.json, the
    catalog's copy of the card, the recorded digest and the stored results' threshold together."""
    import math

    from core.io.atomic import atomic_write_json

    version = version or active_version(ws, name)
    if version is None:
        raise StudioError(f"no fitted '{name}' model in {ws.root}")
    if not math.isfinite(float(threshold)):
        raise StudioError(f"threshold must be a finite number, got {threshold}")
    folder = verified_folder(ws, name, version)
    card = model_class(name).read_card(folder)
    old = card.threshold
    card.threshold = float(threshold)
    atomic_write_json(folder / CARD_FILE, card.to_json())
    ws.versions.update_card(card, folder_digest(folder))
    ws.results.set_threshold(name, version, threshold)
    ws.catalog.audit(user, "model.threshold", None, {"model": name, "version": version, "threshold": [old, float(threshold)]})


def delete_version(ws: Workspace, name: str, version: str, user: str = "system") -> None:
    folder = model_folder(ws, name, version)
    with ws.catalog.transaction():
        ws.versions.delete(name, version)
        ws.results.delete_version(name, version)
        ws.catalog.audit(user, "model.delete", None, {"model": name, "version": version})
    shutil.rmtree(folder, ignore_errors=True)


def verified_folder(ws: Workspace, name: str, version: str) -> Path:
    """The version's folder after checking it is registered and unchanged since registration."""
    record = ws.versions.get(name, version)
    if record is None:
        raise StudioError(f"model {name} has no version '{version}' in {ws.root}")
    folder = model_folder(ws, name, version)
    if record.digest:
        for f in (CARD_FILE, MODEL_FILE):
            if not (folder / f).is_file():
                raise ModelFolderError(f"{folder}: model folder is incomplete ({f} is missing)")
        if folder_digest(folder) != record.digest:
            raise ModelFolderError(
                f"{folder}: the model files changed after the version was registered (card.json or model.pt was modified); "
                "delete the version and fit again"
            )
    return folder


def require_version(ws: Workspace, name: str, version: str | None = None) -> str:
    """The version to use (the active one by default), checked against the catalog only: a bad or
    unknown id is refused before any model code or torch is loaded."""
    from core.workspace.paths import validate_id

    validate_id("model", name)
    model_class(name)  # an unknown method: a ConfigError naming the known ones
    if version is not None:
        validate_id("version", version)
        if ws.versions.get(name, version) is None:
            raise StudioError(f"model {name} has no version '{version}' in {ws.root}")
        return version
    active = active_version(ws, name)
    if active is None:
        raise StudioError(f"no fitted '{name}' model in {ws.root}: run 'anomaly-studio fit {name} --workspace {ws.root}' first")
    return active


def load_version(ws: Workspace, name: str, version: str | None = None, **overrides) -> AnomalyModel:
    version = version or active_version(ws, name)
    if version is None:
        raise StudioError(f"no fitted '{name}' model in {ws.root}: run 'anomaly-studio fit {name} --workspace {ws.root}' first")
    model = model_class(name).load(verified_folder(ws, name, version), **overrides)
    model.attach_store(ws.arrays)
    return model


# -- fitting ------------------------------------------------------------------------------------------
def fit_on_workspace(
    ws: Workspace,
    name: str,
    config: dict | None = None,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    activate_new: bool = True,
    user: str = "system",
    context=None,
    version: str | None = None,
    register: bool = True,
) -> AnomalyModel:
    """Fit ``name`` on the workspace's training normals (plus, as its capabilities declare,
    reviewer-labelled lesions or slice-labelled volumes) and register the new version. ``context``
    (core.training.TrainingContext) gives trained methods a run folder and progress events;
    ``version`` names the new version (default: a new time-stamped id)."""
    from core.models.training_data import labelled_anomalies

    progress = progress or no_progress
    cancel = cancel or CancelToken()
    cls = model_class(name)
    config = dict(config or {})
    if "modality" not in config:
        config["modality"] = default_modality(ws, name)
    model = cls(**config)
    model.attach_store(ws.arrays)
    if version:
        model.card.version = version
    caps = cls.capabilities
    ctx = FitContext(progress=progress, cancel=cancel, training=context)
    if caps.uses_labelled_anomalies and getattr(model.config, "use_labelled_anomalies", False):
        ctx.labelled_anomalies = labelled_anomalies(ws, model.modality)
    cases = training_normals(ws, model.modality)
    if not cases and not caps.uses_slice_labels:
        raise StudioError(f"no normal {model.modality} cases to fit {name} on in {ws.root} ({_normals_hint(ws, name)})")
    loaded: list[LoadedCase] = []
    for i, c in enumerate(cases):
        cancel.raise_if_cancelled()
        progress(i, len(cases), f"loading {c.id}")
        loaded.append(ws.load_case(c))
    if caps.uses_slice_labels:
        ctx.labelled_cases, ctx.labelled_skipped = cls.gather_labelled_cases(ws, progress=progress, cancel=cancel)
    model.fit(loaded, ctx)
    if register:  # under torchrun only rank 0 registers the new version
        register_version(ws, model, activate=activate_new, user=user)
    return model


def _normals_hint(ws: Workspace, name: str) -> str:
    """What to do when ``name`` has no normals of its modality: the modalities that do have them."""
    have = modalities_with_normals(ws, name)
    if have:
        return f"this workspace has normals of {', '.join(have)}: add --config modality={have[0]}"
    elsewhere = sorted({im.modality.value for c in training_normals(ws) for im in c.images})
    if elsewhere:
        from core.models.registry import METHODS

        able = [m for m in sorted(METHODS) if m != name and any(x in model_class(m).modalities for x in elsewhere)]
        return f"its normals are {', '.join(elsewhere)} images, which {name} does not score" + (
            f"; fit {' or '.join(able)} with --config modality={elsewhere[0]}" if able else ""
        )
    return "mark reviewed cases normal, or use the demo's training split"


def default_modality(ws: Workspace, name: str) -> str:
    """The method's first modality, unless only another of its modalities has normals here."""
    mods = model_class(name).modalities
    have = [m for m in mods if training_normals(ws, m)]
    return mods[0] if (mods[0] in have or not have) else have[0]


# -- results --------------------------------------------------------------------------------------------
def store_result(ws: Workspace, model: AnomalyModel, case: LoadedCase, result: AnomalyResult) -> StoredResult:
    name, version = model.name, model.card.version
    images, arrays = {}, {}
    enface: dict = {}  # image name -> en-face map of an OCT volume
    for image_name, m in result.maps.items():
        sha = case.images[image_name].sha256
        has_enface = m.enface is not None and bool(m.enface_on)
        images[image_name] = ImageResult(
            result_key(name, version, sha, "heatmap"),
            result_key(name, version, sha, "mask") if m.mask is not None else None,
            None if m.score is None else float(m.score),
            None if m.raw_score is None else float(m.raw_score),
            m.page,
            result_key(name, version, sha, "enface") if has_enface else None,
            m.enface_on if has_enface else None,
        )
        arrays[image_name] = (m.heatmap, m.mask)
        if has_enface and m.enface is not None:
            enface[image_name] = m.enface
    stored = StoredResult(
        name,
        version,
        case.id,
        float(result.score),
        result.raw_score,
        float(model.card.threshold),
        result.image,
        images,
        dict(result.extras),
        slices=result.slices,
        score_source=result.score_source,
    )
    return ws.results.put(stored, arrays, enface)


def load_result(ws: Workspace, name: str, case_id: str, version: str | None = None) -> StoredResult | None:
    version = version or active_version(ws, name)
    return None if version is None else ws.results.get(name, version, case_id)


def result_arrays(ws: Workspace, result: StoredResult, image: str | None = None, *, required: bool = False):
    """(heatmap, mask) of one image of a stored result (the deciding image by default); with
    ``required`` a lost array raises MissingArrayError ("result incomplete: run again")."""
    return ws.results.image_arrays(result, image, required=required)


def scores_for(ws: Workspace, name: str, version: str | None = None) -> dict[str, float]:
    version = version or active_version(ws, name)
    return {} if version is None else ws.results.scores(name, version)


def _case_progress(progress: Progress, i: int, n: int, case_id: str, step: Progress | None = None) -> Progress:
    """A prediction's own progress shown as case ``i`` of ``n`` with the prediction's message;
    ``step`` also gets the prediction's own (done, total, message) (the window's progress bar)."""

    def report(done: int, total: int, message: str) -> None:
        progress(i, n, f"{case_id}: {message}")
        if step is not None:
            step(done, total, message)

    return report


def active_versions(ws: Workspace, name: str) -> list[VersionRecord]:
    """The active version of ``name`` for each modality (one per modality, newest first)."""
    out: dict[str, VersionRecord] = {}
    for v in sorted(ws.versions.list(name), key=lambda r: r.created, reverse=True):
        if v.active and v.modality not in out:
            out[v.modality] = v
    return list(out.values())


def combined_result(ws: Workspace, name: str, versions: Sequence[str], case_id: str):
    """The case score of ``case_id`` under the given versions of ``name`` (core.workspace.combined)."""
    from core.workspace.combined import combine_results

    results = [r for r in (ws.results.get(name, v, case_id) for v in versions) if r is not None]
    if not results:
        return None
    modality_of = {im.name: im.modality.value for im in ws.case(case_id).images}
    return combine_results(case_id, results, modality_of)


def combined_scores(ws: Workspace, name: str, versions: Sequence[str]) -> dict[str, tuple[float, float]]:
    """{case: (score, threshold)} of every case scored by any of the given versions of ``name``."""
    from core.workspace.combined import combine_case_scores

    per_version = []
    for v in versions:
        record = ws.versions.get(name, v)
        threshold = float(record.card.threshold) if record is not None and record.card is not None else 3.0
        per_version.append((ws.results.scores(name, v), threshold))
    return combine_case_scores(per_version)


def predict_cases(
    ws: Workspace,
    model: AnomalyModel,
    case_ids: Sequence[str],
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    skip_unsupported: bool = True,
    step_progress: Progress | None = None,
    prefetch: int = 1,
) -> tuple[list[StoredResult], list[dict]]:
    """Predict and store. Returns (results, skipped) where skipped lists cases without a usable image.
    ``step_progress`` gets each prediction's own progress (B-scans, slices, images of the case).
    The next ``prefetch`` cases are read on a thread while one is scored, and results are stored on
    another (core.models.prefetch): the same results as one case after the other."""
    from core.models.prefetch import Pipeline

    progress = progress or no_progress
    cancel = cancel or CancelToken()
    skipped: list[dict] = []
    t0 = time.monotonic()

    def load(cid: str):
        record = ws.case(cid)
        if not any(im.modality.value == model.modality for im in record.images) and skip_unsupported:
            return None
        return ws.load_case(record)

    with Pipeline(load, case_ids, ahead=prefetch) as pipe:
        for i, (cid, case) in enumerate(pipe):
            cancel.raise_if_cancelled()
            eta = (time.monotonic() - t0) / i * (len(case_ids) - i) if i else float("nan")
            progress(i, len(case_ids), f"{cid}" + (f" (about {eta:.0f} s left)" if i else ""))
            if case is None:
                skipped.append({"case": cid, "reason": f"no {model.modality} image"})
                continue
            ctx = PredictContext(progress=_case_progress(progress, i, len(case_ids), cid, step_progress), cancel=cancel)
            pipe.store(store_result, ws, model, case, model.predict(case, ctx))
        done = pipe.results()
    progress(len(case_ids), len(case_ids), "done")
    return done, skipped
