"""RASALoRE classifier guidance: DDPT's P(unhealthy) per slice weights the network's maps, gates the
mask and feeds the volume score (paper appendix B.2, classifier-guided segmentation)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.domain import LoadedCase
from core.errors import CancelledError, InputError
from core.models.contract import FitContext
from core.models.rasalore.guidance import guided_maps, volume_score
from core.models.rasalore.supervision import LabelledCase
from core.runtime.progress import CancelToken
from tests.core.models.rasalore.test_rasalore_model import TINY, _brain, _with_lesion


def test_guided_maps_weight_each_slice_by_its_probability():
    probs = np.full((3, 4, 4), 0.8, np.float32)
    probs[1, 0, 0] = 1.0
    out = guided_maps(probs, np.array([0.0, 0.5, 1.2]))  # probabilities clipped to [0, 1]
    assert out.dtype == np.float32 and out.shape == probs.shape
    assert out[0].max() == 0.0 and out[1, 0, 0] == pytest.approx(0.5) and out[1, 1, 1] == pytest.approx(0.4)
    np.testing.assert_allclose(out[2], probs[2])


def test_volume_score_is_the_mean_of_the_top_fraction():
    s = np.array([0.1, 0.9, 0.3, 0.7, 0.2, 0.5, 0.0, 0.4, 0.6, 0.8])
    assert volume_score(s, 0.2) == pytest.approx((0.9 + 0.8) / 2)
    assert volume_score(s, 0.25) == pytest.approx((0.9 + 0.8 + 0.7) / 3)  # ceil(2.5) slices
    assert volume_score(s, 0.0) == pytest.approx(0.9)  # at least one slice
    assert volume_score(s, 1.0) == pytest.approx(s.mean())
    assert np.isnan(volume_score(np.array([]), 0.1))


def test_classifier_state_that_does_not_fit_is_refused():
    import torch

    from core.models.rasalore.guidance import build_classifier
    from core.sam.model import load_sam

    net = load_sam("litemedsam", "cpu")
    from core.models.rasalore.model import Rasalore

    config = Rasalore.parse_settings({"ddpt_grid": 8, "ddpt_prompts": 4, "ddpt_tau": 0.07})
    module = build_classifier(net, config)
    state = {k: v for k, v in module.state_dict().items() if not k.startswith("transformer.")}
    again = build_classifier(net, config, {k: v.clone() for k, v in state.items()})
    torch.testing.assert_close(again.class_embed, module.class_embed)
    with pytest.raises(ValueError, match="does not fit"):
        build_classifier(net, config, {k: v for k, v in state.items() if k != "class_embed"})


@pytest.mark.slow
def test_guided_prediction_gates_masks_scores_volumes_and_persists(tmp_path):
    from core.models.rasalore.model import Rasalore
    from core.models.registry import create_model
    from core.workspace.arrays import ArrayStore

    rng = np.random.default_rng(3)
    normals = [LoadedCase.from_arrays(case_id=f"N{i}", mri=_brain(rng)) for i in range(3)]
    labelled = [
        LabelledCase(LoadedCase.from_arrays(case_id=f"L{i}", mri=v), lab)
        for i, (v, lab) in enumerate(_with_lesion(_brain(rng), (14, 15, 13 + i)) for i in range(2))
    ]
    kw = dict(p.split("=") for p in TINY)
    kw.update(classifier_guidance="true", skip_slices="8", label_min_pixels="10", epochs="1", calibration_holdout="0.34")
    model = create_model("rasalore", **kw)
    arrays = ArrayStore(tmp_path / "arrays.h5")
    model.attach_store(arrays)
    model.fit(normals, FitContext(labelled_cases=labelled))

    m = model.card.metrics
    assert m["weak_mask"] == "healthy_contrast"  # the contrast masks train no DDPT: guidance does
    assert m["slice_classifier"]["epochs"] == 2 and m["slice_classifier"]["shots"] >= 2
    assert 0.0 <= m["slice_classifier"]["training_accuracy"] <= 1.0
    assert "case_score_caveat" not in m  # the caveat is for unguided scores only

    vol, _ = _with_lesion(_brain(rng), (13, 14, 13))
    probe = LoadedCase.from_arrays(case_id="P", mri=vol)
    image = probe.first("mri")
    parts = model.slice_maps(image)
    p = parts["p_unhealthy"]
    assert p.shape == (parts["probs"].shape[0],) and ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(parts["maps"], parts["probs"] * p[:, None, None], rtol=1e-6)
    # tokens cached by content, per inference backend (the one recorded in the card at fit)
    assert m["inference_backend"] == model.backend and model.backend in ("onnx", "torch")
    prefix = "rasalore/ddpt-tokens-8" + ("" if model.backend == "torch" else f"-{model.backend}") + "/"
    assert any(k.startswith(prefix) for k in arrays.keys())

    r = model.predict(probe)
    ex = r.extras
    assert ex["classifier_guidance"] is True and ex["slices_unhealthy"] == int((p >= 0.5).sum())
    axis, per_p = r.slices.axis, r.slices.p_unhealthy
    kept = [i for i, v in enumerate(per_p) if v is not None]
    assert len(per_p) == vol.shape[axis] and len(kept) == len(p)
    np.testing.assert_allclose([per_p[i] for i in kept], p, atol=1e-4)
    for i in kept:  # no mask on a slice DDPT calls healthy
        if per_p[i] < 0.5:
            assert not r.mask.take(i, axis=axis).any()
    scores = np.array([r.slices.scores[i] for i in kept])
    assert r.raw_score == pytest.approx(volume_score(scores, 0.1), rel=1e-4)

    # the classifier's state is saved with the model: the reloaded model predicts the same
    folder = model.save(tmp_path / "guided")
    again = Rasalore.load(folder)
    assert again.guided()
    r2 = again.predict(probe)
    assert r2.score == pytest.approx(r.score, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(r2.slices.p_unhealthy[kept[0]], per_p[kept[0]], atol=1e-4)

    # a version saved before guidance existed is scored as it was, unguided
    card = json.loads((folder / "card.json").read_text())
    del card["config"]["classifier_guidance"]
    (folder / "card.json").write_text(json.dumps(card))
    old = Rasalore.load(folder)
    assert not old.guided() and old.predict(probe).extras["classifier_guidance"] is False

    # a guided prediction reports its slices and stops on cancel (store.predict_cases passes both)
    fresh = LoadedCase.from_arrays(case_id="Q", mri=_with_lesion(_brain(rng), (14, 14, 12))[0])
    steps = []
    again.predict(fresh, progress=lambda d, t, msg: steps.append(msg))
    assert any("LiteMedSAM encoder" in m for m in steps)
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        again.predict(LoadedCase.from_arrays(case_id="R", mri=_with_lesion(_brain(rng), (13, 15, 14))[0]), cancel=token)

    # guidance asked of a model without a trained classifier: a clear message
    again.load_tensors({k: v for k, v in again.state_tensors().items() if k.startswith("net.")})  # saved without DDPT tensors
    with pytest.raises(InputError, match="no trained DDPT classifier"):
        again.predict(probe)
