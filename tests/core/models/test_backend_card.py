"""The inference backend a model was fitted with is recorded in its card (metrics and, for ONNX
Runtime, a line beside the method's deviations), and a loaded version predicts with it."""

from __future__ import annotations

import pytest

from core.domain import LoadedCase
from core.models import create_model
from core.models.base import ONNX_DEVIATION
from core.runtime.inference import BACKEND_ENV
from tests.helpers.contract import textured


def test_card_records_the_backend_and_declares_onnx_once(monkeypatch):
    model = create_model("patchcore", device="cpu")
    own = list(type(model).deviations)
    monkeypatch.setenv(BACKEND_ENV, "onnx")
    assert model.record_inference_backend() == "onnx"
    model.record_inference_backend()  # a second fit of the same object
    assert model.card.metrics["inference_backend"] == "onnx"
    assert model.card.deviations == own + [ONNX_DEVIATION]
    monkeypatch.setenv(BACKEND_ENV, "torch")
    assert model.record_inference_backend() == "torch"
    assert model.card.metrics["inference_backend"] == "torch" and model.card.deviations == own


@pytest.mark.slow
def test_fitted_onnx_model_keeps_its_backend_after_loading(tmp_path, monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "onnx")
    model = create_model("patchcore", device="cpu", coreset_ratio=0.5)
    model.fit([LoadedCase.from_arrays(f"n{i}", fundus=textured(i, 64)) for i in range(2)])
    assert model.card.metrics["inference_backend"] == "onnx" and ONNX_DEVIATION in model.card.deviations
    model.save(tmp_path / "v")
    monkeypatch.setenv(BACKEND_ENV, "auto")  # a later session with the default setting
    again = type(model).load(tmp_path / "v")
    assert again.backend == "onnx" and again.card.deviations == model.card.deviations
