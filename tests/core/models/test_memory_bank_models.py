import json

import numpy as np
import pytest

from core.domain import LoadedCase
from core.errors import ConfigError
from core.models import create_model, list_models
from core.models.base import ModelFolderError
from core.models.memory_bank import MemoryBank, greedy_coreset, jl_min_dim, sparse_random_projection
from core.models.mias_sam.model import centre_of_gravity, patchify_embedding
from core.models.resad.resc import region_kernel, resc
from tests.helpers.contract import cancel_midway, check_contract, textured

TINY_WRN = dict(backbone="wide_resnet50", backbone_weights="random", image_size=64, coreset_ratio=0.5, calibration_holdout=0.34)


def _normals(n=3, size=64):
    return [LoadedCase.from_arrays(f"n{i}", fundus=textured(i, size)) for i in range(n)]


def test_faiss_matches_brute_force():
    rng = np.random.default_rng(0)
    bank = rng.random((500, 32), dtype=np.float32)
    q = rng.random((40, 32), dtype=np.float32)
    d, i = MemoryBank(bank, index="exact").search(q, k=3)
    full = np.linalg.norm(q[:, None] - bank[None], axis=-1)
    ref_i = np.argsort(full, axis=1)[:, :3]
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_allclose(d, np.take_along_axis(full, ref_i, 1), rtol=1e-4)
    hnsw = MemoryBank(bank, index="hnsw")
    dh, ih = hnsw.search(q, k=1)
    assert (ih[:, 0] == ref_i[:, 0]).mean() > 0.9  # approximate index: nearly always the true neighbour
    # the saved graph gives exactly the same answers after loading
    again = MemoryBank(bank, index="hnsw", index_bytes=hnsw.index_bytes())
    d3, i3 = again.search(q, k=1)
    np.testing.assert_array_equal(i3, ih)
    np.testing.assert_array_equal(d3, dh)


def test_greedy_coreset_covers_the_data():
    rng = np.random.default_rng(1)
    clusters = np.concatenate([rng.normal(c, 0.01, (200, 8)) for c in range(5)]).astype(np.float32)
    idx = greedy_coreset(clusters, 5, eps=0.9, seed=0)
    assert len(set(np.round(clusters[idx, 0]).astype(int))) == 5  # one pick per cluster
    assert jl_min_dim(32768, 0.9) == 256
    p = sparse_random_projection(100, 20, seed=0)
    assert p.shape == (100, 20) and (p == 0).mean() > 0.8


def test_greedy_coreset_is_the_k_center_greedy():
    """The fast loop (dimension-major matrix, in-place updates) picks what the textbook greedy
    k-center picks: each step the point farthest from everything chosen so far."""
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (400, 16)).astype(np.float32) * rng.uniform(0.2, 3, 16).astype(np.float32)
    got = greedy_coreset(x, 40, eps=0.9, seed=0)  # 16 dims < JL dimension: no projection
    chosen = [int(got[0])]
    min_d = ((x.astype(np.float64) - x[chosen[0]]) ** 2).sum(1)
    for _ in range(39):
        chosen.append(int(np.argmax(min_d)))
        min_d = np.minimum(min_d, ((x.astype(np.float64) - x[chosen[-1]]) ** 2).sum(1))
    np.testing.assert_array_equal(got, chosen)


def test_region_kernel_and_resc_shapes():
    k = region_kernel(12)
    assert k.shape == (25, 25) and k.sum() == pytest.approx(1.0)
    assert k[12, 12] == k.max() and k[12, 0] < k[12, 6] < k[12, 12]
    import torch

    f = torch.randn(1, 8, 10, 12)
    c = resc(f, radius=3)
    assert c.shape == f.shape
    # a constant map is a fixed point of the region filter (border renormalisation)
    const = torch.ones(1, 2, 9, 9)
    from core.models.resad.resc import region_aware, spatial_aware

    assert torch.allclose(region_aware(const, 3), const)
    # attention rows sum to one: attending over identical features returns them unchanged
    assert torch.allclose(spatial_aware(const), const, atol=1e-6)


