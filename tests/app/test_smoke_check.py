"""``anomaly-studio --smoke``: the installation self-check that the bundle build runs, from source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.runtime.weights import LITEMEDSAM

REPO = Path(__file__).resolve().parents[2]


def test_smoke_arguments_reach_run_smoke(monkeypatch):
    import app.main
    import app.smoke

    calls = []
    monkeypatch.setattr(app.smoke, "run_smoke", lambda shot=None, keep=False: calls.append((shot, keep)) or 0)
    assert app.main.main(["--smoke"]) == 0
    assert app.main.main(["--smoke", "out.png"]) == 0
    assert app.main.main(["--smoke", "out.png", "--keep"]) == 0
    assert app.main.main(["--smoke", "--keep"]) == 0
    assert calls == [(None, False), ("out.png", False), ("out.png", True), (None, True)]


@pytest.mark.slow
def test_smoke_from_source_runs_a_model_and_renders_the_window(tmp_path):
    shot = tmp_path / "smoke.png"
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1")
    res = subprocess.run(
        [sys.executable, "-m", "app.main", "--smoke", str(shot)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = json.loads(res.stdout[res.stdout.index("{") :])
    assert out["ok"] is True and out["frozen"] is False
    assert np.isfinite(out["score"]) and out["case"].startswith("FUN-L")
    assert out["litemedsam"]["sha256"] == LITEMEDSAM.sha256
    assert Path(out["app_data"]) == Path(os.environ["ANOMALY_STUDIO_HOME"])  # the tests' private folder
    assert Path(out["log"]).is_file()
    assert out["workspace"] is None  # the temporary demo workspace was removed
    # on a CPU the encoder ran on ONNX Runtime, its graph exported into the application-data cache
    assert out["backend"] == "onnx" and Path(out["app_data"]) in Path(out["onnx_graph"]).parents
    with Image.open(shot) as im:
        rgb = np.asarray(im.convert("RGB"))
    assert rgb.shape[:2] == (1000, 1600)
    assert len(np.unique(rgb.reshape(-1, 3)[::7], axis=0)) > 500
