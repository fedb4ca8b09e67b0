"""Frozen encoders through ONNX Runtime: the exported LiteMedSAM encoder matches torch on real
images, the cache lives in the application-data folder, and a corrupt or stale cache file is
rebuilt, never trusted."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from core.errors import StudioError
from core.runtime import inference
from core.runtime.inference import FrozenGraph, GraphSpec, cached_graph_ok


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return y, y.mean(dim=(2, 3))


def _spec(**changes) -> GraphSpec:
    base = {"name": "tiny-test", "weights_sha256": "abc", "input_shape": (1, 3, 8, 8), "outputs": ("map", "pooled")}
    return GraphSpec(**(base | changes))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private application-data folder per test (each starts with an empty cache)."""
    monkeypatch.setenv("ANOMALY_STUDIO_HOME", str(tmp_path))
    return tmp_path


def _counting_build(calls: list):
    def build():
        calls.append(1)
        return Tiny().eval()

    return build


def test_graph_is_cached_in_app_data_and_matches_torch(home):
    calls: list = []
    g = FrozenGraph(_spec(), _counting_build(calls))
    assert g.path.parent == home / "cache" / "onnx" and g.path.name.startswith("tiny-test-")
    x = np.random.default_rng(0).random((3, 3, 8, 8), dtype=np.float32)  # a batch of 3 through a batch-1 graph
    got = g.run(x)
    with torch.no_grad():
        ref_map, ref_pooled = Tiny()(torch.from_numpy(x))
    np.testing.assert_allclose(got["map"], ref_map.numpy(), atol=1e-5)
    np.testing.assert_allclose(got["pooled"], ref_pooled.numpy(), atol=1e-5)
    assert set(g.run(x, ["pooled"])) == {"pooled"}
    FrozenGraph(_spec(), _counting_build(calls))  # a second open verifies and reuses the file
    assert len(calls) == 1


def test_corrupt_cache_file_is_rebuilt(home):
    calls: list = []
    g = FrozenGraph(_spec(), _counting_build(calls))
    good = g.path.read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights: same size, wrong content
    g.path.write_bytes(bytes(data))
    assert not cached_graph_ok(g.spec, g.path)
    g2 = FrozenGraph(_spec(), _counting_build(calls))
    assert len(calls) == 2 and g2.path.read_bytes() == good
    g.path.write_bytes(good[:100])  # truncated
    FrozenGraph(_spec(), _counting_build(calls))
    assert len(calls) == 3 and cached_graph_ok(g.spec, g.path)


def test_stale_cache_file_is_rebuilt(home):
    calls: list = []
    g = FrozenGraph(_spec(), _counting_build(calls))
    man = g.path.with_suffix(".json")
    meta = json.loads(man.read_text())
    meta["spec"]["torch"] = "0.0.1"  # built by another torch: its manifest no longer describes this spec
    man.write_text(json.dumps(meta))
    FrozenGraph(_spec(), _counting_build(calls))
    assert len(calls) == 2 and cached_graph_ok(g.spec, g.path)
    man.unlink()  # a file without its manifest is never trusted
    FrozenGraph(_spec(), _counting_build(calls))
    assert len(calls) == 3
    # other weights are another file; the older export of the same graph name is removed
    g_new = FrozenGraph(_spec(weights_sha256="def"), _counting_build(calls))
    assert g_new.path != g.path and not g.path.exists() and len(calls) == 4


def test_backend_resolution(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.delenv(inference.BACKEND_ENV, raising=False)
    assert inference.resolve_backend("auto", cpu) == "onnx" and inference.resolve_backend("auto", cuda) == "torch"
    assert inference.resolve_backend(None, cpu) == "onnx"
    assert inference.model_backend("torch", cpu) == "torch"  # a fitted model keeps its backend under auto
    assert inference.model_backend(None, cpu) == "onnx"
    monkeypatch.setenv(inference.BACKEND_ENV, "torch")
    assert inference.resolve_backend(None, cpu) == "torch" and inference.model_backend("onnx", cpu) == "torch"
    monkeypatch.setenv(inference.BACKEND_ENV, "tensorrt")
    with pytest.raises(StudioError, match="unknown inference backend"):
        inference.resolve_backend(None, cpu)


def _real_images() -> dict[str, np.ndarray]:
    from core.data.synthetic.fundus import load_retina
    from core.data.synthetic.mri import load_mni152
    from core.data.synthetic.oct import render_bscan

    vol = load_mni152().data
    return {
        "fundus": load_retina(),
        "oct": render_bscan(np.random.default_rng(0)).image,
        "mri": np.asarray(vol[:, :, vol.shape[2] // 2], np.float32),
    }


@pytest.mark.slow
def test_exported_litemedsam_encoder_matches_torch_on_real_images():
    from core.sam.encoder import image_encoder
    from core.sam.model import load_sam

    net = load_sam("litemedsam", "cpu")
    onnx_enc, torch_enc = image_encoder(net, "onnx"), image_encoder(net, "torch")
    names = ("stage1", "stage3", "embedding")
    images = _real_images()
    x = torch.cat([net.preprocess(im)[0] for im in images.values()])
    got = onnx_enc.run(x, names)
    ref = torch_enc.run(x, names)
    for name in names:
        assert got[name].shape == ref[name].shape
        err = float((got[name] - ref[name].cpu()).abs().max())
        assert err <= 1e-4, f"{name}: ONNX Runtime differs from torch by {err}"
    # each image alone gives the same embedding as in the batch (a case scores the same alone)
    alone = onnx_enc.run(x[2:3], ("embedding",))["embedding"]
    np.testing.assert_array_equal(alone[0].numpy(), got["embedding"][2].numpy())


@pytest.mark.slow
def test_batched_apis_equal_one_image_at_a_time(tmp_path):
    """``SamService.embeddings`` and ``backbone.extract_batch`` (the batched APIs the volume and
    archive paths call) give each image exactly what it gets alone, and cache per backend."""
    from core.models.backbones import TinyViTBackbone
    from core.sam.model import load_sam
    from core.sam.service import SamService
    from core.workspace.arrays import ArrayStore

    images = list(_real_images().values())[1:]  # the OCT B-scan and the MRI slice (grey, two sizes)
    net = load_sam("litemedsam", "cpu")
    store = ArrayStore(tmp_path / "arrays.h5")
    sam = SamService(net, store, backend="onnx")
    both = sam.embeddings(images)
    assert len(store.keys("sam/litemedsam-onnx")) == 2 and store.keys("sam/litemedsam") == []  # kept apart from torch's
    fresh = SamService(net, None, backend="onnx")
    for im, emb in zip(images, both, strict=True):
        np.testing.assert_array_equal(fresh.embedding(im), emb)
    bb = TinyViTBackbone("cpu", "onnx")
    batch = bb.extract_batch(images, (1, 3))
    for im, f in zip(images, batch, strict=True):
        one = bb.extract(im, (1, 3))
        assert f.input_hw == one.input_hw
        for k in ("stage1", "stage3"):
            assert torch.equal(f.maps[k], one.maps[k])
