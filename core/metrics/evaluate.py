"""Evaluate a fitted model on a workspace's test cases against the known truth and labels.

Images the version was fitted on (their hashes are in its card) are never counted. Figures at the
model's own operating threshold are the results; ``oracle_*`` figures pick their threshold on the
very test data they score and are named so. Volumes are evaluated as the papers report them
(core.metrics.volumes).

Image truth: an image with ground-truth label shapes is abnormal; when its case is abnormal but
the labels lie on another image of the case (an OCT-only lesion in a pair), this image is normal;
a case known abnormal with no labels anywhere keeps the case truth. Pixel metrics use images that
have a label document or a known-normal case (all-zero masks), sampled to at most ~256 x 256 per
image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.domain import CaseRecord, ImageRecord
from core.io.labelme import LabelDocument
from core.metrics.classification import auroc, average_precision, balanced_accuracy, best_balanced_accuracy, pr_curve, roc_curve
from core.metrics.segmentation import aupro, best_dice, dice
from core.metrics.volumes import BscanMetrics, VolumeMetrics, bscan_truth, label_volume_truth
from core.workspace import Workspace
from core.workspace.arrays import MissingArrayError


def ground_truth_mask(ws: Workspace, image: ImageRecord) -> np.ndarray | None:
    if image.is_volume or image.is_stack:
        return None
    doc = ws.read_labels(image)
    if doc is None:
        return None
    return doc.union_mask()


def case_truth(case: CaseRecord, source: str = "known") -> str | None:
    """'normal' / 'abnormal' / None: the dataset's known truth, or the reviewer's decision
    (``source="review"``: what the lab compares model versions on)."""
    if source == "review":
        return case.decision.value if case.decision is not None else None
    return case.truth


def image_truth(
    ws: Workspace, case: CaseRecord, image: ImageRecord, masks: dict[str, np.ndarray | None], source: str = "known"
) -> bool | None:
    m = masks.get(image.id)
    if m is not None and m.any():
        return True
    truth = case_truth(case, source)
    if truth == "normal":
        return False
    if truth == "abnormal":
        others = any(v is not None and v.any() for k, v in masks.items() if k != image.id and k.startswith(case.id + "/"))
        if others:
            return False
        if image.is_stack:
            pages = [ws.read_labels(image, page=p) for p in range(image.shape[0])]
            if any(d is not None and d.shapes for d in pages):
                return True
        return True
    return None


def _stride(shape) -> int:
    return max(1, int(max(shape[:2]) // 256))


def _class_masks(doc: LabelDocument | None) -> list[tuple[str, np.ndarray]]:
    """(label, mask) of each class a label document draws, by label."""
    if doc is None:
        return []
    return [(label, doc.class_mask(label)) for label in sorted({sh.label for sh in doc.shapes})]


def evaluate(
    ws: Workspace,
    name: str,
    version: str | None = None,
    split: str | None = "test",
    case_ids: list[str] | None = None,
    truth: str = "known",
    modality: str | None = None,
) -> dict:
    """Metrics of a version's stored results: on the ``split`` (or exactly ``case_ids``), with image
    truth from the dataset (``truth="known"``) or the reviewers' decisions (``"review"``); pixel
    metrics wherever label documents exist; only images of ``modality`` when given (a fundus + OCT
    model's figures per modality, as MMRAD's paper reports them)."""
    version = version or ws.versions.active(name)
    record = ws.versions.get(name, version) if version else None
    card = record.card if record is not None else None
    trained = set(card.training_data) if card else set()  # never count an image the version learned from
    n_trained_excluded = 0
    pixel_threshold = float(card.pixel_threshold) if card else 3.0
    volumes, bscans = VolumeMetrics(), BscanMetrics()
    per_sequence: dict[str, VolumeMetrics] = {}
    wanted = set(case_ids) if case_ids is not None else None
    cases = [c for c in ws.cases() if (c.id in wanted if wanted is not None else split is None or c.split == split)]
    rows, y_img, s_img, pix_scores, pix_gts, dices = [], [], [], [], [], []
    class_pixels: dict[str, list[np.ndarray]] = {}
    normal_pixels: list[np.ndarray] = []
    image_classes: dict[tuple[str, str], set[str]] = {}
    for case in cases:
        res = ws.results.get(name, version, case.id) if version else None
        if res is None:
            continue
        masks = {im.id: ground_truth_mask(ws, im) for im in case.images}
        for image_name, entry in res.images.items():
            image = next(im for im in case.images if im.name == image_name)
            if modality is not None and image.modality.value != modality:
                continue
            if image.sha256 in trained:
                n_trained_excluded += 1
                continue
            abnormal = image_truth(ws, case, image, masks, truth)
            row: dict[str, Any] = {"case": case.id, "image": image_name, "score": entry.score, "truth": abnormal}
            heat, pred_mask = ws.results.image_arrays(res, image_name)
            if heat is None and entry.heatmap_key:  # lost from the array store: never evaluated as if present
                raise MissingArrayError(entry.heatmap_key, f"heatmap of {case.id}/{image_name}")
            gt = masks.get(image.id)
            if heat is not None and gt is None and abnormal is False and not image.is_stack and not image.is_volume:
                gt = np.zeros(heat.shape[:2], bool)
            if heat is not None and image.is_volume:
                vtruth = label_volume_truth(ws, case, image)
                if vtruth is not None and heat.shape == vtruth.shape:
                    for group in (volumes, per_sequence.setdefault(image.name, VolumeMetrics())):
                        group.add(heat, vtruth, pixel_threshold, pred_mask, res.slices)
            elif image.is_stack:
                bscans.add(heat, entry.page, bscan_truth(ws, case, image), res.slices if image_name == res.image else None)
            if heat is not None and gt is not None and heat.shape == gt.shape:
                st = _stride(gt.shape)
                pix_scores.append(heat[::st, ::st])
                pix_gts.append(gt[::st, ::st])
                normal_pixels.append(heat[::st, ::st][~gt[::st, ::st]])
                doc = ws.read_labels(image) if gt.any() else None
                for label, cm in _class_masks(doc):
                    class_pixels.setdefault(label, []).append(heat[::st, ::st][cm[::st, ::st]])
                    image_classes.setdefault((case.id, image_name), set()).add(label)
                if pred_mask is not None and gt.any():
                    d = dice(pred_mask, gt)
                    dices.append(d)
                    row["dice_mask"] = d
            rows.append(row)
            if abnormal is not None and entry.score is not None:
                y_img.append(abnormal)
                s_img.append(entry.score)
    threshold = float(card.threshold) if card else 3.0
    metrics: dict = {"n_images": len(y_img), "n_abnormal": int(sum(y_img)), "n_excluded_training": n_trained_excluded}
    curves: dict = {}
    if len(set(y_img)) == 2:
        curves["image_roc"] = _thin(*roc_curve(y_img, s_img)[:2])
        curves["image_pr"] = _thin(*pr_curve(y_img, s_img)[1::-1])
        metrics["image_auroc"] = auroc(y_img, s_img)
        metrics["image_aupr"] = average_precision(y_img, s_img)
        metrics["balanced_accuracy"] = balanced_accuracy(y_img, np.asarray(s_img) >= threshold)
        # threshold chosen on these very test images: an oracle, never a result to quote
        metrics["oracle_balanced_accuracy"], metrics["oracle_threshold"] = best_balanced_accuracy(y_img, s_img)
    if pix_gts and any(g.any() for g in pix_gts) and any((~g).any() for g in pix_gts):
        flat_s = np.concatenate([p.ravel() for p in pix_scores])
        flat_g = np.concatenate([g.ravel() for g in pix_gts])
        metrics["pixel_auroc"] = auroc(flat_g, flat_s)
        curves["pixel_roc"] = _thin(*roc_curve(flat_g, flat_s)[:2])
        curves["pixel_pr"] = _thin(*pr_curve(flat_g, flat_s)[1::-1])
        metrics["pixel_aupr"] = average_precision(flat_g, flat_s)
        metrics["pro"] = aupro(pix_scores, pix_gts, fpr_limit=0.3)
        metrics["dice_at_threshold"] = dice(flat_s >= pixel_threshold, flat_g)
        metrics["oracle_dice"], metrics["oracle_dice_threshold"] = best_dice(pix_scores, pix_gts)  # threshold chosen on test pixels
    if dices:
        metrics["mask_dice_mean"] = float(np.mean(dices))
    if volumes.n_volumes:
        metrics.update(volumes.result())
        metrics["per_sequence"] = {name: group.result() for name, group in sorted(per_sequence.items())}
    metrics.update(bscans.result())
    per_class = {}
    if normal_pixels:
        normal_all = np.concatenate([p.ravel() for p in normal_pixels])
        normal_scores = [r["score"] for r in rows if r["truth"] is False and r["score"] is not None]
        for label, parts in sorted(class_pixels.items()):
            pos = np.concatenate([p.ravel() for p in parts])
            of_class: dict[str, Any] = {"images": sum(1 for v in image_classes.values() if label in v), "pixels": int(pos.size)}
            if pos.size and normal_all.size:
                of_class["pixel_auroc"] = auroc(np.r_[np.ones(pos.size, bool), np.zeros(normal_all.size, bool)], np.r_[pos, normal_all])
            cls_scores = [r["score"] for r in rows if label in image_classes.get((r["case"], r["image"]), set())]
            if cls_scores and normal_scores:
                of_class["image_auroc"] = auroc([True] * len(cls_scores) + [False] * len(normal_scores), cls_scores + normal_scores)
            per_class[label] = of_class
    for r in rows:
        r["classes"] = sorted(image_classes.get((r["case"], r["image"]), set()))
    return {
        "model": name,
        "version": version,
        "threshold": threshold,
        "pixel_threshold": pixel_threshold,
        "metrics": metrics,
        "per_class": per_class,
        "curves": curves,
        "images": rows,
    }


def _thin(x: np.ndarray, y: np.ndarray, n: int = 400) -> dict:
    """A curve reduced to at most ``n`` points (for plots and JSON)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size > n:
        idx = np.unique(np.r_[np.linspace(0, x.size - 1, n).astype(int), x.size - 1])
        x, y = x[idx], y[idx]
    return {"x": [round(float(v), 6) for v in x], "y": [round(float(v), 6) for v in y]}
