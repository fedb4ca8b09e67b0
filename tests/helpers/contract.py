"""The shared model contract every registered method must pass (tiny configurations, CPU)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.domain import LoadedCase
from core.errors import CancelledError
from core.models.base import AnomalyModel
from core.runtime.progress import CancelToken


def textured(seed: int, size: int = 64, lesion: bool = False, rgb: bool = True) -> np.ndarray:
    """A smooth random texture (a stand-in 'normal' image); ``lesion`` adds a bright blob."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(rng.random((size, size, 3 if rgb else 1)), sigma=(3, 3, 0)) * 120 + 60
    if lesion:
        yy, xx = np.mgrid[:size, :size]
        blob = ((yy - size * 0.6) ** 2 + (xx - size * 0.4) ** 2) < (size * 0.12) ** 2
        base[blob] = 250
    out = np.clip(base, 0, 255).astype(np.uint8)
    return out if rgb else out[..., 0]


def check_contract(make_model, normals: list[LoadedCase], probe: LoadedCase, tmp_path, fit_kwargs: dict | None = None) -> AnomalyModel:
    """Fit, predict, save/load, cancel. Returns the fitted model."""
    model: AnomalyModel = make_model()
    model.fit(normals, **(fit_kwargs or {}))
    res = model.predict(probe)
    for name, m in res.maps.items():
        src = probe.images[name].array
        expected = (
            src.shape[:2]
            if src.ndim == 3 and src.shape[-1] == 3
            else src.shape[-2:]
            if not probe.images[name].record.is_volume
            else src.shape
        )
        if probe.images[name].record.is_stack:  # one map per B-scan
            expected = src.shape[:3]
        assert m.heatmap.shape == tuple(expected), (name, m.heatmap.shape, expected)
        assert m.heatmap.dtype == np.float32
        assert np.all(np.isfinite(m.heatmap))
        if m.mask is not None:
            assert m.mask.shape == m.heatmap.shape and m.mask.dtype == bool
    assert np.isfinite(res.score)
    # scored alone == scored again (no batch effects, deterministic)
    again = model.predict(probe)
    assert again.score == res.score
    np.testing.assert_array_equal(again.heatmap, res.heatmap)
    # save / load gives identical outputs
    folder = model.save(tmp_path / "saved")
    loaded = type(model).load(folder)
    res2 = loaded.predict(probe)
    assert res2.score == pytest.approx(res.score, rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(res2.heatmap, res.heatmap, rtol=1e-5, atol=1e-5)
    # cancel stops fit
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        make_model().fit(normals, cancel=token, **(fit_kwargs or {}))
    return model


def cancel_midway(make_model, normals: list[LoadedCase], fit_kwargs: dict | None = None) -> None:
    """Cancel from another thread while fit runs; fit must stop with CancelledError."""
    token = CancelToken()
    calls = []

    def progress(done, total, message):
        calls.append(message)
        if len(calls) == 2:
            threading.Thread(target=token.cancel).start()

    with pytest.raises(CancelledError):
        make_model().fit(normals, progress=progress, cancel=token, **(fit_kwargs or {}))
