"""Build the PyInstaller bundle into a temporary folder and run its checks (``--version``,
``models --json``, ``--smoke``, ``gui --screenshot``). Minutes and ~10 GB of temporary disk, so it
is not part of the default run: ``pytest -m packaging -s`` (``-s`` shows the measured figures).

``ANOMALY_STUDIO_TEST_BUNDLE=/path/to/AnomalyStudio`` checks an already built bundle instead.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.models.registry import METHODS
from core.runtime.weights import LITEMEDSAM

pytestmark = pytest.mark.packaging
REPO = Path(__file__).resolve().parents[2]


def _build_module():
    spec = importlib.util.spec_from_file_location("anomaly_studio_build", REPO / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_window_image(path: Path, min_size=(1200, 800)) -> None:
    assert path.is_file(), path
    with Image.open(path) as im:
        assert im.format == "PNG"
        rgb = np.asarray(im.convert("RGB"))
    h, w = rgb.shape[:2]
    assert w >= min_size[0] and h >= min_size[1], (w, h)
    # a rendered window: many distinct colours (image, heatmap, text), not a blank or single-colour grab
    colours = np.unique(rgb.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 500, len(colours)
    assert float(rgb.std()) > 10


@pytest.fixture(scope="module")
def bundle_summary(tmp_path_factory):
    build = _build_module()
    existing = os.environ.get("ANOMALY_STUDIO_TEST_BUNDLE")
    out = tmp_path_factory.mktemp("bundle-out")
    t0 = time.monotonic()
    if existing:
        bundle = Path(existing)
        summary = {"bundle": str(bundle), "build_seconds": None}
    else:
        dist, work = out / "dist", out / "build"
        summary = {"build_seconds": round(build.build(dist, work, clean=True), 1)}
        bundle = dist / build.BUNDLE_NAME
        summary.update(bundle=str(bundle), size_mb=round(build.folder_size(bundle) / 2**20))
    try:
        summary.update(build.check_bundle(bundle, out, smoke=True))
        summary["test_seconds"] = round(time.monotonic() - t0, 1)
        print("\n" + json.dumps({k: v for k, v in summary.items() if k != "smoke_output"}, indent=2))
        yield bundle, summary, out
    finally:
        if not existing:
            shutil.rmtree(out / "dist", ignore_errors=True)  # ~5 GB
            shutil.rmtree(out / "build", ignore_errors=True)


def test_bundle_checks_pass(bundle_summary):
    bundle, summary, _ = bundle_summary
    assert summary["failures"] == [], summary.get("smoke_output") or summary["failures"]
    assert summary["ok"] is True
    assert summary["version"].startswith("anomaly-studio ")
    assert set(METHODS) <= set(summary["models"])
    assert summary["files_written_in_bundle"] == []


def test_bundle_smoke_runs_a_model_frozen_with_bundled_weights(bundle_summary):
    bundle, summary, _ = bundle_summary
    smoke = summary["smoke"]
    assert summary["smoke_returncode"] == 0 and smoke["ok"] is True
    assert smoke["frozen"] is True
    assert math.isfinite(smoke["score"]) and smoke["case"]
    assert {"weights", "demo workspace", "fit mias_sam", "predict", "window screenshot"} <= set(smoke["steps"])
    # LiteMedSAM comes from inside the bundle and its SHA-256 was verified there
    weights = Path(smoke["litemedsam"]["path"])
    assert bundle.resolve() in weights.resolve().parents
    assert smoke["litemedsam"]["sha256"] == LITEMEDSAM.sha256
    # settings/logs go to the per-user folder, never into the bundle
    app_data = Path(smoke["app_data"])
    assert bundle.resolve() not in app_data.resolve().parents
    if sys.platform.startswith("linux"):
        assert app_data.parts[-2:] == ("xdg", "anomaly-studio")
        assert "xdg/anomaly-studio/logs/anomaly-studio.log" in summary["app_data_used"]


def test_bundle_screenshots_are_real_window_images(bundle_summary):
    _, summary, out = bundle_summary
    _assert_window_image(Path(summary["smoke"]["screenshot"]))
    _assert_window_image(out / "window.png")
    assert summary["startup_seconds_window"] > 0
