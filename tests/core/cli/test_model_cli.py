import csv
import json

import numpy as np
import pytest

from core.cli import main
from core.models import store
from core.workspace import Workspace

FAST = [
    "--config",
    "backbone=wide_resnet50",
    "--config",
    "backbone_weights=random",
    "--config",
    "image_size=64",
    "--config",
    "coreset_ratio=0.05",
]


@pytest.fixture(scope="module")
def fitted_demo(small_demo_master, tmp_path_factory):
    import shutil

    root = tmp_path_factory.mktemp("fitted") / "ws"
    shutil.copytree(small_demo_master, root)
    assert main(["fit", "patchcore", "--workspace", str(root), "--json", *FAST]) == 0
    return root


def test_fit_registers_an_active_version(fitted_demo, capsys):
    ws = Workspace.open(fitted_demo)
    versions = store.list_versions(ws, "patchcore")
    assert len(versions) == 1 and versions[0].active
    card = versions[0].card
    assert card.calibration["n"] >= 1 and card.training_data and card.deviations
    assert (fitted_demo / versions[0].path / "model.pt").exists()


def test_predict_export_and_scores_are_identical_everywhere(fitted_demo, tmp_path, capsys):
    out = tmp_path / "export"
    assert main(["predict", "patchcore", "--workspace", str(fitted_demo), "--all", "--export", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    ws = Workspace.open(fitted_demo)
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert rows and len(rows) == len(printed["results"])
    model = store.load_version(ws, "patchcore")
    for row in rows:
        heat = np.load(out / row["heatmap"])
        case = ws.load_case(row["case"])
        assert heat.dtype == np.float32 and heat.shape == case.images[row["image"]].array.shape[:2]
        stored = store.load_result(ws, "patchcore", row["case"])
        assert float(row["score"]) == stored.score
        fresh = model.predict(case)  # the same case alone, in a fresh model instance
        assert fresh.score == stored.score
        np.testing.assert_array_equal(fresh.maps[row["image"]].heatmap, heat)
    by_case = {r["case"]: r["score"] for r in printed["results"]}
    assert all(by_case[r["case"]] == float(r["score"]) for r in rows)


def test_eval_reports_metrics(fitted_demo, tmp_path, capsys):
    rep_dir = tmp_path / "rep"
    assert main(["eval", "patchcore", "--workspace", str(fitted_demo), "--report", str(rep_dir), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert {"image_auroc", "pixel_auroc", "pro", "oracle_dice", "dice_at_threshold"} <= set(rep["metrics"])
    assert 0.0 <= rep["metrics"]["image_auroc"] <= 1.0
    for f in (
        "report.json",
        "images.csv",
        "metrics.csv",
        "report.md",
        "report.html",
        "image_roc.png",
        "pixel_roc.png",
        "pixel_pr.png",
        "gallery.png",
    ):
        assert (rep_dir / f).exists(), f
    full = json.loads((rep_dir / "report.json").read_text())
    assert full["per_class"] and all("pixel_auroc" in v for v in full["per_class"].values())
    assert "| Method | I-AUROC | P-AUROC | PRO |" in (rep_dir / "report.md").read_text()
    from PIL import Image

    with Image.open(rep_dir / "gallery.png") as im:
        assert im.size[0] > 600 and np.asarray(im.convert("L")).std() > 10


def test_comparison_report(fitted_demo, tmp_path, capsys):
    assert main(["fit", "resad", "--workspace", str(fitted_demo), *FAST]) == 0
    capsys.readouterr()
    out = tmp_path / "cmp"
    assert main(["eval", "patchcore", "resad", "--workspace", str(fitted_demo), "--report", str(out), "--json"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in both] == ["patchcore", "resad"]
    table = (out / "comparison.md").read_text()
    assert "| patchcore |" in table and "| resad |" in table
    assert (out / "patchcore" / "report.html").exists() and (out / "compare_pixel_roc.png").exists()


def test_model_cli_errors(small_demo, capsys):
    assert main(["predict", "patchcore", "--workspace", str(small_demo), "--all"]) == 2
    assert "no fitted 'patchcore' model" in capsys.readouterr().err
    assert main(["fit", "patchcore", "--workspace", str(small_demo), "--config", "bogus=1"]) == 2
    assert "unknown config" in capsys.readouterr().err
    assert main(["fit", "patchcore", "--workspace", str(small_demo), "--config", "noequals"]) == 2
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["weights"]["litemedsam"]["available"]


def test_threshold_can_be_seen_and_changed(fitted_demo, capsys):
    assert main(["threshold", "patchcore", "--workspace", str(fitted_demo), "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["threshold"] == 3.0 and before["calibration"]["n"] >= 1
    assert main(["threshold", "patchcore", "--workspace", str(fitted_demo), "--set", "1.5", "--json"]) == 0
    ws = Workspace.open(fitted_demo)
    model = store.load_version(ws, "patchcore")
    assert model.card.threshold == 1.5  # card.json rewritten and still loads (weights checksum intact)
    assert main(["threshold", "patchcore", "--workspace", str(fitted_demo), "--set", "3.0"]) == 0


def test_comparison_and_eval_never_count_an_image_a_version_was_fitted_on(fitted_demo, tmp_path):
    import shutil

    from core.metrics.evaluate import evaluate
    from core.models import retraining

    root = tmp_path / "ws"
    shutil.copytree(fitted_demo, root, ignore=shutil.ignore_patterns("*.lock"))  # with the WAL: other tests wrote here
    ws = Workspace.open(root)
    version = store.active_version(ws, "patchcore")
    assert version is not None
    trained = set(ws.versions.get("patchcore", version).card.training_data)
    fitted_on = next(c for c in ws.cases() if c.image("fundus") is not None and c.image("fundus").sha256 in trained)
    unseen = [c for c in ws.cases() if c.split == "test" and c.image("fundus") is not None][:4]
    ws.set_review(fitted_on.id, "reviewer", decision="normal")  # a reviewed normal is exactly what fit trains on
    for c in unseen:
        ws.set_review(c.id, "reviewer", decision=c.truth or "abnormal")
    out = retraining.compare_versions(ws, "patchcore", version, None)
    assert fitted_on.id in out["excluded"] and fitted_on.id not in out["cases"]
    assert set(out["cases"]) == {c.id for c in unseen}
    assert out["recommendation"].startswith("Too few unseen reviewed cases")  # 4 < MIN_COMPARE_CASES
    store.predict_cases(ws, store.load_version(ws, "patchcore"), [fitted_on.id])
    rep = evaluate(ws, "patchcore", version, case_ids=[fitted_on.id] + [c.id for c in unseen])
    assert rep["metrics"]["n_excluded_training"] == 1 and all(r["case"] != fitted_on.id for r in rep["images"])
