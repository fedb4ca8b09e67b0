"""`anomaly-studio gui --workspace W --case ID --screenshot out.png`: the pair view with the stored
heatmap overlay, and the three-plane view for an MRI case."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def _screenshot(monkeypatch, args):
    import app.main as entry

    seen = {}
    original = entry.save_screenshot

    def spy(window, path):
        seen["viewer"] = window.viewers.currentWidget()
        seen["window"] = window
        seen["fundus_heat"] = window.case_view.overlays["fundus"].heatmap_visible()
        seen["legend"] = window.legend.isVisible()
        seen["pair"] = window.case_view.fundus.isVisible() and window.case_view.oct.isVisible()
        original(window, path)

    monkeypatch.setattr(entry, "save_screenshot", spy)
    assert entry.main(args) == 0
    return seen


def _pixels(path) -> np.ndarray:
    img = QImage(str(path)).convertToFormat(QImage.Format_RGB888)
    w, h = img.width(), img.height()
    return (
        np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())[:, : w * 3].reshape(h, w, 3)
    )


def test_screenshot_of_a_fundus_case_shows_the_heatmap(fitted_demo, tmp_path, monkeypatch, qapp):
    out = tmp_path / "fun.png"
    seen = _screenshot(monkeypatch, ["gui", "--workspace", str(fitted_demo), "--case", "FUN-L01", "--screenshot", str(out)])
    w = seen["window"]
    assert seen["viewer"] is w.case_view and seen["fundus_heat"] and seen["legend"]
    px = _pixels(out)
    assert px.shape == (1000, 1600, 3)
    # turbo's greens and blues do not occur in a fundus photograph: they are the heatmap
    r, g, b = (px[..., i].astype(int) for i in range(3))
    greenish = ((g > r + 40) & (g > b)).sum()
    assert greenish > 300


def test_screenshot_of_a_pair_and_an_mri_case(fitted_demo, tmp_path, monkeypatch, qapp):
    seen = _screenshot(
        monkeypatch,
        ["gui", "--workspace", str(fitted_demo), "--case", "PAIR-L01", "--screenshot", str(tmp_path / "pair.png"), "--size", "1920x1080"],
    )
    w = seen["window"]
    assert seen["viewer"] is w.case_view and seen["pair"]
    assert _pixels(tmp_path / "pair.png").shape == (1080, 1920, 3)
    seen = _screenshot(
        monkeypatch, ["gui", "--workspace", str(fitted_demo), "--case", "MRI-L01", "--screenshot", str(tmp_path / "mri.png")]
    )
    w = seen["window"]
    assert seen["viewer"] is w.volume_view and w.volume_view.ras is not None
    assert not seen["legend"]  # no MRI result: no colour scale
    px = _pixels(tmp_path / "mri.png")
    assert px.std() > 20


def test_screenshot_with_an_unknown_model_still_renders(fitted_demo, tmp_path, monkeypatch, qapp):
    seen = _screenshot(
        monkeypatch,
        ["gui", "--workspace", str(fitted_demo), "--case", "FUN-L01", "--model", "resad", "--screenshot", str(tmp_path / "x.png")],
    )
    w = seen["window"]
    assert w.session.model is not None and w.session.model.name == "patchcore"  # falls back to the available one
    assert (tmp_path / "x.png").exists()
