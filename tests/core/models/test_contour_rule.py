"""The heatmap contour's level (issue 27): the 99.9th percentile of the calibration normals' pixels
fell below the normals' own peaks once tiles made maps finer (held-out normals alarmed 2/4 at
tiles=2, 3/4 at tiles=3), so a model can instead set it from the normals' map peaks
(``contour_rule=images``: about one normal map in 20 reaches the contour)."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import LoadedCase
from core.workspace.cards import PEAK_QUANTILE, Calibration, CardError


def _maps(n: int = 20, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    maps = [rng.normal(0, 1, (64, 64)).astype(np.float32) for _ in range(n)]
    for i in range(0, n, 4):  # every fourth normal has a bright speck: its peak is far above the rest
        maps[i][10:12, 10:12] += 8.0
    return maps


def test_contour_levels_from_pixels_and_from_peaks():
    maps = _maps()
    cal = Calibration.from_samples([1.0 + 0.1 * i for i in range(len(maps))], maps, "held-out normals")
    assert len(cal.pixel_peaks) == len(maps)
    z_peaks = [(m.max() - cal.pixel_mean) / cal.pixel_std for m in maps]
    np.testing.assert_allclose(cal.pixel_peaks, z_peaks, rtol=1e-5)
    by_pixels, by_images = cal.contour_threshold("pixels"), cal.contour_threshold("images")
    assert by_pixels == pytest.approx(max(cal.pixel_q999, 1.0))
    assert by_images == pytest.approx(np.quantile(z_peaks, PEAK_QUANTILE))
    # rough maps (independent pixel noise): 0.1 % of 4,096 pixels is four per map, so nearly every
    # normal's peak passes the pixel rule's level; the peak rule's outlines at most one in 20
    assert sum(p >= by_pixels for p in z_peaks) >= 15
    assert sum(p >= by_images for p in z_peaks) <= 1
    with pytest.raises(CardError):
        cal.contour_threshold("median")


def test_peaks_survive_the_card_and_old_cards_fall_back_to_pixels():
    from dataclasses import asdict

    cal = Calibration.from_samples([1.0, 2.0, 3.0], _maps(3), "held-out normals")
    again = Calibration.from_json(asdict(cal))
    assert again.pixel_peaks == pytest.approx(cal.pixel_peaks)
    old = asdict(cal)
    old.pop("pixel_peaks")  # a card written before peaks were recorded
    legacy = Calibration.from_json(old)
    assert legacy.pixel_peaks == [] and legacy.contour_threshold("images") == legacy.contour_threshold("pixels")
    bad = dict(asdict(cal), pixel_peaks=[1.0, "x"])
    with pytest.raises(CardError):
        Calibration.from_json(bad)


def test_a_fitted_models_card_uses_its_contour_rule():
    from core.models import create_model
    from tests.helpers.contract import textured

    normals = [LoadedCase.from_arrays(f"n{i}", fundus=textured(i, 64)) for i in range(4)]
    tiny = dict(backbone_weights="random", backbone="wide_resnet50", image_size=64, coreset_ratio=0.5, device="cpu")
    levels = {}
    for rule in ("pixels", "images"):
        model = create_model("patchcore", contour_rule=rule, **tiny)
        model.fit(normals)
        assert model.card.config["contour_rule"] == rule
        assert model.card.pixel_threshold == pytest.approx(model.calibration.contour_threshold(rule))
        assert model.card.metrics["contour"]["rule"] == rule
        assert model.card.metrics["contour"]["levels"][rule] == pytest.approx(model.card.pixel_threshold, abs=1e-4)
        levels[rule] = model.card.pixel_threshold
    # the same normals and seed: the same calibration, read by two rules
    assert levels["images"] != levels["pixels"]
    # the default, auto: the pixel rule untiled, the peak rule when tiled
    untiled = create_model("patchcore", **tiny)
    tiled = create_model("patchcore", tiles=2, **tiny)
    assert untiled.config.contour_rule == "auto" and untiled.config.resolved_contour_rule() == "pixels"
    assert tiled.config.resolved_contour_rule() == "images"
    tiled.fit(normals)
    assert tiled.card.metrics["contour"]["rule"] == "images"
    assert tiled.card.pixel_threshold == pytest.approx(tiled.calibration.contour_threshold("images"))
