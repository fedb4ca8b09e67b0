"""Volume evaluation reproduces hand-computed figures on small synthetic MRI volumes and OCT stacks:
voxel AUPRC / AUROC pooled over volumes, 3-D Dice at the model's own pixel threshold and of its
mask, per-slice and per-volume AUROC, per sequence; an image the version was fitted on is never
counted; oracle figures are named so."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from core.domain import CaseKind, Modality
from core.io.volume import Volume
from core.metrics.evaluate import evaluate
from core.workspace import Workspace
from core.workspace.cards import ModelCard
from core.workspace.results import ImageResult, SliceScores, StoredResult, result_key
from core.workspace.workspace import NewImage

SHAPE = (12, 10, 8)


def _mri_case(ws, cid, rng, lesion: tuple | None, truth: str):
    data = rng.normal(100, 10, SHAPE).astype(np.float32)
    vol = Volume(data, np.eye(4), (1.0, 1.0, 1.0))
    rec = ws.add_case(cid, CaseKind.MRI, [NewImage("t2", Modality.MRI, volume=vol)], split="test", truth=truth).images[0]
    gt = np.zeros(SHAPE, bool)
    if lesion is not None:
        gt[lesion] = True
        ws.write_label_volume(rec, gt.astype(np.uint8), {"lesion": 1})
    return rec, gt


def _store(ws, rec, heat, mask, slice_scores, score):
    key = result_key("rasalore", "v1", rec.sha256, "heatmap")
    entry = ImageResult(key, result_key("rasalore", "v1", rec.sha256, "mask"), score)
    slices = SliceScores(axis=2, plane="axial", scores=list(slice_scores))
    ws.results.put(
        StoredResult("rasalore", "v1", rec.case_id, score, score, 3.0, rec.name, {rec.name: entry}, slices=slices), {rec.name: (heat, mask)}
    )


def test_volume_metrics_match_hand_computed_values(tmp_path):
    rng = np.random.default_rng(0)
    ws = Workspace.create(tmp_path / "ws")
    lesions = {"L1": np.s_[3:7, 2:6, 2:5], "L2": np.s_[6:10, 4:8, 1:3], "N1": None, "T1": None}
    cases = {}
    for cid, sl in lesions.items():
        cases[cid] = _mri_case(ws, cid, rng, sl, "abnormal" if sl is not None else "normal")
    trained_on = cases["T1"][0].sha256  # a normal the version was fitted on: never counted
    card = ModelCard("rasalore", "", {"modality": "mri"}, calibration={"n": 3}, threshold=3.0, pixel_threshold=2.0, version="v1")
    card.training_data = [trained_on]
    ws.versions.register(card, "models/rasalore/v1", "", activate=True, user="t")
    heats, masks, slices = {}, {}, {}
    for i, (cid, (rec, gt)) in enumerate(cases.items()):
        heat = rng.normal(0, 1, SHAPE).astype(np.float32) + 3.0 * gt  # lesion voxels score higher, with overlap
        mask = heat >= 2.5
        per_slice = [float(heat[:, :, z].max()) for z in range(SHAPE[2])]
        per_slice[0] = None  # a slice the method does not score
        heats[cid], masks[cid], slices[cid] = heat, mask, per_slice
        _store(ws, rec, heat, mask, per_slice, score=float(np.nanmax([s for s in per_slice if s is not None])) + i)

    m = evaluate(ws, "rasalore", "v1")["metrics"]
    counted = ["L1", "L2", "N1"]
    assert m["n_excluded_training"] == 1 and m["n_volumes"] == 3
    gts = {cid: cases[cid][1] for cid in counted}
    pooled_s = np.concatenate([heats[c].ravel() for c in counted])
    pooled_g = np.concatenate([gts[c].ravel() for c in counted])
    assert m["voxel_auprc"] == pytest.approx(average_precision_score(pooled_g, pooled_s), abs=1e-9)
    assert m["voxel_auroc"] == pytest.approx(roc_auc_score(pooled_g, pooled_s), abs=1e-9)

    def hand_dice(p, g):
        return 2.0 * (p & g).sum() / (p.sum() + g.sum())

    assert m["dice_3d_at_threshold"] == pytest.approx(np.mean([hand_dice(heats[c] >= 2.0, gts[c]) for c in ("L1", "L2")]))
    assert m["mask_dice_3d"] == pytest.approx(np.mean([hand_dice(masks[c], gts[c]) for c in ("L1", "L2")]))
    ys, ss = [], []
    for c in counted:
        for z in range(1, SHAPE[2]):
            ys.append(bool(gts[c][:, :, z].any()))
            ss.append(slices[c][z])
    assert m["slice_auroc"] == pytest.approx(roc_auc_score(ys, ss)) and m["n_slices"] == len(ys)
    assert m["image_auroc"] == pytest.approx(1.0)  # the two lesion volumes carry the higher case scores here
    assert set(m["per_sequence"]) == {"t2"} and m["per_sequence"]["t2"]["voxel_auprc"] == pytest.approx(m["voxel_auprc"])
    assert not any(k.startswith("best_") for k in m)  # thresholds picked on test data are named oracle_*


def test_oct_stacks_are_evaluated_per_bscan(tmp_path):
    from core.io.labelme import Shape

    rng = np.random.default_rng(1)
    ws = Workspace.create(tmp_path / "ws")
    card = ModelCard("patchcore", "", {"modality": "oct"}, calibration={"n": 3}, pixel_threshold=2.0, version="v1")
    ws.versions.register(card, "models/patchcore/v1", "", activate=True, user="t")
    ys, ss, pix_g, pix_s = [], [], [], []
    for cid, truth in (("O1", "abnormal"), ("O2", "normal")):
        stack = rng.integers(0, 255, (5, 24, 32), np.uint8)
        rec = ws.add_case(cid, CaseKind.OCT, [NewImage("oct", Modality.OCT, array=stack)], split="test", truth=truth).images[0]
        heat = rng.normal(0, 1, (5, 24, 32)).astype(np.float32)
        gts = [np.zeros((24, 32), bool) for _ in range(5)]
        if truth == "abnormal":
            gts[3][8:14, 10:20] = True
            heat[3][8:14, 10:20] += 4.0
            doc = ws.new_label_document(rec)
            doc.shapes = [Shape.from_mask("intraretinal fluid", gts[3])]
            ws.write_labels(rec, doc, page=3)
        per_bscan = [float(h.max()) for h in heat]
        key = result_key("patchcore", "v1", rec.sha256, "heatmap")
        stored = StoredResult("patchcore", "v1", cid, max(per_bscan), 0.0, 3.0, "oct", {"oct": ImageResult(key, None, max(per_bscan))})
        stored.slices = SliceScores(axis=0, plane="bscan", scores=per_bscan, top=int(np.argmax(per_bscan)))
        ws.results.put(stored, {"oct": (heat, None)})
        # an abnormal volume's unlabelled B-scans are unknown (not assumed normal); a normal volume's are normal
        known = [3] if truth == "abnormal" else range(5)
        ys += [bool(gts[p].any()) for p in known]
        ss += [per_bscan[p] for p in known]
        pix_g += [gts[p].ravel() for p in known]
        pix_s += [heat[p].ravel() for p in known]
    m = evaluate(ws, "patchcore", "v1")["metrics"]
    assert m["bscan_auroc"] == pytest.approx(roc_auc_score(ys, ss)) and m["n_bscans"] == 6
    assert m["bscan_pixel_auroc"] == pytest.approx(roc_auc_score(np.concatenate(pix_g), np.concatenate(pix_s)))
