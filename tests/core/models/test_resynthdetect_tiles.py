"""ReSynthDetect with tiled, native-resolution inference (issue 27): both networks train on tiles,
a prediction stitches the tiles' probability maps, the image score is the top-k over every tile,
and the tiling is recorded in the card and survives save/load."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import LoadedCase
from core.models.tiling import tile_grid
from tests.core.models.test_resynthdetect import TINY as BASE

# the tiny CPU configuration of the ReSynthDetect tests, smaller still: four tiles per image
TINY = {**BASE, "image_size": 48, "levels": 3, "epochs": 2, "ae_epochs": 1, "seed": 5}


@pytest.fixture(scope="module")
def photos():
    import cv2

    from core.data.synthetic import fundus as F

    rng = np.random.default_rng(1)
    retina = F.load_retina()
    return [cv2.resize(F.random_derivation(rng).apply(retina), (120, 120), interpolation=cv2.INTER_AREA) for _ in range(4)]


@pytest.fixture(scope="module")
def tiled(photos):
    import torch

    from core.models.resynthdetect.model import ReSynthDetect

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = ReSynthDetect(tiles=2, **TINY)
        model.fit([LoadedCase.from_arrays(f"N{i}", fundus=p) for i, p in enumerate(photos[:3])])
    finally:
        torch.set_num_threads(n)
    return model


def test_a_photo_is_cut_into_native_resolution_tiles(tiled, photos):
    parts = tiled.page_parts(photos[3], fundus=True)
    grid = tile_grid(120, 120, 2, 0.25)
    assert [t for _, t in parts] == grid  # every 2 x 2 tile holds enough of the field of view
    for px, t in parts:
        assert px.shape[:2] == t.shape and np.array_equal(px, t.crop(photos[3]))
    untiled = tiled.__class__(tiles=1, **TINY)
    assert [t for _, t in untiled.page_parts(photos[3], fundus=True)] == [None]


def test_prediction_stitches_tile_maps_and_scores_over_every_tile(tiled, photos):
    case = LoadedCase.from_arrays("T", fundus=photos[3])
    r = tiled.predict(case)
    assert r.heatmap.shape == (120, 120) and np.isfinite(r.heatmap).all()
    tiles = [t for _, t in tiled.page_parts(photos[3], fundus=True)]
    assert r.extras["tiles"] == [t.as_list() for t in tiles]
    probs = tiled.probabilities([tiled.prepare(px) for px, _ in tiled.page_parts(photos[3], fundus=True)])
    assert probs.shape == (4, 48, 48)
    top = float(np.sort(probs.ravel())[-tiled.config.top_k :].mean())
    assert r.raw_score == pytest.approx(top, rel=1e-5)
    # a pixel of the field of view only the first tile covers carries that tile's own (resized)
    # probability, calibrated (pixels outside the field of view are floored: core.models.base.in_view)
    from core.models.tiling import field_of_view, resize_map

    y = x = 40
    assert field_of_view(photos[3])[y, x] and all(t.y0 > y or t.x0 > x for t in tiles[1:])
    first = resize_map(probs[0], tiles[0].shape, antialias=False)
    cal = tiled.calibration
    expected = (first[y, x] - cal.pixel_mean) / cal.pixel_std
    assert r.heatmap[y, x] == pytest.approx(expected, rel=1e-4, abs=1e-4)


def test_card_records_the_tiling_and_a_reload_predicts_the_same(tiled, photos, tmp_path):
    from core.models.resynthdetect.model import ReSynthDetect

    assert tiled.card.metrics["tiling"].startswith("2 x 2 tiles")
    assert any("Tiled inference" in d for d in tiled.card.deviations)
    tiled.save(tmp_path / "m")
    again = ReSynthDetect.load(tmp_path / "m")
    assert again.config.tiles == 2
    case = LoadedCase.from_arrays("T", fundus=photos[3])
    a, b = tiled.predict(case), again.predict(case)
    assert a.score == b.score and np.array_equal(a.heatmap, b.heatmap)
