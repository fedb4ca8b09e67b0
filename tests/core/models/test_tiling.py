"""Tiled native-resolution inference: the tile grid, field-of-view skipping, stitching, and a
memory-bank method fitted and predicting with tiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from core.models.bank_model import MemoryBankModel, PatchGrid
from core.models.bank_settings import MemoryBankSettings
from core.models.contract import Capabilities, Supervision
from core.models.tiling import Tile, blend_weight, field_of_view, stitch, tile_grid, tiles_in_view


@dataclass(frozen=True)
class _CellSettings(MemoryBankSettings):
    METHOD: ClassVar[str] = "cell_means"


def _fundus_like(h: int = 200, w: int = 240) -> np.ndarray:
    """An RGB image with a bright disc (the field of view) on a black surround."""
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= (0.45 * h) ** 2
    img = np.zeros((h, w, 3), np.uint8)
    img[disc] = (150, 70, 40)
    return img


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("hw", [(1411, 1411), (496, 768), (37, 53)])
def test_tile_grid_covers_the_image_with_overlap(n, hw):
    h, w = hw
    grid = tile_grid(h, w, n, overlap=0.25)
    assert len(grid) == n * n
    cover = np.zeros((h, w), int)
    for t in grid:
        assert 0 <= t.y0 < t.y1 <= h and 0 <= t.x0 < t.x1 <= w
        cover[t.y0 : t.y1, t.x0 : t.x1] += 1
    assert cover.min() >= 1  # every pixel lies in some tile
    if n > 1:
        assert cover.max() >= 2  # neighbours overlap
        side = grid[0].shape
        assert side[0] < h and side[1] < w  # tiles are smaller than the image: less shrinking
        assert all(t.shape == side for t in grid)
    else:
        assert grid == [Tile(0, h, 0, w)]


def test_tile_grid_rejects_bad_arguments():
    with pytest.raises(ValueError):
        tile_grid(10, 10, 0)
    with pytest.raises(ValueError):
        tile_grid(10, 10, 2, overlap=1.0)


def test_stitching_is_exact_on_a_constant_map():
    grid = tile_grid(301, 257, 3, overlap=0.3)
    maps = [np.full(t.shape, 2.5, np.float32) for t in grid]
    out = stitch(maps, grid, (301, 257))
    assert out.shape == (301, 257)
    np.testing.assert_allclose(out, 2.5, rtol=0, atol=1e-6)


def test_stitching_puts_each_tile_where_it_belongs_and_blends_overlaps():
    grid = tile_grid(100, 100, 2, overlap=0.25)
    maps = [np.full(t.shape, float(i), np.float32) for i, t in enumerate(grid)]
    out = stitch(maps, grid, (100, 100))
    assert out[0, 0] == pytest.approx(0.0) and out[0, -1] == pytest.approx(1.0)
    assert out[-1, 0] == pytest.approx(2.0) and out[-1, -1] == pytest.approx(3.0)
    mid = out[10, 45:56]  # across the vertical overlap of tiles 0 and 1: a smooth ramp from 0 to 1
    assert 0.0 < mid[5] < 1.0 and np.all(np.diff(mid) >= -1e-6)


def test_stitching_fills_uncovered_pixels_with_the_lowest_value():
    tiles = [Tile(0, 10, 0, 10)]
    out = stitch([np.arange(100, dtype=np.float32).reshape(10, 10) + 5], tiles, (20, 20))
    assert out[15, 15] == pytest.approx(5.0) and out[9, 9] == pytest.approx(104.0)


def test_blend_weight_is_positive_and_peaks_inside():
    w = blend_weight((20, 30), ramp=5)
    assert w.min() > 0 and w[10, 15] == pytest.approx(1.0) and w[0, 0] < w[5, 5]


def test_field_of_view_and_tiles_outside_it_are_skipped():
    img = np.zeros((400, 400, 3), np.uint8)
    img[:150, :150] = (160, 80, 40)  # the field of view lies in the top-left corner only
    fov = field_of_view(img)
    assert fov[:150, :150].all() and not fov[200:, 200:].any()
    grid = tile_grid(400, 400, 3, overlap=0.2)
    kept = tiles_in_view(grid, fov)
    assert 0 < len(kept) < len(grid)
    assert all(t.crop(fov).mean() >= 0.02 for t in kept)
    assert Tile(*grid[-1].as_list()) not in kept  # the bottom-right tile sees only black
    assert tiles_in_view(grid, None) == grid
    assert tiles_in_view(grid, np.zeros((400, 400), bool)) == grid  # nothing in view: keep everything


def test_field_of_view_of_a_fundus_like_disc():
    img = _fundus_like()
    fov = field_of_view(img)
    assert fov[100, 120] and not fov[0, 0]
    assert field_of_view(np.full((20, 20), 100, np.uint8)).all()  # no dark surround: all in view


class _CellMeans(MemoryBankModel):
    """A memory-bank method whose patch feature is the mean colour of a cell of a 16 x 16 grid:
    the tiling plumbing without a network."""

    name = "cell_means"
    title = "cell means (test)"
    paper = "none"
    Settings = _CellSettings
    capabilities = Capabilities(Supervision.UNSUPERVISED, ("fundus", "oct"))

    def patch_features(self, pixels: np.ndarray, sha: str | None = None) -> PatchGrid:
        h, w = pixels.shape[:2]
        ch = pixels.shape[2] if pixels.ndim == 3 else 1
        ys, xs = np.linspace(0, h, 17).astype(int), np.linspace(0, w, 17).astype(int)
        cells = [pixels[ys[i] : ys[i + 1], xs[j] : xs[j + 1]].reshape(-1, ch).mean(axis=0) for i in range(16) for j in range(16)]
        return PatchGrid(np.asarray(cells, np.float32), (16, 16), (64, 64), (h, w))


def test_tiled_bank_method_skips_tiles_outside_the_view_and_finds_a_small_spot():
    from core.domain import LoadedCase

    rng = np.random.default_rng(1)
    base = np.zeros((240, 240, 3), np.uint8)
    base[:150, :150] = (150, 70, 40)  # field of view in the top-left corner

    def noisy() -> np.ndarray:
        return np.clip(base.astype(int) + rng.integers(-3, 4, base.shape) * (base > 0), 0, 255).astype(np.uint8)

    normals = [LoadedCase.from_arrays(f"n{i}", fundus=noisy()) for i in range(4)]
    model = _CellMeans(_CellSettings(tiles=3, smooth_sigma=0.0, coreset_ratio=1.0, modality="fundus", device="cpu"))
    model.fit(normals)
    assert model.card.metrics["tiling"].startswith("3 x 3")
    spot = noisy()
    spot[60:66, 90:96] = (250, 250, 250)  # a 6 px spot
    res = model.predict_array(spot)
    tiles = res.extras["tiles"]
    assert 0 < len(tiles) < 9  # tiles that see only the black surround are not encoded
    assert all(t[0] < 150 and t[2] < 150 for t in tiles)
    assert res.heatmap.shape == (240, 240)
    y, x = np.unravel_index(int(np.argmax(res.heatmap)), res.heatmap.shape)
    assert 50 <= y <= 76 and 80 <= x <= 106  # the hottest pixel lies on the spot
    assert res.heatmap[60:66, 90:96].max() >= model.card.pixel_threshold


def test_every_bscan_of_a_volume_is_encoded_through_the_tiling():
    """An OCT volume with tiles=2: each B-scan is tiled on its own (no field-of-view skipping off
    fundus), gets its own stitched map and score, and the spot's B-scan decides the volume."""
    from core.domain import LoadedCase

    rng = np.random.default_rng(2)

    def bscans(n: int) -> np.ndarray:
        return (120 + rng.integers(-3, 4, (n, 96, 128))).astype(np.uint8)

    normals = [LoadedCase.from_arrays(f"v{i}", oct=bscans(2)) for i in range(3)]
    model = _CellMeans(_CellSettings(tiles=2, smooth_sigma=0.0, coreset_ratio=1.0, modality="oct", device="cpu"))
    model.fit(normals)
    assert model.calibration.n == 3 * 2  # every B-scan of the normal volumes is a calibration sample
    vol = bscans(3)
    vol[1, 40:46, 60:66] = 255  # a 6 px spot on B-scan 1 only
    res = model.predict(LoadedCase.from_arrays("v", oct=vol))
    oct_map = res.maps["oct"]
    assert oct_map.heatmap.shape == (3, 96, 128) and np.isfinite(oct_map.heatmap).all()
    assert res.slices is not None and len(res.slices.scores) == 3 and res.slices.top == 1
    assert len(res.extras["tiles"]) == 4  # every tile of a B-scan is encoded (no fundus field of view)
    k, y, x = np.unravel_index(int(np.argmax(oct_map.heatmap)), oct_map.heatmap.shape)
    assert k == 1 and 34 <= y <= 52 and 54 <= x <= 72
    alone = model.predict(LoadedCase.from_arrays("b1", oct=vol[1]))  # a single B-scan scores as inside its volume
    assert alone.score == res.slices.scores[1]
    np.testing.assert_array_equal(alone.heatmap, oct_map.heatmap[1])


