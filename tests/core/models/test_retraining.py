"""Retraining helpers: which data a run uses, the time estimate, the train command line, the
file-based cancel request, and rolling back to the previously active version."""

from __future__ import annotations

import json
import sys

import pytest

from core.errors import CancelledError, StudioError
from core.models import retraining, store
from core.models.registry import model_class
from core.training.context import FileCancelToken
from core.workspace import Workspace


def test_training_data_counts_normals_and_reviewed_labels(small_demo):
    ws = Workspace.open(small_demo)
    data = retraining.training_data(ws, "resynthdetect")
    assert data.modality == "fundus" and data.uses_labels
    assert sorted(data.normals) == sorted(c.id for c in store.training_normals(ws, "fundus"))
    assert data.labelled == []  # lesion cases are test cases nobody reviewed yet
    ws.set_review("FUN-L01", "rev", decision="abnormal")
    data = retraining.training_data(ws, "resynthdetect")
    assert data.labelled == ["FUN-L01"] and "1 case(s) with corrected pixel labels" in data.describe()
    mri = retraining.training_data(ws, "rasalore")
    assert mri.modality == "mri" and not mri.uses_labels
    assert any(c.startswith("MRI-WS") for c in mri.slice_labelled)  # training cases with label volumes
    assert not any(ws.case(c).split == "test" for c in mri.slice_labelled)


def test_rasalore_training_data_counts_slice_labelled_volumes(small_demo):
    ws = Workspace.open(small_demo)
    data = retraining.training_data(ws, "rasalore")
    assert data.uses_slice_labels and not data.uses_labels
    assert "MRI-WS01" in data.slice_labelled and "MRI-WS01" not in data.normals
    assert data.n_cases == len(data.normals) + len(data.slice_labelled) and "slice labels" in data.describe()
    assert retraining.training_data(ws, "resynthdetect").n_cases == len(retraining.training_data(ws, "resynthdetect").normals)


def test_planned_samples_and_estimate_from_an_earlier_run(small_demo):
    # ReSynthDetect: ae_epochs=-1 trains the autoencoder as long as stage 2
    assert retraining.planned_samples("resynthdetect", {"epochs": "10", "samples_per_epoch": "8"}, 5) == 160
    assert retraining.planned_samples("resynthdetect", {"epochs": 10, "ae_epochs": 2}, 5) == 60
    assert retraining.planned_samples("patchcore", {}, 7) == 7
    assert retraining.planned_samples("mmrad", {}, 14) == 200  # one epoch of at least 200 simulated cases
    # RASALoRE counts volumes; its floor of training slices per epoch becomes volumes of about 30 slices
    assert retraining.planned_samples("rasalore", {"epochs": 10, "min_samples_per_epoch": 256}, 5) == 10 * 9
    assert retraining.planned_samples("rasalore", {"epochs": 10, "min_samples_per_epoch": 0}, 5) == 10 * 5
    ws = Workspace.open(small_demo)
    seconds, source = retraining.estimate_seconds(ws, "resynthdetect", {"epochs": 10, "ae_epochs": 0}, 5)
    assert seconds == pytest.approx(model_class("resynthdetect").capabilities.seconds_per_sample * 50) and "rough" in source
    run = small_demo / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "run.json").write_text(
        json.dumps({"run": "r1", "model": "resynthdetect", "status": "done", "seconds": 20.0, "samples_seen": 100})
    )
    seconds, source = retraining.estimate_seconds(ws, "resynthdetect", {"epochs": 10, "ae_epochs": 0}, 5)
    assert seconds == pytest.approx(0.2 * 50) and "r1" in source


def test_train_argv_from_source_and_frozen(tmp_path, monkeypatch):
    argv = retraining.train_argv(tmp_path, "mmrad", "R1", {"epochs": 3}, resume=True)
    assert argv[:3] == [sys.executable, "-m", "app.main"]
    assert argv[3:] == [
        "train",
        "mmrad",
        "--workspace",
        str(tmp_path),
        "--run-id",
        "R1",
        "--config",
        "epochs=3",
        "--resume",
        "--no-activate",
    ]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert retraining.train_argv(tmp_path, "mmrad", "R1", {})[:2] == [sys.executable, "train"]


def test_file_cancel_token(tmp_path):
    token = FileCancelToken(tmp_path / "CANCEL")
    assert not token.cancelled
    token.raise_if_cancelled()
    (tmp_path / "CANCEL").write_text("x")
    assert token.cancelled
    with pytest.raises(CancelledError):
        token.raise_if_cancelled()


def test_file_cancel_token_ignores_a_request_left_from_an_earlier_run(tmp_path):
    import os
    import time

    stale = tmp_path / "CANCEL"
    stale.write_text("x")
    os.utime(stale, (time.time() - 60, time.time() - 60))  # written before this run started
    token = FileCancelToken(stale)
    assert not token.cancelled
    stale.write_text("again")  # a new request
    assert token.cancelled


class _Fake:
    def __init__(self, version):
        from core.models.base import ModelCard

        self.name = "patchcore"
        self.card = ModelCard(method="patchcore", paper="", config={"modality": "fundus"}, version=version, calibration={"n": 2})

    def save(self, folder):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "card.json").write_text(json.dumps(self.card.to_json()))
        (folder / "model.pt").write_bytes(b"weights")


def test_rollback_walks_back_through_activations(small_demo):
    ws = Workspace.open(small_demo)
    with pytest.raises(StudioError):
        retraining.rollback(ws, "patchcore")
    for v in ("a", "b"):
        store.register_version(ws, _Fake(v), activate=True)
    store.register_version(ws, _Fake("c"), activate=False)  # trained, never activated
    assert store.active_version(ws, "patchcore") == "b"
    assert retraining.rollback(ws, "patchcore") == "a"
    assert store.active_version(ws, "patchcore") == "a"
    store.activate(ws, "patchcore", "c")
    assert retraining.rollback(ws, "patchcore") == "a"  # back to the one active before c
