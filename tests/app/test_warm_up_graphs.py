"""The window's warm-up (on the GPU worker, right after launch) also exports, on the first start,
and opens LiteMedSAM's ONNX Runtime encoder and decoder (issue 26): exporting imports ``onnx``,
whose ``ml_dtypes`` extension holds the GIL for about a second, which had frozen the window for
1.35 s in the middle of the first model run (bench/gui_timings); after this the run's worst
event-loop gap was 20 ms."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_warm_up_exports_and_opens_the_graphs_on_a_first_start(tmp_path, monkeypatch):
    from app.controllers.model_runs import _preload_and_describe
    from core.runtime import inference

    monkeypatch.setenv("ANOMALY_STUDIO_HOME", str(tmp_path))  # a first start: nothing exported yet
    monkeypatch.setenv(inference.BACKEND_ENV, "onnx")
    text = _preload_and_describe("cpu", preload=True)
    assert "CPU" in text
    cache = tmp_path / "cache" / "onnx"
    assert list(cache.glob("litemedsam-image-encoder-*.onnx")) and list(cache.glob("litemedsam-mask-decoder-*.onnx"))
    opened = sorted(g.spec.name for (_key, folder), g in inference._graphs.items() if folder == str(cache))
    assert opened == ["litemedsam-image-encoder", "litemedsam-mask-decoder"]


def test_warm_up_on_torch_exports_nothing(tmp_path, monkeypatch):
    from app.controllers.model_runs import _prepare_graphs
    from core.runtime import inference

    monkeypatch.setenv("ANOMALY_STUDIO_HOME", str(tmp_path))
    monkeypatch.setenv(inference.BACKEND_ENV, "torch")
    _prepare_graphs("cpu")
    assert not (tmp_path / "cache" / "onnx").exists() or not list((tmp_path / "cache" / "onnx").glob("*.onnx"))