@pytest.mark.slow
def test_tiled_memory_bank_fits_and_stitches_a_full_map():
    """PatchCore with 2 x 2 tiles (random TinyViT weights): the bank holds tile features, the map
    covers the whole image, the result lists the tiles, and the card records the tiling."""
    from core.domain import LoadedCase
    from core.models import create_model

    rng = np.random.default_rng(0)
    base = _fundus_like(160, 160)

    def noisy() -> np.ndarray:
        return np.clip(base.astype(int) + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8)

    normals = [LoadedCase.from_arrays(f"n{i}", fundus=noisy()) for i in range(3)]
    kw = dict(backbone_weights="random", coreset_ratio=0.01, device="cpu", modality="fundus")
    one = create_model("patchcore", **kw)
    one.fit(normals)
    two = create_model("patchcore", tiles=2, **kw)
    two.fit(normals)
    # four tiles' features per normal, one coreset budget: the untiled bank's size
    assert abs(len(two.memory_bank) - len(one.memory_bank)) <= 1
    assert two.card.metrics["tiling"].startswith("2 x 2") and two.card.config["tiles"] == 2
    res = two.predict_array(noisy())
    assert res.heatmap.shape == (160, 160) and np.isfinite(res.heatmap).all()
    assert len(res.extras["tiles"]) == 4
    assert "tiles" not in one.predict_array(noisy()).extras
