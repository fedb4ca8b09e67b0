"""The Retrain dialog runs a real tiny ReSynthDetect training in its own process: progress and the
loss curve update, cancel stops it, resume finishes it, the new version is compared with the active
one on the reviewed cases and activated, then rolled back. Killing the trainer leaves the GUI and
the workspace intact."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time

import pytest

from core.models import store

TINY = dict(image_size=64, base_channels=8, levels=4, batch_size=4, samples_per_epoch=8, lr=0.002, min_lr=0.001, warmup_epochs=0, seed=3)
REVIEWED = {"FUN-N04": "normal", "PAIR-N03": "normal", "FUN-L01": "abnormal", "FUN-L02": "abnormal"}


@pytest.fixture
def reviewed_ws(small_demo):
    """The small demo with four reviewed fundus cases and one active tiny ReSynthDetect version."""
    from core.cli import main
    from core.workspace import Workspace

    ws = Workspace.open(small_demo)
    for cid, decision in REVIEWED.items():
        ws.set_review(cid, "reviewer", decision=decision)
    ws.close()
    args = ["train", "resynthdetect", "--workspace", str(small_demo), "--run", "v-old", "--config", "device=cpu"]
    for k, v in dict(TINY, epochs=1, ae_epochs=1).items():
        args += ["--config", f"{k}={v}"]
    assert main(args) == 0
    return small_demo


def _dialog(open_window, qtbot, root):
    window = open_window(root)
    dlg = window.show_retrain("resynthdetect")
    qtbot.addWidget(dlg)
    assert dlg.name == "resynthdetect"
    for k, v in TINY.items():
        dlg.set_param(k, v)
    dlg.device.setCurrentIndex(dlg.device.findData("cpu"))
    return window, dlg


def _labels_digest(root) -> str:
    h = hashlib.sha256()
    for f in sorted((root / "labels").rglob("*")):
        if f.is_file():
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def test_retrain_cancel_resume_compare_activate_and_roll_back(open_window, qtbot, reviewed_ws):
    window, dlg = _dialog(open_window, qtbot, reviewed_ws)
    assert "normal fundus case" in dlg.data.text() and "pixel labels" in dlg.data.text()
    assert "about" in dlg.estimate.text()
    dlg.set_param("epochs", 60)
    dlg.set_param("ae_epochs", 1)
    assert dlg.config()["epochs"] == "60" and dlg.config()["device"] == "cpu"
    dlg.start()
    assert dlg.process.running and not dlg.start_button.isEnabled() and dlg.cancel_button.isEnabled()
    # wait for the second stage to have a checkpoint, then cancel
    qtbot.waitUntil(
        lambda: (dlg.progress.last_event or {}).get("stage") == "localization" and (dlg.progress.last_event or {}).get("epoch", 0) >= 3,
        timeout=180_000,
    )
    assert dlg.progress.bar.value() > 0
    assert any(k.endswith(": loss") for k in dlg.progress.curves) and dlg.progress.steps_seen > 3
    assert len(dlg.progress.series["localization: loss"][0]) >= 2  # the curve is drawn live
    dlg.cancel()
    qtbot.waitUntil(lambda: not dlg.process.running, timeout=60_000)
    assert dlg.process.status == "cancelled"
    assert dlg.resume_button.isEnabled() and dlg.run_id in dlg.resume_button.text()
    run = dlg.run_id
    assert store.list_versions(window.session.workspace, "resynthdetect")[-1].version == "v-old"
    # resume: continues from the checkpoint (a "resumed" event) and finishes
    dlg.resume()
    qtbot.waitUntil(lambda: dlg.process.status in ("done", "failed", "crashed"), timeout=600_000)  # a loaded 2-core machine
    assert dlg.process.status == "done", dlg.progress.log.toPlainText()[-2000:]
    assert "resumed after epoch" in dlg.progress.log.toPlainText()
    assert dlg.new_version == run
    ws = window.session.workspace
    assert store.active_version(ws, "resynthdetect") == "v-old"  # nothing activates by itself
    # compare starts by itself after a finished run
    qtbot.waitUntil(lambda: dlg.comparison is not None or "Comparison failed" in dlg.progress.log.toPlainText(), timeout=180_000)
    assert dlg.comparison is not None, dlg.progress.log.toPlainText()[-2000:]
    rows = {r["version"]: r for r in dlg.comparison["rows"]}
    assert set(rows) == {run, "v-old"} and sorted(dlg.comparison["cases"]) == sorted(REVIEWED)
    for r in rows.values():
        assert r["metrics"]["n_images"] == 4 and 0.0 <= r["metrics"]["image_auroc"] <= 1.0
        assert "pixel_auroc" in r["metrics"]  # the lesion cases have labels
    assert dlg.table.rowCount() == 2
    assert dlg.activate_button.isEnabled()
    dlg.activate()
    assert store.active_version(ws, "resynthdetect") == run
    assert window.session.model is not None and window.session.model.version == run
    dlg.rollback()
    assert store.active_version(ws, "resynthdetect") == "v-old"
    assert window.session.model.version == "v-old"


def test_killing_the_trainer_leaves_the_gui_and_workspace_intact(open_window, qtbot, reviewed_ws):
    window, dlg = _dialog(open_window, qtbot, reviewed_ws)
    before_labels = _labels_digest(reviewed_ws)
    before_versions = [v.version for v in store.list_versions(window.session.workspace, "resynthdetect")]
    dlg.set_param("epochs", 200)
    dlg.start()
    qtbot.waitUntil(lambda: dlg.progress.steps_seen >= 2, timeout=180_000)
    dlg.process.kill()  # as the out-of-memory killer would
    qtbot.waitUntil(lambda: not dlg.process.running, timeout=30_000)
    assert dlg.process.status == "killed"
    assert "killed" in dlg.progress.status.text().lower()
    assert dlg.resume_button.isEnabled() and dlg.start_button.isEnabled()
    # the GUI still works: open a case, decide it
    window.open_case_now("FUN-N01")
    window.review_action("decide", "normal")
    assert window.session.workspace.case("FUN-N01").decision.value == "normal"
    # the workspace is intact: catalog consistent, labels untouched, no half-registered version
    db = reviewed_ws / "workspace.sqlite"
    assert db.exists()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == len(window.session.cases)
    con.close()
    assert _labels_digest(reviewed_ws) == before_labels
    assert [v.version for v in store.list_versions(window.session.workspace, "resynthdetect")] == before_versions


def test_closing_the_dialog_during_a_run_cancels_without_freezing(open_window, qtbot, reviewed_ws):
    window, dlg = _dialog(open_window, qtbot, reviewed_ws)
    dlg.set_param("epochs", 200)
    dlg.start()
    qtbot.waitUntil(lambda: dlg.progress.steps_seen >= 1, timeout=180_000)
    t0 = time.monotonic()
    dlg.close()
    assert time.monotonic() - t0 < 1.0  # the GUI thread does not wait for the trainer
    assert dlg.isVisible() and "cancelled" in dlg.progress.log.toPlainText()
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=60_000)
    assert not dlg.process.running and dlg.process.status == "cancelled"
    run = json.loads((reviewed_ws / "runs" / dlg.run_id / "run.json").read_text())
    assert run["status"] == "cancelled"
