"""ReSynthDetect on tiny CPU configurations: both stages train (loss goes down), the model
contract (shapes, finite, save/load, cancel), resume from a checkpoint, JSON-lines training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.domain import LoadedCase
from core.errors import CancelledError
from core.models.contract import FitContext
from core.runtime.progress import CancelToken
from core.training import TrainingContext

TINY = dict(
    image_size=64,
    base_channels=8,
    levels=4,
    epochs=4,
    ae_epochs=3,
    batch_size=4,
    samples_per_epoch=8,
    lr=2e-3,
    min_lr=1e-3,
    warmup_epochs=0,
    device="cpu",
    seed=3,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only add overhead on a shared 2-core machine
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def cases():
    import cv2

    from core.data.synthetic import fundus as F

    rng = np.random.default_rng(0)
    retina = F.load_retina()
    return [
        LoadedCase.from_arrays(f"N{i}", fundus=cv2.resize(F.random_derivation(rng).apply(retina), (120, 120), interpolation=cv2.INTER_AREA))
        for i in range(5)
    ]


@pytest.fixture(scope="module")
def fitted(cases, tmp_path_factory):
    from core.models.resynthdetect.model import ReSynthDetect

    events = []
    model = ReSynthDetect(**TINY)
    model_run = TrainingContext(run_dir=tmp_path_factory.mktemp("run"), emit=events.append)
    model.fit(cases, FitContext(training=model_run))
    return model, events


def test_both_stages_train_and_loss_goes_down(fitted):
    model, events = fitted
    hist = model.card.metrics["training_history"]
    ae, loc = hist["autoencoder"], hist["localization"]
    assert len(ae) == 3 and len(loc) == 4
    assert ae[-1]["loss"] < ae[0]["loss"]
    assert loc[-1]["loss"] < loc[0]["loss"]
    steps = [e for e in events if e["event"] == "step"]
    assert {e["stage"] for e in steps} == {"autoencoder", "localization"}
    assert all({"epoch", "step", "loss", "lr", "eta_s", "terms"} <= set(e) for e in steps)


def test_contract_shapes_finite_and_top_k_score(fitted, cases):
    model, _ = fitted
    grey = LoadedCase.from_arrays("G", fundus=cases[0].images["fundus"].array.mean(axis=-1).astype(np.uint8))
    for case in (cases[0], grey):
        r = model.predict(case)
        arr = case.images["fundus"].array
        assert r.heatmap.shape == arr.shape[:2] and np.isfinite(r.heatmap).all() and np.isfinite(r.score)
    prob = model.probability_map(cases[1].images["fundus"].array)
    raw = model.predict(cases[1]).raw_score
    assert raw == pytest.approx(float(np.sort(prob.ravel())[-10:].mean()), rel=1e-6)
    assert model.card.calibration["n"] >= 1 and model.card.deviations


def test_save_load_gives_identical_outputs(fitted, cases, tmp_path):
    from core.models.resynthdetect.model import ReSynthDetect

    model, _ = fitted
    model.save(tmp_path / "m")
    again = ReSynthDetect.load(tmp_path / "m")
    a, b = model.predict(cases[2]), again.predict(cases[2])
    assert a.score == b.score and np.array_equal(a.heatmap, b.heatmap)


def test_cancel_then_resume_matches_uninterrupted_run(fitted, cases, tmp_path):
    from core.models.resynthdetect.model import ReSynthDetect

    reference, _ = fitted
    cancel = CancelToken()

    def progress(done, total, message):
        if "stage 2/2" in message and "epoch 3/" in message:
            cancel.cancel()  # checked before the next step: epoch 2's checkpoint stays

    first = ReSynthDetect(**TINY)
    first_run = TrainingContext(run_dir=tmp_path)
    with pytest.raises(CancelledError):
        first.fit(cases, FitContext(training=first_run), progress=progress, cancel=cancel)
    assert (tmp_path / "autoencoder" / "checkpoint.pt").exists() and (tmp_path / "localization" / "checkpoint.pt").exists()
    events = []
    resumed = ReSynthDetect(**TINY)
    resumed_run = TrainingContext(run_dir=tmp_path, resume=True, emit=events.append)
    resumed.fit(cases, FitContext(training=resumed_run))
    starts = {e["stage"]: e["epoch"] for e in events if e["event"] == "resumed"}
    assert starts == {"autoencoder": 3, "localization": 2}
    a, b = reference.predict(cases[3]), resumed.predict(cases[3])
    np.testing.assert_allclose(b.heatmap, a.heatmap, rtol=1e-5, atol=1e-6)


def test_train_command_prints_json_lines(small_demo, capsys):
    from core.cli import main

    cfg = [f"{k}={v}" for k, v in dict(TINY, epochs=2, ae_epochs=1).items()]
    args = ["train", "resynthdetect", "--workspace", str(small_demo), "--run", "r1"]
    for c in cfg:
        args += ["--config", c]
    assert main(args) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    steps = [e for e in lines if e["event"] == "step"]
    assert steps and all(e["loss"] >= 0 and "eta_s" in e and "lr" in e for e in steps)
    assert lines[-1]["event"] == "done" and lines[-1]["version"] == "r1"
    assert (small_demo / "runs" / "r1" / "localization" / "checkpoint.pt").exists()
    assert (small_demo / "models" / "resynthdetect" / "r1" / "card.json").exists()
