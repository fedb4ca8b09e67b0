"""MMRAD: prompted encoder equals the frozen SAM encoder at initialisation, decoder initialised
from SAM, paired and single-modality training on tiny CPU configurations (loss goes down), the
contract (per-modality maps on each image grid, fused case score, single images), save/load,
cancel and resume."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import LoadedCase
from core.errors import CancelledError
from core.models.contract import FitContext
from core.runtime.progress import CancelToken
from core.training import TrainingContext

TINY = dict(encoder="vit_tiny_random", epochs=3, batch_size=2, samples_per_epoch=4, device="cpu", seed=1)


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
    from core.data.synthetic.oct import render_bscan

    rng = np.random.default_rng(0)
    retina = F.load_retina()
    out = []
    for i in range(5):
        f = cv2.resize(F.random_derivation(rng).apply(retina), (90, 90), interpolation=cv2.INTER_AREA)
        o = cv2.resize(render_bscan(rng, 496, 512).image, (80, 72), interpolation=cv2.INTER_AREA)
        out.append(LoadedCase.from_arrays(f"P{i}", fundus=f, oct=o) if i < 4 else LoadedCase.from_arrays(f"F{i}", fundus=f))
    return out


@pytest.fixture(scope="module")
def fitted(cases, tmp_path_factory):
    from core.models.mmrad.model import MMRAD

    model = MMRAD(**TINY)
    model_run = TrainingContext(run_dir=tmp_path_factory.mktemp("mmrad-run"))
    model.fit(cases, FitContext(training=model_run))
    return model


def _zero_prompt_matches_plain_encoder(encoder: str):
    import torch

    from core.models.mmrad.network import MMRADNet

    net = MMRADNet(encoder, torch.device("cpu"))
    x = torch.rand(1, 3, net.encoder.img_size, net.encoder.img_size)
    with torch.no_grad():
        prompted = net.encoder(x)
        plain = net.encoder.enc(x)
    return net, prompted, plain


def test_prompted_vit_starts_as_the_frozen_encoder():
    net, prompted, plain = _zero_prompt_matches_plain_encoder("vit_tiny_random")
    assert prompted.shape == (1, 256, 16, 16)
    assert np.allclose(prompted.numpy(), plain.numpy(), atol=1e-5)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("encoder.prompts.", "decoder.")) for n in trainable)
    assert len(net.encoder.prompts.per_layer) == 2 and len(net.encoder.prompts.shared) == 1


def test_prompted_litemedsam_and_decoder_initialised_from_sam():
    import torch

    from core.sam.model import load_sam

    net, prompted, plain = _zero_prompt_matches_plain_encoder("litemedsam")
    assert prompted.shape == (1, 256, 64, 64)
    assert torch.allclose(prompted, plain, atol=1e-4)
    assert len(net.encoder.prompts.per_layer) == 8 and sorted(net.encoder.prompts.shared) == ["160", "320"]
    sam = load_sam("litemedsam", "cpu")
    assert torch.equal(net.decoder.mask_token, sam.mask_decoder.mask_tokens.weight[0])
    assert torch.equal(net.decoder.fusion_token, sam.mask_decoder.iou_token.weight[0])
    assert torch.equal(net.decoder.score_mlp.layers[-1].weight, sam.mask_decoder.iou_prediction_head.layers[-1].weight[:1])
    # the encoder's weights are frozen and not part of the saved state
    assert not any(k.startswith("encoder.enc") for k in net.state_dict())


def test_paired_training_loss_goes_down(fitted):
    hist = fitted.card.metrics["training_history"]
    assert len(hist) == 3
    assert {"map_fundus", "map_oct", "score", "loss"} <= set(hist[0])
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert fitted.card.metrics["training_cases"]["paired"] >= 2
    assert set(fitted.card.metrics["calibration_by_modality"]) == {"fundus", "oct"}


def test_pair_gives_both_maps_and_fused_score(fitted, cases, monkeypatch):
    # the fusion-token case score (case_score=auto may pick the image maximum for this tiny model)
    monkeypatch.setitem(fitted.card.metrics, "case_score", {"mode": "fusion", "used": "fusion"})
    r = fitted.predict(cases[0])
    assert set(r.maps) == {"fundus", "oct"} and r.image == "fundus"
    for name, m in r.maps.items():
        assert m.heatmap.shape == cases[0].images[name].array.shape[:2] and np.isfinite(m.heatmap).all()
    assert "fusion token" in r.score_source and 0.0 < r.extras["fusion_probability"] < 1.0
    assert r.score == pytest.approx(fitted.calibration.image_z(r.extras["fusion_logit"]))


def test_single_image_with_paired_model(fitted, cases):
    only_oct = LoadedCase.from_arrays("O", oct=cases[1].images["oct"].array)
    r = fitted.predict(only_oct)
    assert set(r.maps) == {"oct"} and r.maps["oct"].heatmap.shape == (72, 80)
    assert "fusion_logit" not in r.extras and np.isfinite(r.score)
    r2 = fitted.predict(cases[4])  # a fundus-only case
    assert set(r2.maps) == {"fundus"} and r2.score == r2.maps["fundus"].score


def test_single_modality_training(cases):
    from core.models.mmrad.model import MMRAD

    model = MMRAD(**dict(TINY, epochs=1, paired=False, calibration_holdout=0.0))
    model.fit([LoadedCase.from_arrays(f"O{i}", oct=c.images["oct"].array) for i, c in enumerate(cases[:3])])
    hist = model.card.metrics["training_history"]
    assert "score" not in hist[0] and "map_oct" in hist[0] and "map_fundus" not in hist[0]
    r = model.predict(LoadedCase.from_arrays("O", oct=cases[3].images["oct"].array))
    assert set(r.maps) == {"oct"} and np.isfinite(r.score)
    from core.errors import InputError

    with pytest.raises(InputError, match="without fundus"):
        model.predict(cases[0])


def test_save_load_identical(fitted, cases, tmp_path):
    from core.models.mmrad.model import MMRAD

    fitted.save(tmp_path / "m")
    again = MMRAD.load(tmp_path / "m")
    a, b = fitted.predict(cases[2]), again.predict(cases[2])
    assert a.score == b.score
    for name in a.maps:
        assert np.array_equal(a.maps[name].heatmap, b.maps[name].heatmap)


def test_cancel_then_resume_matches_uninterrupted(fitted, cases, tmp_path):
    from core.models.mmrad.model import MMRAD

    cancel = CancelToken()

    def progress(done, total, message):
        if message.startswith("epoch 3/"):
            cancel.cancel()

    first = MMRAD(**TINY)
    first_run = TrainingContext(run_dir=tmp_path)
    with pytest.raises(CancelledError):
        first.fit(cases, FitContext(training=first_run), progress=progress, cancel=cancel)
    events = []
    resumed = MMRAD(**TINY)
    resumed_run = TrainingContext(run_dir=tmp_path, resume=True, emit=events.append)
    resumed.fit(cases, FitContext(training=resumed_run))
    assert [e["epoch"] for e in events if e["event"] == "resumed"] == [2]
    a, b = fitted.predict(cases[3]), resumed.predict(cases[3])
    np.testing.assert_allclose(b.maps["oct"].heatmap, a.maps["oct"].heatmap, rtol=1e-4, atol=1e-5)
    assert b.score == pytest.approx(a.score, rel=1e-4, abs=1e-5)


def test_config_errors():
    from core.errors import ConfigError
    from core.models.mmrad.model import MMRAD

    with pytest.raises(ConfigError, match="256 px"):
        MMRAD(encoder="litemedsam", image_size=512)
    with pytest.raises(ConfigError, match="fusion_order"):
        MMRAD(fusion_order="fundus,fundus")


def test_pairs_are_simulated_per_case(cases):
    """A pair is anomalous with probability p_anomaly (fundus, OCT or both); single images keep
    the per-image draw."""
    from core.data.anomaly_synthesis import MMRADSimulator
    from core.models.mmrad.model import simulate_case

    sims = {m: MMRADSimulator(m, p_anomaly=0.7) for m in ("fundus", "oct")}
    pair = cases[0]
    entry = {m: (pair.first(m).array, None) for m in ("fundus", "oct")}
    rng = np.random.default_rng(3)
    kinds = []
    for _ in range(300):
        out = simulate_case(entry, sims, rng, 0.7, per_case=True)
        kinds.append(tuple(m for m in ("fundus", "oct") if out[m][1].any()))
    normal = kinds.count(())
    assert 0.22 < normal / 300 < 0.38
    assert {("fundus",), ("oct",), ("fundus", "oct")} <= set(kinds)
    per_image = [simulate_case(entry, sims, rng, 0.7, per_case=False) for _ in range(300)]
    assert sum(not (o["fundus"][1].any() or o["oct"][1].any()) for o in per_image) / 300 < 0.16  # 0.3 ** 2 = 0.09


def test_score_term_weights_by_case_label(cases):
    import torch

    from core.models.mmrad.network import MMRADNet
    from core.training.losses import bce_loss

    net = MMRADNet("vit_tiny_random", torch.device("cpu"))
    rng = np.random.default_rng(0)
    img = lambda: rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)  # noqa: E731
    lesion = np.zeros((64, 64), bool)
    lesion[10:20, 10:20] = True
    samples = [{"fundus": (img(), lesion), "oct": (img(), np.zeros((64, 64), bool))}]  # an anomalous pair
    with torch.no_grad():
        plain = net.training_terms(samples, ["fundus", "oct"], True, bce_loss)["score"]
        ignored = net.training_terms(samples, ["fundus", "oct"], True, bce_loss, (1.0, 0.0))["score"]
        doubled = net.training_terms(samples, ["fundus", "oct"], True, bce_loss, (1.0, 2.0))["score"]
    assert plain > 0 and ignored == 0 and doubled == pytest.approx(2 * plain)


def test_case_score_chosen_on_simulated_validation_pairs(fitted, cases):
    choice = fitted.card.metrics["case_score"]
    assert choice["mode"] == "auto" and choice["used"] in ("fusion", "max")
    assert set(choice["validation_auroc"]) == {"fusion", "max"} and choice["validation_pairs"] == 16
    saved = dict(choice)
    try:
        fitted.card.metrics["case_score"] = dict(saved, used="max")
        r = fitted.predict(cases[0])
        assert r.score == pytest.approx(max(m.score for m in r.maps.values())) and "fusion_logit" in r.extras
        fitted.card.metrics["case_score"] = dict(saved, used="fusion")
        r = fitted.predict(cases[0])
        assert "fusion token" in r.score_source
        assert r.score == pytest.approx(fitted.calibration.image_z(r.extras["fusion_logit"]))
    finally:
        fitted.card.metrics["case_score"] = saved
