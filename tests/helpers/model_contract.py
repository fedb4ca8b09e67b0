"""The behaviour every fitted AnomalyModel shows, checked the same way for every method.

``check_model_contract(model, cases, folder)`` asserts: a complete, JSON-serialisable card; finite
calibrated scores; heatmaps (and masks) on each scored image's own grid; identical results when a
case is scored again, alone or after other cases (no batch statistics); a save / load round trip
that reproduces scores and maps; a modified weights file is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.domain import LoadedCase
from core.models.base import AnomalyModel, AnomalyResult, ModelFolderError


def _grid(array: np.ndarray, is_volume: bool) -> tuple[int, ...]:
    if is_volume:
        return tuple(array.shape)
    return tuple(array.shape[:2]) if array.ndim == 2 or array.shape[-1] == 3 else tuple(array.shape[-2:])


def _check_result(model: AnomalyModel, case: LoadedCase, r: AnomalyResult) -> None:
    assert isinstance(r, AnomalyResult)
    assert np.isfinite(r.score), f"{model.name}: score of {case.id} is {r.score}"
    assert r.maps and r.image in r.maps
    for name, m in r.maps.items():
        im = case.images[name]
        grid = _grid(im.array, im.record.is_volume)
        assert m.heatmap.dtype == np.float32 and m.heatmap.shape == grid, f"{name}: heatmap {m.heatmap.shape}, image grid {grid}"
        assert np.isfinite(m.heatmap).all()
        if m.mask is not None:
            assert m.mask.dtype == bool and m.mask.shape == grid
        assert m.score is not None and np.isfinite(m.score)
    assert r.heatmap is r.maps[r.image].heatmap


def check_model_contract(model: AnomalyModel, cases: list[LoadedCase], folder: str | Path) -> dict[str, AnomalyResult]:
    folder = Path(folder)
    assert model.fitted
    card = json.loads(json.dumps(model.card.to_json()))           # serialisable as it is stored
    assert card["method"] == model.name and card["version"] and card["created"] and card["paper"]
    for key in ("image_size", "device", "seed"):
        assert key in card["config"], key
    if model.trained:
        assert "epochs" in card["config"] and "batch_size" in card["config"]
    assert card["calibration"]["n"] >= 1 and card["calibration"]["std"] > 0
    assert card["deviations"] == list(model.deviations)

    first = {c.id: model.predict(c) for c in cases}
    for c in cases:
        _check_result(model, c, first[c.id])
    # scored again, alone and after the others in reverse order: identical (no batch statistics)
    for c in reversed(cases):
        again = model.predict(c)
        assert again.score == first[c.id].score
        np.testing.assert_array_equal(again.heatmap, first[c.id].heatmap)

    model.save(folder)
    loaded = type(model).load(folder, device="cpu")
    assert loaded.card.version == model.card.version and loaded.calibration.n == model.calibration.n
    for c in cases:
        r = loaded.predict(c)
        assert abs(r.score - first[c.id].score) <= 1e-4 * max(1.0, abs(first[c.id].score))
        np.testing.assert_allclose(r.heatmap, first[c.id].heatmap, rtol=1e-4, atol=1e-4)
        if first[c.id].mask is not None:
            assert (r.mask != first[c.id].mask).mean() < 1e-3

    damaged = folder.parent / (folder.name + "-damaged")
    damaged.mkdir(exist_ok=True)
    for f in folder.iterdir():
        (damaged / f.name).write_bytes(f.read_bytes())
    weights = damaged / "model.pt"
    weights.write_bytes(weights.read_bytes()[:-16])
    try:
        type(model).load(damaged)
    except ModelFolderError:
        pass
    else:
        raise AssertionError(f"{model.name}: a truncated model.pt was accepted")
    return first
