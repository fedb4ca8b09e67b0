"""Models inside a workspace: version folders, the active version, stored results.

* ``W/models/<name>/<version>/`` holds ``model.pt`` + ``card.json``; the catalog's
  ``model_versions`` table lists them and marks one active per method.
* Each prediction is stored once: the case score in ``results`` and every image's calibrated
  heatmap (and mask) in ``arrays.h5`` under ``results/<name>/<version>/<image sha256>/...``, so
  the GUI, the CLI and exports read identical numbers without recomputing.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.domain import CaseRecord, Decision, LoadedCase
from core.errors import StudioError, WorkspaceError
from core.models.base import AnomalyModel, AnomalyResult
from core.models.registry import model_class
from core.runtime.progress import CancelToken, Progress, no_progress
from core.workspace.catalog import now_iso
from core.workspace.workspace import Workspace


@dataclass
class StoredResult:
    model: str
    version: str
    case_id: str
    score: float
    raw_score: float | None
    threshold: float | None
    image: str
    maps: dict[str, dict] = field(default_factory=dict)  # image name -> {"heatmap": key, "mask": key, "score": z}
    extras: dict = field(default_factory=dict)
    created: str = ""

    def is_abnormal(self) -> bool | None:
        return None if self.threshold is None else self.score >= self.threshold


def _key(name: str, version: str, sha: str, what: str) -> str:
    return f"results/{name}/{version}/{sha}/{what}"


# -- training data ------------------------------------------------------------------------------
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


def labelled_pages(ws: Workspace, case, *, first_per_image: bool = False):
    """(image record, page, LabelMe document) of every fundus / OCT image page of ``case`` whose
    labels hold at least one shape (page None for a single image); with ``first_per_image`` only a
    B-scan stack's first labelled page."""
    for rec in case.images:
        if rec.modality.value not in ("fundus", "oct"):
            continue
        for page in [None] if not rec.is_stack else range(rec.shape[0]):
            doc = ws.read_labels(rec, page)
            if doc is not None and doc.shapes:
                yield rec, page, doc
                if first_per_image:
                    break


def has_pixel_labels(ws: Workspace, case) -> bool:
    return next(labelled_pages(ws, case), None) is not None


def labelled_anomalies(ws: Workspace, modality: str | None = None) -> list:
    """Cases with reviewer (or ground-truth) pixel labels, for mixing real anomalies into the
    training of the synthetic-anomaly methods. Test-split cases count only once a reviewer has
    decided them (so evaluation cases are never trained on unless reviewed). Each image with a
    LabelMe document comes with its union mask; a B-scan stack gives its first labelled page.
    Returns ``core.data.anomaly_synthesis.real.LabelledCase`` objects; cases whose labels hold no
    shape are skipped."""
    from core.data.anomaly_synthesis.real import LabelledCase, LabelledImage

    out = []
    for c in ws.cases():
        if c.split == "test" and c.decision is None:
            continue
        if modality is not None and c.image(modality) is None:
            continue
        labelled = LabelledCase(c.id)
        loaded = None
        for rec, page, doc in labelled_pages(ws, c, first_per_image=True):
            loaded = loaded or ws.load_case(c)
            pixels = loaded.images[rec.name].array
            pixels = pixels[page] if page is not None else pixels
            labelled.images[rec.name] = LabelledImage(rec.name, rec.modality.value, pixels, doc.union_mask())
        if labelled.images:
            out.append(labelled)
    return out


# -- versions -----------------------------------------------------------------------------------
def model_folder(ws: Workspace, name: str, version: str) -> Path:
    return ws.root / "models" / name / version


def register_version(ws: Workspace, model: AnomalyModel, activate: bool = True, user: str = "system") -> str:
    version = model.card.version
    folder = model_folder(ws, model.name, version)
    model.save(folder)
    rel = folder.relative_to(ws.root).as_posix()
    with ws.catalog.transaction() as c:
        if activate:
            c.execute("UPDATE model_versions SET active=0 WHERE name=?", (model.name,))
        c.execute(
            "INSERT OR REPLACE INTO model_versions(name, version, path, created, active, card) VALUES(?,?,?,?,?,?)",
            (model.name, version, rel, now_iso(), 1 if activate else 0, json.dumps(model.card.to_json())),
        )
        ws.catalog.audit(user, "model.register", None, {"model": model.name, "version": version, "active": activate})
    return version


