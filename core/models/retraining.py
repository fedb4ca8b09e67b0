"""Retraining a method from what the reviewers decided and labelled (Qt-free; the Retrain dialog
and scripts use it).

* ``training_data(ws, name)``: which cases a retraining run would learn from.
* ``estimate_seconds(ws, name, config, n)``: a time estimate from this workspace's earlier runs of
  the method (seconds per sample seen), else from the rate the method declares (its capabilities).
* ``train_argv(...)``: the ``anomaly-studio train`` command line (source checkout or bundle); the
  run goes in its own process so a crash or out-of-memory never reaches the GUI.
* ``compare_versions(ws, name, new, old)``: both versions on the reviewed cases NEITHER was trained
  on (the cards record every training image's hash), image AUROC from the reviewers' decisions and
  pixel metrics where labels exist; no recommendation below ``MIN_COMPARE_CASES`` cases.
* ``rollback(ws, name)``: activate the version that was active before the current one.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import StudioError
from core.models import store
from core.models.registry import model_class
from core.models.training_data import has_pixel_labels
from core.runtime.progress import CancelToken, Progress, no_progress
from core.workspace import Workspace

CANCEL_FILE = "CANCEL"  # written into the run folder to ask a run to stop
MIN_COMPARE_CASES = 6  # fewer unseen reviewed cases (with both decisions present): no recommendation


@dataclass
class TrainingData:
    name: str
    modality: str
    normals: list[str] = field(default_factory=list)  # case ids
    labelled: list[str] = field(default_factory=list)  # cases with reviewer pixel labels
    slice_labelled: list[str] = field(default_factory=list)  # MRI cases with slice labels
    uses_labels: bool = False  # the method can learn from real lesions
    uses_slice_labels: bool = False  # a weakly supervised method (RASALoRE)

    @property
    def n_cases(self) -> int:
        """Cases one epoch goes through: the normals, and the slice-labelled volumes of a weakly
        supervised method (reviewer-labelled lesions are mixed into the epoch, not added to it)."""
        return len(self.normals) + (len(set(self.slice_labelled) - set(self.normals)) if self.uses_slice_labels else 0)

    def describe(self) -> str:
        parts = [f"{len(self.normals)} normal {self.modality} case(s)"]
        if self.uses_labels:
            parts.append(f"{len(self.labelled)} case(s) with corrected pixel labels")
        if self.uses_slice_labels:
            parts.append(f"{len(self.slice_labelled)} MRI case(s) with slice labels")
        return ", ".join(parts)


def training_data(ws: Workspace, name: str, modality: str | None = None) -> TrainingData:
    cls = model_class(name)
    caps = cls.capabilities
    modality = modality or store.default_modality(ws, name)
    data = TrainingData(name, modality, uses_labels=caps.uses_labelled_anomalies, uses_slice_labels=caps.uses_slice_labels)
    data.normals = [c.id for c in store.training_normals(ws, modality)]
    if not (data.uses_labels or data.uses_slice_labels):
        return data
    from core.models.rasalore.supervision import has_slice_labels

    for c in ws.cases():
        if c.split == "test" and c.decision is None:
            continue  # evaluation cases count only once a reviewer decided them
        if data.uses_labels and c.image(modality) is not None and has_pixel_labels(ws, c):
            data.labelled.append(c.id)
        if data.uses_slice_labels and c.split != "test" and has_slice_labels(ws, c):
            data.slice_labelled.append(c.id)
    return data


def runs_of(ws: Workspace, name: str) -> list[dict]:
    """The run.json records of the training runs of ``name`` in this workspace, oldest first."""
    out = []
    root = ws.root / "runs"
    for f in sorted(root.glob("*/run.json")) if root.exists() else []:
        try:
            run = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(run, dict) and run.get("model") == name:
            out.append(run)
    return out


def planned_samples(name: str, config: dict, n_images: int) -> int:
    """Training samples a run will see: epochs (both stages for two-stage methods) x samples per
    epoch (the method's ``samples_per_epoch``, else one pass over the images, but at least its
    ``min_samples_per_epoch``)."""
    cls = model_class(name)
    if not cls.capabilities.trained:
        return max(1, n_images)
    s = cls.parse_settings(config)
    epochs = int(getattr(s, "epochs", 1))
    ae = int(getattr(s, "ae_epochs", 0))
    epochs += epochs if ae < 0 else ae  # ae_epochs=-1: the autoencoder trains as long as stage 2
    per_case = max(1, cls.capabilities.samples_per_case)  # RASALoRE: an epoch's unit is a volume of slices
    floor = -(-int(getattr(s, "min_samples_per_epoch", 0)) // per_case)
    per_epoch = int(getattr(s, "samples_per_epoch", 0)) or max(n_images, floor)  # MMRAD: at least 200
    return max(1, epochs * per_epoch)


def estimate_seconds(ws: Workspace, name: str, config: dict, n_samples: int, runs: list[dict] | None = None) -> tuple[float, str]:
    """(seconds, where the figure comes from) for training ``name`` with ``config`` on
    ``n_samples`` images; ``runs`` are the method's run records when the caller already has them
    (:func:`runs_of`). A bad setting raises :class:`core.errors.ConfigError`."""
    caps = model_class(name).capabilities
    if not caps.trained:
        return caps.seconds_per_sample * n_samples, f"memory-bank fit: about {caps.seconds_per_sample:g} s per image on a 2-core CPU"
    seen = planned_samples(name, config, n_samples)
    for run in reversed(runs_of(ws, name) if runs is None else runs):
        if run.get("status") == "done" and not run.get("resumed") and run.get("seconds") and run.get("samples_seen"):
            rate = float(run["seconds"]) / float(run["samples_seen"])
            return rate * seen, f"from run {run['run']} in this workspace ({rate:.2f} s per sample)"
    rate = caps.seconds_per_sample
    return rate * seen, f"rough: {rate:g} s per sample on a 2-core CPU (no earlier run here)"


def train_argv(workspace: Path, name: str, run: str, config: dict, *, resume: bool = False, activate: bool = False) -> list[str]:
    """The ``anomaly-studio train`` command: ``python -m app.main`` from a checkout, the bundled
    executable itself when frozen (PyInstaller)."""
    head = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "app.main"]
    argv = head + ["train", name, "--workspace", str(workspace), "--run-id", run]
    for k, v in config.items():
        argv += ["--config", f"{k}={v}"]
    if resume:
        argv.append("--resume")
    if not activate:
        argv.append("--no-activate")
    return argv


def reviewed_cases(ws: Workspace, modality: str) -> list[str]:
    return [c.id for c in ws.cases() if c.decision is not None and c.image(modality) is not None]


def unseen_cases(ws: Workspace, case_ids: list[str], trained_hashes: set[str]) -> tuple[list[str], list[str]]:
    """(cases none of whose images a version was trained on, the excluded ones)."""
    keep: list[str] = []
    excluded: list[str] = []
    for cid in case_ids:
        shas = {im.sha256 for im in ws.case(cid).images}
        (excluded if shas & trained_hashes else keep).append(cid)
    return keep, excluded


def compare_versions(
    ws: Workspace,
    name: str,
    new: str,
    old: str | None,
    *,
    case_ids: list[str] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """Predict both versions on the reviewed cases neither was trained on (results are stored, as
    any run's are) and evaluate them against the reviewers' decisions and labels. Returns
    {"cases", "excluded", "recommendation", "rows": [{"version", "active", "metrics"}...]}."""
    from core.metrics.evaluate import evaluate

    progress = progress or no_progress
    cancel = cancel or CancelToken()
    versions = [v for v in (new, old) if v]
    found = {v: ws.versions.get(name, v) for v in versions}
    records = {v: r for v, r in found.items() if r is not None}
    cards = {v: r.card for v, r in records.items() if r.card is not None}
    missing = [v for v in versions if v not in cards]
    if missing:
        raise StudioError(f"model {name} has no readable version '{missing[0]}' in {ws.root}")
    trained = {h for c in cards.values() for h in c.training_data}
    candidates = case_ids if case_ids is not None else reviewed_cases(ws, cards[new].modality)
    ids, excluded = unseen_cases(ws, candidates, trained)
    if not ids:
        raise StudioError(
            f"no reviewed case to compare on that neither version was trained on ({len(excluded)} reviewed case(s) "
            "were training data): review cases the models have not seen"
        )
    rows = []
    total = len(ids) * len(versions)
    for k, version in enumerate(versions):
        done_ids = set(store.scores_for(ws, name, version))
        todo = [c for c in ids if c not in done_ids]
        n_before = len(ids) - len(todo)

        def step(done, _total, message, k=k, n_before=n_before, version=version):
            progress(k * len(ids) + n_before + done, total, f"{version}: {message}")

        if todo:  # a version is loaded only when it has cases to predict
            store.predict_cases(ws, store.load_version(ws, name, version), todo, progress=step, cancel=cancel)
        cancel.raise_if_cancelled()
        report = evaluate(ws, name, version, case_ids=ids, truth="review")
        rows.append({"version": version, "active": records[version].active, "metrics": report["metrics"]})
    progress(total, total, "compared")
    return {"model": name, "cases": ids, "excluded": excluded, "rows": rows, "recommendation": recommend(rows, new, len(ids))}


def recommend(rows: list[dict], new: str, n_cases: int) -> str:
    """A sentence for the dialog: which version ranks the unseen reviewed cases better, or why the
    comparison cannot tell."""
    if n_cases < MIN_COMPARE_CASES:
        return f"Too few unseen reviewed cases to recommend a version ({n_cases}; at least {MIN_COMPARE_CASES} needed)."
    by = {r["version"]: r["metrics"].get("image_auroc") for r in rows}
    if any(v is None for v in by.values()):
        return "No recommendation: the unseen reviewed cases need both normal and abnormal decisions."
    if len(by) == 1:
        return f"The new version ranks the {n_cases} unseen reviewed cases with image AUROC {by[new]:.3f}."
    old = next(v for v in by if v != new)
    better = new if by[new] >= by[old] else old
    return f"{'New' if better == new else 'Active'} version ranks the {n_cases} unseen reviewed cases better (image AUROC {by[new]:.3f} vs {by[old]:.3f})."


def rollback(ws: Workspace, name: str, user: str = "system") -> str:
    """Activate the version that was active before the current one (the audit log records every
    activation, so this walks back through them, skipping deleted versions)."""
    current = store.active_version(ws, name)
    known = {v.version for v in store.list_versions(ws, name)}
    for d in ws.versions.activations(name):
        if d.get("active") is False:
            continue
        v = d.get("version")
        if v != current and v in known:
            store.activate(ws, name, v, user=user)
            return v
    raise StudioError(f"no earlier active version of {name} to roll back to")
