"""Every 2-D method scores every B-scan of an OCT volume (issue 22): a lesion placed only on B-scan
3 of 25 raises the volume score, the per-B-scan scores are typed and calibrated, the maps are one
per B-scan, and volumes calibrate per B-scan (a single B-scan scores as it does inside a volume)."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import LoadedCase
from core.models import create_model
from core.models.pages import PAGE_RAW_SCORES, combine_pages, image_pages
from tests.helpers.contract import textured

N_BSCANS, LESION_AT, NORMAL_BSCANS, DISTINCT = 25, 3, 2, 5
TINY_WRN = dict(backbone="wide_resnet50", backbone_weights="random", image_size=64, coreset_ratio=0.5)
CONFIGS = {
    "patchcore": TINY_WRN,
    "resad": TINY_WRN,
    "mias_sam": dict(),
    "resynthdetect": dict(
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
    ),
    "mmrad": dict(encoder="vit_tiny_random", epochs=3, batch_size=2, samples_per_epoch=4, validation_pairs=4),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks on a shared 2-core machine: threads only add contention
    yield
    torch.set_num_threads(n)


def bscan(seed: int, lesion: bool = False) -> np.ndarray:
    return textured(seed, 64, lesion=lesion, rgb=False)[:48]  # a 48 x 64 grey B-scan


def volume(seed: int, n: int, lesion_at: int | None = None, distinct: int | None = None) -> np.ndarray:
    """``n`` B-scans; with ``distinct``, B-scan k repeats B-scan k % distinct (MIAS-SAM's encoder,
    the slow part, then runs once per distinct B-scan: embeddings are cached by content)."""
    d = distinct or n
    return np.stack([bscan(seed + k % d, lesion=k == lesion_at) for k in range(n)])


def cases(name: str, vol: np.ndarray, cid: str, fundus_seed: int) -> LoadedCase:
    """An OCT-volume case; MMRAD gets a fundus + OCT-volume pair."""
    extra = {"fundus": textured(fundus_seed, 72)} if name == "mmrad" else {}
    return LoadedCase.from_arrays(cid, oct=vol, **extra)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """name -> model fitted on three normal volumes of three B-scans (MMRAD: fundus + volume pairs)."""
    from core.workspace.arrays import ArrayStore

    store = ArrayStore(tmp_path_factory.mktemp("arrays") / "arrays.h5")  # MIAS-SAM: B-scan embeddings by content hash
    cache = {}

    def get(name: str):
        if name not in cache:
            model = create_model(name, modality="oct", device="cpu", calibration_holdout=0.34, **CONFIGS[name])
            model.attach_store(store)
            model.fit([cases(name, volume(1000 + 10 * i, NORMAL_BSCANS), f"n{i}", 500 + i) for i in range(3)])
            cache[name] = model
        return cache[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_lesion_on_one_bscan_of_25_raises_the_volume_score(name, fitted):
    model = fitted(name)
    normal = model.predict(cases(name, volume(2000, N_BSCANS, distinct=DISTINCT), "normal", 777))
    lesion = model.predict(cases(name, volume(2000, N_BSCANS, lesion_at=LESION_AT, distinct=DISTINCT), "lesion", 777))
    assert lesion.maps["oct"].score > normal.maps["oct"].score
    for res in (normal, lesion):
        oct_map = res.maps["oct"]
        assert oct_map.heatmap.shape == (N_BSCANS, 48, 64) and oct_map.heatmap.dtype == np.float32
        assert np.isfinite(oct_map.heatmap).all() and oct_map.page is None
        s = res.slices
        assert s is not None and (s.axis, s.plane) == (0, "bscan") and len(s.scores) == N_BSCANS
        assert oct_map.score == pytest.approx(max(s.scores)) and s.top == int(np.argmax(s.scores))
        if name == "mias_sam":  # one SAM mask per B-scan
            assert oct_map.mask is not None and oct_map.mask.shape == oct_map.heatmap.shape and oct_map.mask.dtype == bool
    assert lesion.slices.top == LESION_AT
    if name != "mmrad":  # a single-image case: the volume decides
        assert lesion.score > normal.score and lesion.image == "oct"
    else:  # the fundus keeps one 2-D map; the OCT volume one per B-scan
        assert lesion.maps["fundus"].heatmap.shape == (72, 72)
        assert "fusion_logit" in lesion.extras and len(lesion.extras["bscan_fusion_logits"]) == N_BSCANS
    # the other 24 B-scans score as before: only B-scan 3 changed
    same = [k for k in range(N_BSCANS) if k != LESION_AT]
    np.testing.assert_allclose(np.array(lesion.slices.scores)[same], np.array(normal.slices.scores)[same], rtol=1e-4, atol=1e-4)
    # calibration is per B-scan: every B-scan of the calibration volumes is a sample, and the card
    # records what the held-out normal volumes scored (the level a threshold is judged by)
    cal = model.mod_calibration["oct"] if name == "mmrad" else model.calibration
    assert cal.n % NORMAL_BSCANS == 0 and cal.n >= NORMAL_BSCANS
    vols = model.card.metrics["volumes"]["normal_volumes"]
    assert vols and all(v["bscans"] == NORMAL_BSCANS for v in vols)
    assert any("OCT volumes" in d for d in model.card.deviations)


@pytest.mark.slow
def test_a_single_bscan_scores_as_it_does_inside_a_volume(fitted):
    model = fitted("patchcore")
    vol = volume(3000, 6, lesion_at=2)
    res = model.predict(LoadedCase.from_arrays("v", oct=vol))
    for k in (0, 2):
        alone = model.predict(LoadedCase.from_arrays(f"b{k}", oct=vol[k]))
        assert alone.maps["oct"].heatmap.shape == (48, 64) and alone.slices is None
        assert alone.score == res.slices.scores[k]  # bit for bit: a B-scan's score does not depend on its neighbours
        np.testing.assert_array_equal(alone.heatmap, res.heatmap[k])
    # leave-one-volume-out: every B-scan of the 3 calibration volumes, scored without its own volume's patches
    assert model.card.calibration["n"] == 3 * NORMAL_BSCANS and "leave-one-image-out" in model.card.calibration["source"]


def test_pages_of_an_image_and_their_combination():
    stack = LoadedCase.from_arrays("s", oct=volume(1, 4)).images["oct"]
    flat = LoadedCase.from_arrays("f", oct=bscan(1)).images["oct"]
    assert len(image_pages(stack)) == 4 and image_pages(flat)[0] is flat.array
    one = (1.5, np.ones((2, 3), np.float32), {"k": 1, "mask": np.ones((2, 3), bool)})
    assert combine_pages([one], stacked=False) is one
    pages = [(float(r), np.full((2, 3), r, np.float32), {"r": r, "mask": np.full((2, 3), r > 1)}) for r in (0.5, 2.0, 1.0)]
    raw, maps, extras = combine_pages(pages, stacked=True)
    assert raw == 2.0 and maps.shape == (3, 2, 3) and extras[PAGE_RAW_SCORES] == [0.5, 2.0, 1.0]
    assert extras["r"] == 2.0 and extras["top_bscan"] == 1 and extras["bscans"] == 3  # the deciding B-scan's diagnostics
    assert extras["mask"].shape == (3, 2, 3) and extras["mask"][1].all() and not extras["mask"][0].any()
