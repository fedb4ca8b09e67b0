"""bench/lesion_size on tiny images and a random-weight encoder: per size and contrast it reports a
detected share and a pixel AUROC, the normals' false alarms, times and ratios to tiles=1, for fundus
photos and for OCT B-scans."""

from __future__ import annotations

import numpy as np
import pytest

from bench import lesion_size as L


def _photo(rng, n=160):
    yy, xx = np.mgrid[:n, :n]
    inside = (yy - n / 2) ** 2 + (xx - n / 2) ** 2 < (0.44 * n) ** 2
    img = np.zeros((n, n, 3), np.uint8)
    img[inside] = (175, 75, 45)
    return np.clip(img.astype(int) + rng.integers(-5, 6, img.shape) * inside[..., None], 0, 255).astype(np.uint8)


def _bscan(rng, h=96, w=160):
    img = np.full((h, w), 12, np.float32)
    img[30:70] = 150  # the retina band
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


@pytest.mark.slow
@pytest.mark.parametrize("modality", ["fundus", "oct"])
def test_lesion_size_reports_every_size_contrast_and_tiling(modality):
    rng = np.random.default_rng(0)
    make = _photo if modality == "fundus" else _bscan
    train, held = [make(rng) for _ in range(2)], [make(rng)]
    lesions = L.lesion_set(held, (6, 20), ("strong",), modality)
    assert len(lesions) == 2 and all(les["mask"].any() for les in lesions)
    assert all(not np.array_equal(les["image"], held[0]) for les in lesions)  # every lesion changes pixels
    cfg = {"backbone_weights": "random", "coreset_ratio": 0.05, "feature_dim": 64}
    results = [L.run_one("patchcore", t, train, held, lesions, "cpu", lambda m: None, modality, cfg) for t in (1, 2)]
    L.add_ratios(results)
    for r in results:
        assert r["modality"] == modality and r["bank_size"] > 0
        assert {(row["radius_px"], row["contrast"]) for row in r["per_size"]} == {(6, "strong"), (20, "strong")}
        assert set(r["levels"]) == {"pixels", "images"}
        assert r["contour_rule"] == ("pixels" if r["tiles"] == 1 else "images")  # the default rule, auto
        assert r["normal_false_alarm_by_rule"][r["contour_rule"]] == r["normal_false_alarm"]
        for row in r["per_size"]:
            assert 0.0 <= row["detected"] <= 1.0 and 0.0 <= row["pixel_auroc"] <= 1.0
            assert row["detected_by_rule"][r["contour_rule"]] == row["detected"]  # the model's own rule is its card's level
        assert 0.0 <= r["normal_false_alarm"] <= 1.0 and r["predict_s_per_image"] > 0
    assert results[0]["predict_time_ratio"] == 1.0 and results[1]["predict_time_ratio"] > 0
    # a 20 px lesion on a 160 px image is ranked above the background by any tiling
    big = [row for row in results[0]["per_size"] if row["radius_px"] == 20 and row["contrast"] == "strong"][0]
    assert big["pixel_auroc"] > 0.7
    text = L.table(results)
    assert "| patchcore | 2 | pixels " in text and "(model's) | strong |" in text and "r=20 px" in text
    assert "| patchcore | 2 | images " in text