def test_centre_of_gravity_and_flat_guard():
    m = np.zeros((20, 30))
    m[5, 25] = 1.0
    assert centre_of_gravity(m, 5.0) == (25.0, 5.0)
    assert centre_of_gravity(np.zeros((10, 10)), 5.0) is None
    assert centre_of_gravity(np.full((10, 10), 3.0), 5.0) is None
    feats, grid = patchify_embedding(np.random.rand(256, 64, 64).astype(np.float32))
    assert grid == (32, 32) and tuple(feats.shape) == (1024, 1024)


@pytest.mark.parametrize("name", ["patchcore", "resad"])
def test_bank_methods_pass_the_contract(name, tmp_path):
    normals = _normals()
    probe = LoadedCase.from_arrays("probe", fundus=textured(9, 80, lesion=True))
    model = check_contract(lambda: create_model(name, **TINY_WRN), normals, probe, tmp_path)
    # the deployed bank calibrates itself: every normal scored without the patches it contributed
    assert model.card.calibration["n"] == len(normals) and "leave-one-image-out" in model.card.calibration["source"]
    assert model.card.training_data
    cancel_midway(lambda: create_model(name, **TINY_WRN), normals)


def test_lesion_scores_above_normal_and_maps_locate_it():
    normals = _normals(4)
    model = create_model("patchcore", **TINY_WRN)
    model.fit(normals)
    normal = model.predict(LoadedCase.from_arrays("x", fundus=textured(11)))
    lesion = model.predict(LoadedCase.from_arrays("y", fundus=textured(11, lesion=True)))
    assert lesion.score > normal.score
    peak = np.unravel_index(np.argmax(lesion.heatmap), lesion.heatmap.shape)
    assert abs(peak[0] - 64 * 0.6) < 12 and abs(peak[1] - 64 * 0.4) < 12


def test_mias_sam_contract_and_mask(tmp_path):
    normals = _normals(3, 96)
    probe = LoadedCase.from_arrays("probe", fundus=textured(9, 96, lesion=True))
    model = check_contract(lambda: create_model("mias_sam", calibration_holdout=0.34), normals, probe, tmp_path)
    res = model.predict(probe)
    assert res.mask is not None and res.mask.shape == (96, 96)
    assert len(res.extras["mask_scores"]) == 3 and res.extras["mask_index"] == 2
    x, y = res.extras["prompt_point"]
    assert 0 <= x < 96 and 0 <= y < 96


def test_config_validation_and_cards():
    with pytest.raises(ConfigError, match="unknown config"):
        create_model("patchcore", nonsense=1)
    with pytest.raises(ConfigError, match="256 px"):
        create_model("resad", image_size=784)
    with pytest.raises(ConfigError, match="expects an integer"):
        create_model("resad", knn_k="three")
    with pytest.raises(ConfigError, match="at least 1"):
        create_model("resad", knn_k="0")
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("nope")
    m = create_model("resad", coreset_ratio="0.2", knn_k="3")
    assert m.config.coreset_ratio == 0.2 and m.config.knn_k == 3
    names = {m["name"] for m in list_models()}
    assert {"patchcore", "resad", "mias_sam"} <= names
    for entry in list_models():
        json.dumps(entry)


def test_damaged_model_folders_give_clear_errors(tmp_path):
    model = create_model("patchcore", **TINY_WRN)
    model.fit(_normals())
    folder = model.save(tmp_path / "m")
    data = (folder / "model.pt").read_bytes()
    (folder / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFolderError, match="does not match its model card"):
        type(model).load(folder)
    (folder / "model.pt").unlink()
    with pytest.raises(ModelFolderError, match="model.pt is missing"):
        type(model).load(folder)
    (folder / "model.pt").write_bytes(data)
    (folder / "card.json").write_text("{broken")
    with pytest.raises(ModelFolderError, match="damaged"):
        type(model).load(folder)
