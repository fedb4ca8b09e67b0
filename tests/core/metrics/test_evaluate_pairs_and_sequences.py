"""Evaluation of cases with several images: ``evaluate(modality=...)`` counts only that modality's
images of fundus + OCT pairs (MMRAD's paper reports its fundus and OCT figures apart); every sequence of
a multi-sequence MRI case is evaluated against the case's one label volume."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from core.domain import CaseKind, Modality
from core.io.labelme import Shape
from core.metrics.evaluate import evaluate
from core.workspace import Workspace
from core.workspace.cards import ModelCard
from core.workspace.results import ImageResult, StoredResult, result_key
from core.workspace.workspace import NewImage


def test_per_modality_figures_of_pairs(tmp_path):
    rng = np.random.default_rng(0)
    ws = Workspace.create(tmp_path / "ws")
    card = ModelCard("mmrad", "", {"modality": "fundus"}, calibration={"n": 3}, pixel_threshold=2.0, version="v1")
    ws.versions.register(card, "models/mmrad/v1", "", activate=True, user="t")
    scores = {"fundus": {}, "oct": {}}
    for i, truth in enumerate(("abnormal", "abnormal", "normal", "normal", "normal")):
        fundus = rng.integers(0, 255, (24, 24, 3), np.uint8)
        oct_ = rng.integers(0, 255, (20, 28), np.uint8)
        case = ws.add_case(
            f"P{i}",
            CaseKind.PAIR,
            [NewImage("fundus", Modality.FUNDUS, array=fundus), NewImage("oct", Modality.OCT, array=oct_)],
            split="test",
            truth=truth,
        )
        images, arrays = {}, {}
        for rec in case.images:
            heat = rng.normal(0, 1, rec.shape[:2]).astype(np.float32)
            if truth == "abnormal":
                gt = np.zeros(rec.shape[:2], bool)
                gt[4:10, 5:12] = True
                heat[gt] += 2.0
                doc = ws.new_label_document(rec)
                doc.shapes = [Shape.from_mask("lesion", gt)]
                ws.write_labels(rec, doc)
            score = float(rng.normal(2.0 if truth == "abnormal" else 0.0, 1.5))
            scores[rec.name][f"P{i}"] = (truth == "abnormal", score)
            images[rec.name] = ImageResult(result_key("mmrad", "v1", rec.sha256, "heatmap"), None, score)
            arrays[rec.name] = (heat, None)
        best = max(images, key=lambda n: images[n].score)
        ws.results.put(StoredResult("mmrad", "v1", f"P{i}", images[best].score, 0.0, 3.0, best, images), arrays)
    both = evaluate(ws, "mmrad", "v1")["metrics"]
    assert both["n_images"] == 10
    for mod in ("fundus", "oct"):
        m = evaluate(ws, "mmrad", "v1", modality=mod)["metrics"]
        y, s = zip(*scores[mod].values())
        assert m["n_images"] == 5 and m["n_abnormal"] == 2
        assert m["image_auroc"] == pytest.approx(roc_auc_score(y, s))


def test_every_sequence_of_a_multi_sequence_case_is_evaluated_against_its_label_volume(tmp_path):
    """BraTS keeps one seg per case (imported onto its first sequence); RASALoRE's figures per sequence
    need it for every co-registered sequence."""
    from sklearn.metrics import average_precision_score

    from core.io.volume import Volume

    rng = np.random.default_rng(2)
    shape = (10, 9, 8)
    ws = Workspace.create(tmp_path / "ws")
    vols = [
        NewImage(seq, Modality.MRI, volume=Volume(rng.normal(100, 10, shape).astype(np.float32), np.eye(4), (1.0, 1.0, 1.0)))
        for seq in ("t1", "t2")
    ]
    case = ws.add_case("B1", CaseKind.MRI, vols, split="test", truth="abnormal")
    gt = np.zeros(shape, bool)
    gt[3:7, 2:6, 2:5] = True
    ws.write_label_volume(case.images[0], gt.astype(np.uint8), {"lesion": 1})  # on t1 only, as the BraTS adapter does
    card = ModelCard("rasalore", "", {"modality": "mri"}, calibration={"n": 3}, pixel_threshold=2.0, version="v1")
    ws.versions.register(card, "models/rasalore/v1", "", activate=True, user="t")
    images, arrays, heats = {}, {}, {}
    for rec in case.images:
        heats[rec.name] = rng.normal(0, 1, shape).astype(np.float32) + 2.0 * gt
        images[rec.name] = ImageResult(result_key("rasalore", "v1", rec.sha256, "heatmap"), None, 1.0)
        arrays[rec.name] = (heats[rec.name], None)
    ws.results.put(StoredResult("rasalore", "v1", "B1", 1.0, 1.0, 3.0, "t2", images), arrays)
    m = evaluate(ws, "rasalore", "v1")["metrics"]
    assert set(m["per_sequence"]) == {"t1", "t2"}
    for seq in ("t1", "t2"):
        assert m["per_sequence"][seq]["voxel_auprc"] == pytest.approx(average_precision_score(gt.ravel(), heats[seq].ravel()))
