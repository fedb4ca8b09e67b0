"""Evaluation of volumes as the papers report it.

* MRI volumes (RASALoRE, BraTS-style): truth is the case's label volume (any label > 0 is lesion) on
  the scan's own grid, or all-healthy for a volume known or reviewed normal. Reported: voxel AUPRC
  and AUROC (pooled over volumes), 3-D Dice of the heatmap at the model's own pixel threshold and of
  the model's mask (mean over the volumes with a lesion), per-slice AUROC (a slice is abnormal when it
  holds a lesion voxel; its score is the model's slice score), and each per sequence (image name).
* OCT volumes and B-scan stacks: truth per B-scan from its LabelMe document (a B-scan with a label
  shape is abnormal; every B-scan of a normal case is normal). Reported: per-B-scan AUROC from the
  model's per-B-scan scores and pixel AUROC over labelled B-scans.

Large volumes are subsampled with a fixed stride (never at random) so results are reproducible;
small volumes are evaluated voxel by voxel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.domain import CaseRecord, ImageRecord
from core.metrics.classification import auroc, average_precision
from core.metrics.segmentation import dice
from core.workspace.results import SliceScores
from core.workspace.workspace import Workspace

MAX_VOXELS = 2_000_000  # per volume in the pooled voxel metrics; larger volumes are strided


def label_volume_truth(ws: Workspace, case: CaseRecord, image: ImageRecord) -> np.ndarray | None:
    """Lesion voxels of ``image`` (bool, the scan's grid), all False for a known/reviewed normal case.
    A multi-sequence case (BraTS) keeps one label volume, on one of its images, for its co-registered
    sequences (as RASALoRE's training reads it): another sequence of the same grid shares it."""
    found = ws.read_label_volume(image)
    for other in case.images if found is None else ():
        if other.id != image.id and other.modality == image.modality and tuple(other.shape) == tuple(image.shape):
            found = ws.read_label_volume(other)
            if found is not None:
                break
    if found is not None:
        data, _legend = found
        if tuple(data.shape) == tuple(image.shape):
            return np.asarray(data) > 0
    truth = case.decision.value if case.decision is not None else case.truth
    if truth == "normal":
        return np.zeros(tuple(image.shape), bool)
    return None


def bscan_truth(ws: Workspace, case: CaseRecord, image: ImageRecord) -> list[np.ndarray | None]:
    """Per B-scan of a stack: its label mask (LabelMe), all False for a normal case, None if unknown."""
    truth = case.decision.value if case.decision is not None else case.truth
    out: list[np.ndarray | None] = []
    hw = tuple(image.shape[1:3])
    for page in range(int(image.shape[0])):
        doc = ws.read_labels(image, page)
        if doc is not None and doc.shapes:
            out.append(doc.union_mask())
        elif truth == "normal" or doc is not None:
            out.append(np.zeros(hw, bool))
        else:
            out.append(None)
    return out


def _stride(n: int) -> int:
    return max(1, int(np.ceil((n / MAX_VOXELS) ** (1 / 3)))) if n > MAX_VOXELS else 1


@dataclass
class VolumeMetrics:
    """Accumulates volumes of one group (all volumes, or one sequence)."""

    scores: list[np.ndarray] = field(default_factory=list)
    truths: list[np.ndarray] = field(default_factory=list)
    dice_heat: list[float] = field(default_factory=list)
    dice_mask: list[float] = field(default_factory=list)
    slice_scores: list[float] = field(default_factory=list)
    slice_truths: list[bool] = field(default_factory=list)
    n_volumes: int = 0

    def add(self, heat: np.ndarray, truth: np.ndarray, pixel_threshold: float, mask: np.ndarray | None, slices: SliceScores | None) -> None:
        self.n_volumes += 1
        st = _stride(heat.size)
        self.scores.append(np.asarray(heat, np.float32)[::st, ::st, ::st].ravel())
        self.truths.append(np.asarray(truth, bool)[::st, ::st, ::st].ravel())
        if truth.any():
            self.dice_heat.append(dice(heat >= pixel_threshold, truth))
            if mask is not None and mask.shape == truth.shape:
                self.dice_mask.append(dice(mask, truth))
        if slices is not None and 0 <= slices.axis < truth.ndim:
            lesion = np.asarray(np.moveaxis(truth, slices.axis, 0).reshape(truth.shape[slices.axis], -1).any(axis=1))
            for i, s in enumerate(slices.scores):
                if s is not None and i < lesion.size:
                    self.slice_scores.append(float(s))
                    self.slice_truths.append(bool(lesion[i]))

    def result(self) -> dict:
        out: dict = {"n_volumes": self.n_volumes}
        if self.scores:
            s, g = np.concatenate(self.scores), np.concatenate(self.truths)
            if g.any() and (~g).any():
                out["voxel_auprc"] = average_precision(g, s)
                out["voxel_auroc"] = auroc(g, s)
        if self.dice_heat:
            out["dice_3d_at_threshold"] = float(np.mean(self.dice_heat))
        if self.dice_mask:
            out["mask_dice_3d"] = float(np.mean(self.dice_mask))
        if len(set(self.slice_truths)) == 2:
            out["slice_auroc"] = auroc(self.slice_truths, self.slice_scores)
            out["n_slices"] = len(self.slice_truths)
        return out


@dataclass
class BscanMetrics:
    """Accumulates the B-scans of OCT volumes / stacks."""

    scores: list[float] = field(default_factory=list)
    truths: list[bool] = field(default_factory=list)
    pix_scores: list[np.ndarray] = field(default_factory=list)
    pix_truths: list[np.ndarray] = field(default_factory=list)

    def add(self, heat: np.ndarray | None, page_of_2d_map: int | None, truths: list[np.ndarray | None], slices: SliceScores | None) -> None:
        per_page = slices.scores if slices is not None and slices.plane == "bscan" else None
        for page, gt in enumerate(truths):
            if gt is None:
                continue
            page_score = per_page[page] if per_page is not None and page < len(per_page) else None
            if page_score is not None:
                self.scores.append(float(page_score))
                self.truths.append(bool(gt.any()))
            page_heat = None
            if heat is not None and heat.ndim == 3 and page < heat.shape[0]:
                page_heat = heat[page]
            elif heat is not None and heat.ndim == 2 and page == page_of_2d_map:
                page_heat = heat
            if page_heat is not None and page_heat.shape == gt.shape:
                st = max(1, int(max(gt.shape) // 256))
                self.pix_scores.append(page_heat[::st, ::st].ravel())
                self.pix_truths.append(gt[::st, ::st].ravel())

    def result(self) -> dict:
        out: dict = {}
        if len(set(self.truths)) == 2:
            out["bscan_auroc"] = auroc(self.truths, self.scores)
            out["n_bscans"] = len(self.truths)
        if self.pix_scores:
            s, g = np.concatenate(self.pix_scores), np.concatenate(self.pix_truths)
            if g.any() and (~g).any():
                out["bscan_pixel_auroc"] = auroc(g, s)
                out["bscan_pixel_auprc"] = average_precision(g, s)
        return out
