"""The SAM mask decoder through ONNX Runtime (issue 26: a warm click waits for the decoder alone):
the exported LiteMedSAM decoder gives torch's masks and IoU predictions for every prompt the
window and the models send (points, negative points, boxes, several boxes at once, a mask input,
MIAS-SAM's dense map prompt), and is cached in the application-data folder like the encoder."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_STUDIO_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.slow
def test_onnx_decoder_matches_torch_for_every_kind_of_prompt(home):
    from core.data.synthetic.fundus import load_retina
    from core.labels.sam_prompts import _decode
    from core.sam.model import load_sam
    from core.sam.service import SamService

    net = load_sam("litemedsam", "cpu")
    fast, ref = SamService(net, None, backend="onnx"), SamService(net, None, backend="torch")
    image = load_retina()
    hw = image.shape[:2]
    emb = ref.embedding(image)  # one embedding for both: the decoder alone is compared
    first = ref.predict(emb, hw, points=np.array([[700.0, 650.0]]))
    prompts = [
        {"points": np.array([[700.0, 650.0]])},
        {"points": np.array([[700.0, 650.0], [760.0, 600.0], [400.0, 400.0]]), "labels": np.array([1, 1, 0])},
        {"box": np.array([600.0, 560.0, 820.0, 760.0])},
        {"box": np.array([600.0, 560.0, 820.0, 760.0]), "points": np.array([[700.0, 650.0]]), "multimask": False},
        {"points": np.array([[700.0, 650.0]]), "mask_input": first.low_res_logits[int(np.argmax(first.scores))]},
        {"points": np.array([[700.0, 650.0]]), "dense": np.full((256, 64, 64), 0.05, np.float32)},
    ]
    for kw in prompts:
        a, b = fast.predict(emb, hw, **kw), ref.predict(emb, hw, **kw)
        assert a.low_res_logits.shape == b.low_res_logits.shape == ((1 if kw.get("multimask") is False else 3), 256, 256)
        assert float(np.abs(a.low_res_logits - b.low_res_logits).max()) <= 1e-4, sorted(kw)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
        assert (a.masks != b.masks).mean() < 1e-4  # only pixels whose logit lies within rounding of 0
    # several boxes at once (the labelling prompts' batched decode): each box as when alone
    boxes = np.array([[600.0, 560.0, 820.0, 760.0], [300.0, 300.0, 500.0, 480.0]])
    low, iou = _decode(fast, emb, hw, boxes, None, None, None, True)
    low_ref, iou_ref = _decode(ref, emb, hw, boxes, None, None, None, True)
    assert low.shape == (2, 3, 256, 256)
    assert float(np.abs(low - low_ref).max()) <= 1e-4
    np.testing.assert_allclose(iou, iou_ref, atol=1e-4)
    assert list((home / "cache" / "onnx").glob("litemedsam-mask-decoder-*.onnx"))  # cached where the encoder is


@pytest.mark.slow
def test_prepare_graphs_opens_the_sessions_before_a_click(home):
    """The window's warm-up and background embedding open the encoder's and decoder's sessions
    (exporting them on first use), so the first click decodes at once; a torch service exports nothing."""
    from core.runtime import inference
    from core.sam.model import load_sam
    from core.sam.service import SamService

    net = load_sam("litemedsam", "cpu")
    SamService(net, None, backend="torch").prepare_graphs()
    assert not list((home / "cache" / "onnx").glob("litemedsam-mask-decoder-*.onnx"))
    SamService(net, None, backend="onnx").prepare_graphs()
    assert list((home / "cache" / "onnx").glob("litemedsam-mask-decoder-*.onnx"))
    opened = sorted(g.spec.name for (_key, folder), g in inference._graphs.items() if folder.startswith(str(home)))
    assert opened == ["litemedsam-image-encoder", "litemedsam-mask-decoder"]  # both sessions are open