def list_versions(ws: Workspace, name: str | None = None) -> list[dict]:
    sql = "SELECT name, version, path, created, active, status, card FROM model_versions"
    rows = ws.catalog.query(sql + (" WHERE name=?" if name else "") + " ORDER BY name, created", (name,) if name else ())
    return [dict(r) | {"card": json.loads(r["card"]), "active": bool(r["active"])} for r in rows]


def active_version(ws: Workspace, name: str) -> str | None:
    row = ws.catalog.query_one("SELECT version FROM model_versions WHERE name=? AND active=1", (name,))
    return row["version"] if row else None


def activate(ws: Workspace, name: str, version: str, user: str = "system") -> None:
    if not ws.catalog.query_one("SELECT 1 FROM model_versions WHERE name=? AND version=?", (name, version)):
        raise WorkspaceError(f"model {name} has no version '{version}' in {ws.root}")
    with ws.catalog.transaction() as c:
        c.execute("UPDATE model_versions SET active=(version=?) WHERE name=?", (version, name))
        ws.catalog.audit(user, "model.activate", None, {"model": name, "version": version})


def set_threshold(ws: Workspace, name: str, threshold: float, version: str | None = None, user: str = "system") -> None:
    """Change the operating threshold (calibrated units) of a model version: card.json, the
    catalog's copy of the card and the stored results' threshold are updated together."""
    from core.io.atomic import atomic_write_json
    from core.models.base import CARD_FILE

    version = version or active_version(ws, name)
    if version is None:
        raise StudioError(f"no fitted '{name}' model in {ws.root}")
    if not math.isfinite(float(threshold)):
        raise StudioError(f"threshold must be a finite number, got {threshold}")
    card_path = model_folder(ws, name, version) / CARD_FILE
    card = json.loads(card_path.read_text(encoding="utf-8"))
    old = card.get("threshold")
    card["threshold"] = float(threshold)
    atomic_write_json(card_path, card)
    with ws.catalog.transaction() as c:
        c.execute("UPDATE model_versions SET card=? WHERE name=? AND version=?", (json.dumps(card), name, version))
        c.execute("UPDATE results SET threshold=? WHERE model=? AND version=?", (float(threshold), name, version))
        ws.catalog.audit(user, "model.threshold", None, {"model": name, "version": version, "threshold": [old, float(threshold)]})


def delete_version(ws: Workspace, name: str, version: str, user: str = "system") -> None:
    with ws.catalog.transaction() as c:
        c.execute("DELETE FROM model_versions WHERE name=? AND version=?", (name, version))
        c.execute("DELETE FROM results WHERE model=? AND version=?", (name, version))
        ws.catalog.audit(user, "model.delete", None, {"model": name, "version": version})
    shutil.rmtree(model_folder(ws, name, version), ignore_errors=True)


def load_version(ws: Workspace, name: str, version: str | None = None, **overrides) -> AnomalyModel:
    version = version or active_version(ws, name)
    if version is None:
        raise StudioError(f"no fitted '{name}' model in {ws.root}: run 'anomaly-studio fit {name} --workspace {ws.root}' first")
    model = model_class(name).load(model_folder(ws, name, version), **overrides)
    model.attach_store(ws.arrays)
    return model


# -- fitting ------------------------------------------------------------------------------------
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
    """Fit ``name`` on the workspace's training normals (and, for a model with
    ``needs_labelled_cases``, its slice-labelled training cases) and register the new version.
    ``context`` (core.training.TrainingContext) gives trained methods a run folder and progress
    events; ``version`` names the new version (default: a new time-stamped id)."""
    progress = progress or no_progress
    model = model_class(name)(**(config or {}))
    model.attach_store(ws.arrays)
    model.training_context = context
    if version:
        model.card.version = version
    if model.config.get("use_labelled_anomalies"):
        model.labelled_anomalies = labelled_anomalies(ws, model.config["modality"])
    cases = training_normals(ws, model.config["modality"])
    if not cases and not getattr(model, "needs_labelled_cases", False):
        raise StudioError(
            f"no normal {model.config['modality']} cases to fit {name} on in {ws.root} "
            "(mark reviewed cases normal, or use the demo's training split)"
        )
    loaded: list[LoadedCase] = []
    for i, c in enumerate(cases):
        (cancel or CancelToken()).raise_if_cancelled()
        progress(i, len(cases), f"loading {c.id}")
        loaded.append(ws.load_case(c))
    if getattr(model, "needs_labelled_cases", False):
        # Weakly supervised methods (RASALoRE) also learn from training cases with slice-level
        # labels (label volumes, per-slice review decisions), abnormal ones included; the model
        # class says how to gather them and keeps them in ``model.labelled_cases``.
        model.labelled_cases, model.labelled_skipped = model.gather_labelled_cases(ws, progress=progress, cancel=cancel)
    model.fit(loaded, progress=progress, cancel=cancel)
    if register:  # under torchrun only rank 0 registers the new version
        register_version(ws, model, activate=activate_new, user=user)
    return model


