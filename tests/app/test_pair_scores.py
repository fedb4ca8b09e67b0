"""A fundus + OCT pair judged on both images: the model panel offers a method's active versions of
every modality as one choice, the worklist gets the combined case scores, and the review panel
says which image decided, in numbers and in words (issue 23, items 1 and 6)."""

import os
from pathlib import Path

from core.workspace import Workspace
from core.workspace.results import SliceScores
from tests.app.fake_versions import add_result, add_version


def _two_patchcores(root):
    ws = Workspace.open(root)
    add_version(ws, "patchcore", "fundus", "v-fundus", created="2026-11-30T10:00:00+00:00")
    add_version(ws, "patchcore", "oct", "v-oct", created="2026-11-30T11:00:00+00:00")
    add_result(ws, "patchcore", "v-fundus", "PAIR-L01", {"fundus": 1.2})
    add_result(ws, "patchcore", "v-oct", "PAIR-L01", {"oct": 4.1})
    add_result(ws, "patchcore", "v-fundus", "FUN-L01", {"fundus": 3.4})
    add_result(ws, "patchcore", "v-fundus", "VOL-N01", {"fundus": 0.3})
    add_result(ws, "patchcore", "v-oct", "VOL-N01", {"oct": 1.6}, slices=SliceScores(0, "bscan", [0.2, 1.6, 0.9], top=1))
    ws.close()


def test_pair_is_judged_on_both_images_and_says_which_decided(small_demo, open_window, qtbot, tmp_path):
    _two_patchcores(small_demo)
    w = open_window(small_demo)
    choice = w.model_panel.current()
    assert choice is not None and {m.version for m in choice.members} == {"v-fundus", "v-oct"}
    assert "fundus + oct" in w.model_panel.combo.currentText()
    qtbot.waitUntil(lambda: "PAIR-L01" in w.session.scores, timeout=10000)
    # the worklist has every modality's scores: the pair by its OCT, the fundus case by its fundus version
    assert w.session.scores["PAIR-L01"] == 4.1 and w.session.scores["FUN-L01"] == 3.4
    w.open_case_now("PAIR-L01")
    text = w.review_panel.summary.text()
    assert "decided by OCT: 4.1 SD; fundus 1.2 SD" in text
    assert "⚠ abnormal" in text  # not by colour alone
    assert "4.1 standard deviations above the normal cases this model was calibrated on; threshold 3.0" in text
    assert "Decision: none yet — press 1 (normal) or 2 (abnormal)" in text
    assert set(w.session.overlay.images) == {"fundus", "oct"}  # both heatmaps are shown
    assert w.overlays.heatmap.isEnabled() and w.overlays.colormap.isEnabled()
    screens = Path(os.environ.get("ANOMALY_STUDIO_SCREENS", tmp_path))  # set it to keep the pictures and look at them
    screens.mkdir(parents=True, exist_ok=True)
    qtbot.wait(400)  # the layout settles around the new text before the picture
    assert w.grab().save(str(screens / "pair_both_images.png"))
    assert w.review_panel.grab().save(str(screens / "pair_review_panel.png"))

    w.open_case_now("VOL-N01")
    text = w.review_panel.summary.text()
    assert "✓ normal" in text and "decided by OCT B-scan 2: 1.6 SD; fundus 0.3 SD" in text


def test_case_without_a_result_disables_the_overlay_controls(small_demo, open_window, qtbot):
    _two_patchcores(small_demo)
    w = open_window(small_demo)
    w.open_case_now("FUN-N04")  # never run
    assert "not run on this case yet" in w.review_panel.summary.text()
    for control in (w.overlays.heatmap, w.overlays.contour, w.overlays.mask, w.overlays.colormap, w.overlays.opacity):
        assert not control.isEnabled()
    assert w.overlays.no_result.isVisibleTo(w)
    w.open_case_now("FUN-L01")
    assert w.overlays.heatmap.isEnabled() and not w.overlays.mask.isEnabled()  # no mask in this result
    assert "99.9 %" in w.overlays.contour.toolTip() and "99.9 %" in w.legend.toolTip()


def test_a_single_modality_version_names_the_unscored_image(small_demo, open_window, qtbot):
    ws = Workspace.open(small_demo)
    add_version(ws, "patchcore", "fundus", "v-fundus")
    add_result(ws, "patchcore", "v-fundus", "PAIR-L01", {"fundus": 1.2})
    ws.close()
    w = open_window(small_demo)
    w.open_case_now("PAIR-L01")
    text = w.review_panel.summary.text()
    assert "✓ normal" in text and "oct not scored" in text
    assert w.model_panel.train.isVisibleTo(w) and "oct" in w.model_panel.train.text()
