"""The model panel's Fit / Train action and progress inside a case (issue 23, items 2 and 3)."""

import time

from app.controllers.model_runs import ModelRunController
from core.workspace import Workspace
from tests.app.fake_versions import FakeModel, add_version


def test_fit_train_opens_the_retrain_dialog_preset_for_the_cases_modality(small_demo, open_window, qtbot):
    w = open_window(small_demo)  # no fitted model at all
    panel = w.model_panel
    assert "W" not in panel.details.text().split() and "--workspace" not in panel.details.text()
    assert "Fit / Train" in panel.details.text()
    w.open_case_now("OCT-L01")
    assert panel.train.isVisibleTo(w) and panel.train.text() == "Fit / Train patchcore for oct…"
    w.open_case_now("MRI-L01")
    assert panel.train.text() == "Fit / Train rasalore for mri…"
    w.open_case_now("OCT-L01")
    panel.train.click()
    from app.training.dialog import RetrainDialog

    dlg = next(d for d in w.findChildren(RetrainDialog))
    assert dlg.isVisible() and dlg.name == "patchcore"
    assert dlg.config().get("modality") == "oct"
    dlg.close()


def test_fit_train_hidden_when_the_method_scores_the_case(small_demo, open_window, qtbot):
    ws = Workspace.open(small_demo)
    add_version(ws, "patchcore", "fundus", "v-fundus")
    ws.close()
    w = open_window(small_demo)
    w.open_case_now("FUN-L01")
    assert not w.model_panel.train.isVisibleTo(w)
    w.open_case_now("OCT-L01")
    assert w.model_panel.train.isVisibleTo(w)


def _fake_run(w, monkeypatch, fake):
    monkeypatch.setattr(ModelRunController, "_model", lambda self, ws, choice, device, keep=None: fake)
    seen = []
    w.runs.run_changed.connect(lambda run: seen.append((run.status, run.fraction, run.progress_text(), w.model_panel.progress.value())))
    return seen


def test_run_shows_determinate_progress_inside_a_case_with_an_eta(small_demo, open_window, qtbot, monkeypatch):
    ws = Workspace.open(small_demo)
    add_version(ws, "patchcore", "fundus", "vfake")
    ws.close()
    w = open_window(small_demo)
    fake = FakeModel("vfake", steps=25, delay=0.06)
    seen = _fake_run(w, monkeypatch, fake)
    w.open_case_now("FUN-L01")
    w.model_panel.run_case.click()
    qtbot.waitUntil(lambda: w.runs.run is not None and not w.runs.run.running, timeout=30000)
    assert w.runs.run.status == "done"
    inside = [s for s in seen if s[0] == "running" and 0.0 < s[1] < 1.0]
    assert len(inside) >= 3, seen  # the bar moved while the one case was scored
    assert any("slice" in s[2] and "left" in s[2] for s in inside)  # the model's own step and an ETA
    assert all(0 < s[3] < 1000 for s in inside)
    assert [s[1] for s in inside] == sorted(s[1] for s in inside)


def test_cancel_stops_inside_the_case(small_demo, open_window, qtbot, monkeypatch):
    ws = Workspace.open(small_demo)
    add_version(ws, "patchcore", "fundus", "vfake")
    ws.close()
    w = open_window(small_demo)
    fake = FakeModel("vfake", steps=200, delay=0.03)
    _fake_run(w, monkeypatch, fake)
    w.open_case_now("FUN-L01")
    t0 = time.monotonic()
    w.model_panel.run_case.click()
    qtbot.waitUntil(lambda: w.runs.run.step is not None and w.runs.run.step[0] >= 5, timeout=20000)
    w.model_panel.cancel.click()
    qtbot.waitUntil(lambda: not w.runs.run.running, timeout=20000)
    assert w.runs.run.status == "cancelled"
    assert fake.reached < 200 and time.monotonic() - t0 < 200 * 0.03
    assert "Cancelled" in w.model_panel.progress_text.text()