# -- results ------------------------------------------------------------------------------------
def store_result(ws: Workspace, model: AnomalyModel, case: LoadedCase, result: AnomalyResult) -> StoredResult:
    name, version = model.name, model.card.version
    maps = {}
    for image_name, m in result.maps.items():
        sha = case.images[image_name].sha256
        entry = {"heatmap": _key(name, version, sha, "heatmap"), "score": m.score, "raw_score": m.raw_score}
        ws.arrays.put(entry["heatmap"], np.asarray(m.heatmap, np.float32))
        if m.mask is not None:
            entry["mask"] = _key(name, version, sha, "mask")
            ws.arrays.put(entry["mask"], np.asarray(m.mask, bool))
        maps[image_name] = entry
    extras = _jsonable(result.extras)
    created = now_iso()
    with ws.catalog.transaction() as c:
        c.execute(
            "INSERT OR REPLACE INTO results(model, version, case_id, image, score, raw_score, threshold, maps, extras, created)"
            " VALUES(?,?,?,?,?,?,?,?,?,?)",
            (
                name,
                version,
                case.id,
                result.image,
                float(result.score),
                _finite(result.raw_score),
                float(model.card.threshold),
                json.dumps(maps),
                json.dumps(extras),
                created,
            ),
        )
    return StoredResult(
        name,
        version,
        case.id,
        float(result.score),
        _finite(result.raw_score),
        float(model.card.threshold),
        result.image,
        maps,
        extras,
        created,
    )


def load_result(ws: Workspace, name: str, case_id: str, version: str | None = None) -> StoredResult | None:
    version = version or active_version(ws, name)
    if version is None:
        return None
    r = ws.catalog.query_one("SELECT * FROM results WHERE model=? AND version=? AND case_id=?", (name, version, case_id))
    if r is None:
        return None
    return StoredResult(
        r["model"],
        r["version"],
        r["case_id"],
        r["score"],
        r["raw_score"],
        r["threshold"],
        r["image"],
        json.loads(r["maps"]),
        json.loads(r["extras"]),
        r["created"],
    )


def result_arrays(ws: Workspace, result: StoredResult, image: str | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(heatmap, mask) of one image of a stored result (the primary image by default)."""
    entry = result.maps.get(image or result.image)
    if not entry:
        return None, None
    heat = ws.arrays.get(entry["heatmap"])
    mask = ws.arrays.get(entry["mask"]) if entry.get("mask") else None
    return heat, mask


def scores_for(ws: Workspace, name: str, version: str | None = None) -> dict[str, float]:
    version = version or active_version(ws, name)
    if version is None:
        return {}
    rows = ws.catalog.query("SELECT case_id, score FROM results WHERE model=? AND version=?", (name, version))
    return {r["case_id"]: r["score"] for r in rows}


def predict_cases(
    ws: Workspace,
    model: AnomalyModel,
    case_ids: Sequence[str],
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    skip_unsupported: bool = True,
) -> tuple[list[StoredResult], list[dict]]:
    """Predict and store. Returns (results, skipped) where skipped lists cases without a usable image."""
    progress = progress or no_progress
    done, skipped = [], []
    t0 = time.monotonic()
    for i, cid in enumerate(case_ids):
        if cancel is not None:
            cancel.raise_if_cancelled()
        eta = (time.monotonic() - t0) / i * (len(case_ids) - i) if i else float("nan")
        progress(i, len(case_ids), f"{cid}" + (f" (about {eta:.0f} s left)" if i else ""))
        record = ws.case(cid)
        if not any(im.modality.value == model.config["modality"] for im in record.images):
            if skip_unsupported:
                skipped.append({"case": cid, "reason": f"no {model.config['modality']} image"})
                continue
        case = ws.load_case(record)
        model.prediction_progress = lambda d, t, msg, _i=i, _cid=cid: progress(_i, len(case_ids), f"{_cid}: {msg}")
        model.prediction_cancel = cancel
        try:
            result = model.predict(case)
        finally:
            model.prediction_progress = model.prediction_cancel = None
        done.append(store_result(ws, model, case, result))
    progress(len(case_ids), len(case_ids), "done")
    return done, skipped


def _finite(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if not isinstance(v, np.ndarray) or v.size <= 64}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
