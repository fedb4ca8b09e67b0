"""Fundus maps are floored outside the camera's field of view (issue 27): patches in the black
surround (image borders, corners) set PatchCore's pixel threshold on the demo (a leave-one-out
normal peaked at 10.1 in a corner while held-out normals peaked at 1.6-2.5 inside the circle), so
the small lesions inside never reached it. The calibration and the map now come from the field of view."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import LoadedCase


def _photo(rng: np.random.Generator, n: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    inside = (yy - n / 2) ** 2 + (xx - n / 2) ** 2 < (0.42 * n) ** 2
    img = np.zeros((n, n, 3), np.uint8)
    img[inside] = (170, 70, 40)
    img = np.clip(img.astype(int) + rng.integers(-6, 7, img.shape) * inside[..., None], 0, 255).astype(np.uint8)
    return img


def _model(**kw):
    from core.models import create_model

    return create_model("patchcore", backbone_weights="random", coreset_ratio=0.05, device="cpu", modality="fundus", **kw)


def test_in_view_floors_only_a_fundus_photos_surround():
    from core.models.tiling import field_of_view

    rng = np.random.default_rng(0)
    photo = _photo(rng)
    fov = field_of_view(photo)
    raw = rng.random(photo.shape[:2]).astype(np.float32)
    raw[0, 0] = raw[-1, -1] = 50.0  # a corner artefact in the black surround
    model = _model()
    img = LoadedCase.from_arrays("c", fundus=photo).images["fundus"]
    out = model.in_view(img, raw)
    assert out.max() < 50.0 and np.all(out[~fov] == raw[fov].min())
    np.testing.assert_array_equal(out[fov], raw[fov])  # inside the circle: untouched
    grey = LoadedCase.from_arrays("o", oct=photo[..., 0]).images["oct"]
    assert model.in_view(grey, raw) is raw  # not a fundus photo: unchanged


@pytest.mark.slow
def test_fitted_fundus_model_calibrates_and_maps_inside_the_field_of_view():
    from core.models.base import VIEW_NOTE
    from core.models.tiling import field_of_view

    rng = np.random.default_rng(1)
    normals = [LoadedCase.from_arrays(f"n{i}", fundus=_photo(rng)) for i in range(4)]
    odd = _photo(rng)
    odd[:6, :6] = 255  # a bright label burnt into the corner of one normal's surround
    normals.append(LoadedCase.from_arrays("odd", fundus=odd))
    model = _model()
    model.fit(normals)
    test = _photo(rng)
    test[:6, -6:] = 255  # an artefact outside the circle is not a finding
    res = model.predict_array(test)
    fov = field_of_view(test)
    inside_min = res.heatmap[fov].min()
    assert np.allclose(res.heatmap[~fov], inside_min)
    assert res.heatmap.max() < model.card.pixel_threshold  # no contour in the corner
    assert VIEW_NOTE in model.card.deviations
