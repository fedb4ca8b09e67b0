"""RASALoRE model selection: validation volumes held out whole, the Dice of the network's masks with
the weak masks, and the best epoch's weights kept (also across a resumed run)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from core.models.rasalore.data import TrainCase
from core.models.rasalore.network import RasaloreNet
from core.models.rasalore.supervision import HEALTHY, UNHEALTHY
from core.models.rasalore.train import (
    BestEpoch,
    SliceSet,
    split_validation,
    train_network,
    validation_slices,
    weak_mask_dice,
)
from core.training.context import TrainingContext


def _case(i: int, unhealthy: bool) -> TrainCase:
    labels = np.array([HEALTHY, UNHEALTHY if unhealthy else HEALTHY, HEALTHY], np.int8)
    return TrainCase(f"V{i}", geometry=None, labels=labels, selected=np.array([1]))


def test_validation_holds_out_whole_volumes_and_needs_three():
    cases = [_case(i, unhealthy=i != 3) for i in range(11)]  # ten volumes with unhealthy slices, one without
    fit, val = split_validation(cases, 0.1, seed=0)
    assert len(val) == 1 and len(fit) == 10 and val[0] not in fit
    assert (val[0].labels[val[0].selected] == UNHEALTHY).any()  # a held-out volume can be judged
    again = split_validation(cases, 0.1, seed=0)[1]
    assert [c.case_id for c in again] == [c.case_id for c in val]  # same seed, same volumes
    assert len(split_validation(cases, 0.3, seed=0)[1]) == 3
    assert split_validation(cases[:2], 0.5, seed=0)[1] == []  # two volumes: both are needed to train
    assert split_validation(cases, 0.0, seed=0)[1] == []
    assert len(split_validation(cases[:3], 0.9, seed=0)[0]) == 2  # never fewer than two training volumes


class _Threshold(torch.nn.Module):
    """A 'network' whose mask is the input itself."""

    def forward(self, x, seq):
        return {"mask": x}


def _slices(x, m):
    n = x.shape[0]
    return SliceSet(
        x=x,
        m_ddpt=m.to(torch.uint8),
        m_sam=m.to(torch.uint8),
        seq=torch.zeros(n, dtype=torch.long),
        bridge=None,
        keys=[("c", i, "t2") for i in range(n)],
    )


def test_weak_mask_dice_by_hand():
    x = torch.zeros(3, 1, 4, 4)
    m = torch.zeros(3, 1, 4, 4)
    x[0, 0, :2, :2] = 1.0  # prediction 4 px
    m[0, 0, :2, :] = 1.0  # weak mask 8 px, overlap 4
    x[1, 0, 0, 0] = 0.7  # prediction 1 px on the weak mask's one pixel
    m[1, 0, 0, 0] = 1.0
    x[2, 0] = 1.0  # a healthy slice (no weak mask) with 16 false-positive pixels
    net = _Threshold()
    assert weak_mask_dice(net, _slices(x, m), ["t2"], "cpu") == pytest.approx(2 * 5 / (4 + 8 + 1 + 1 + 16))
    x[1, 0, 0, 0] = 0.4  # below the 0.5 threshold: missed
    assert weak_mask_dice(net, _slices(x, m), ["t2"], "cpu") == pytest.approx(2 * 4 / (4 + 8 + 1 + 16))
    x[2, 0] = 0.0  # the healthy slice left empty
    assert weak_mask_dice(net, _slices(x, m), ["t2"], "cpu") == pytest.approx(2 * 4 / (4 + 8 + 1))
    assert weak_mask_dice(net, _slices(x, torch.zeros_like(m)), ["t2"], "cpu") == 0.0  # only false positives
    assert np.isnan(weak_mask_dice(net, _slices(torch.zeros_like(x), torch.zeros_like(m)), ["t2"], "cpu"))


def test_validation_cases_add_every_healthy_slice():
    case = TrainCase("V", geometry=None, labels=np.array([HEALTHY, UNHEALTHY, -1, HEALTHY, UNHEALTHY], np.int8), selected=np.array([1, 4]))
    assert validation_slices(case).selected.tolist() == [0, 1, 3, 4]  # the unlabelled slice 2 stays out
    assert case.selected.tolist() == [1, 4]


def _net():
    return RasaloreNet(["t2"], image_size=32, grid=8, dim=32, heads=4, lore_scale=128.0, noise_std=1.0, dropout=0.1, seed=0)


def test_best_epoch_keeps_the_best_weights_and_survives_a_resume(tmp_path):
    net = _net()
    ctx = TrainingContext(run_dir=tmp_path / "network")
    best = BestEpoch(net, ctx)
    best.offer(1, 0.40)
    kept = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    best.offer(2, 0.25)  # worse: not kept
    best.offer(3, float("nan"))  # no judgement: not kept
    assert best.epoch == 1
    best.restore()
    for k, v in net.state_dict().items():
        assert torch.equal(v, kept[k]), k
    # a resumed run reads best.pt; a fresh one does not
    other = _net()
    resumed = BestEpoch(other, TrainingContext(run_dir=tmp_path / "network", resume=True))
    assert resumed.epoch == 1 and resumed.score == pytest.approx(0.40)
    resumed.restore()
    assert all(torch.equal(v, kept[k]) for k, v in other.state_dict().items())
    assert BestEpoch(_net(), TrainingContext(run_dir=tmp_path / "network")).state is None
    # rank 1 keeps its best in memory only
    BestEpoch(_net(), TrainingContext(run_dir=tmp_path / "rank1", rank=1)).offer(1, 0.5)
    assert not (tmp_path / "rank1" / "best.pt").exists()


def test_train_network_keeps_the_epoch_with_the_best_validation_dice(tmp_path):
    from core.models.rasalore.model import Rasalore

    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 32, 32, generator=g) * 0.3
    m = torch.zeros(8, 1, 32, 32)
    for i in range(8):
        r, c = 4 + 2 * i, 20 - 2 * i
        x[i, 0, r : r + 8, c : c + 8] += 0.6
        m[i, 0, r : r + 8, c : c + 8] = 1.0
    data, val = _slices(x[:6].half(), m[:6]), _slices(x[6:].half(), m[6:])
    config = Rasalore(image_size=32, grid_size=8, embed_dim=32, epochs=4, batch_size=3, device="cpu").config
    net = _net()
    state = train_network(
        net,
        data,
        ["t2"],
        config,
        device=torch.device("cpu"),
        context=TrainingContext(run_dir=tmp_path),
        stage="network",
        progress=lambda *a: None,
        cancel=None,
        validation=val,
    )
    scores = [h["val_dice"] for h in state.history]
    assert len(scores) == 4 and state.best["on"] == "validation volumes"
    top = max(s for s in scores if s is not None)
    assert state.best["val_dice"] == pytest.approx(top) and scores[state.best["epoch"] - 1] == pytest.approx(top)
    assert weak_mask_dice(net, val, ["t2"], "cpu") == pytest.approx(top, abs=1e-4)
    assert (tmp_path / "network" / "best.pt").exists()
    # without validation volumes the unaugmented training slices judge; selection can be turned off
    state = train_network(
        _net(),
        data,
        ["t2"],
        replace(config, epochs=1),
        device=torch.device("cpu"),
        context=None,
        stage="network",
        progress=lambda *a: None,
        cancel=None,
    )
    assert state.best["on"] == "training slices"
    state = train_network(
        _net(),
        data,
        ["t2"],
        replace(config, epochs=1, select_best_epoch=False),
        device=torch.device("cpu"),
        context=None,
        stage="network",
        progress=lambda *a: None,
        cancel=None,
    )
    assert state.best is None and "val_dice" not in state.history[0]
