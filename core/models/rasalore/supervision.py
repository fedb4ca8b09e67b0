"""Slice-level labels for weak supervision.

Per kept slice of a volume: 1 = unhealthy, 0 = healthy, -1 = left out. Sources, strongest first:

1. a reviewer's per-slice decision (``Workspace.slice_reviews``; ``abnormal`` / ``normal``), stored
   on the volume's own voxel grid as (array axis, index);
2. the case's label volume: no lesion voxel in the slice -> healthy, more than ``min_lesion_pixels``
   (paper: 200) -> unhealthy, anything in between is left out;
3. a case known or reviewed normal: every slice healthy.

A training-split case that is abnormal but has neither per-slice decisions nor a label volume
gives no slice labels and is left out (its slices cannot be told apart).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.domain import Decision, LoadedCase, LoadedImage, Modality
from core.models.rasalore.slicing import SliceGeometry

if TYPE_CHECKING:
    from core.workspace.workspace import Workspace

HEALTHY, UNHEALTHY, LEFT_OUT = 0, 1, -1


@dataclass
class LabelledCase:
    """A training case with what is known about its slices."""

    case: LoadedCase
    label_volume: np.ndarray | None = None  # on the case's (co-registered) grid
    reviews: dict[str, dict[tuple[int, int], str]] = field(default_factory=dict)  # image name -> {(axis, index): decision}
    known_normal: bool = False

    def images(self) -> list[LoadedImage]:
        return [im for im in self.case.images.values() if im.modality == Modality.MRI]


def slice_labels(
    geometry: SliceGeometry, labelled: LabelledCase, image_name: str, *, min_lesion_pixels: int = 200, healthy_max_pixels: int = 0
) -> np.ndarray:
    """int8 label per kept slice of ``geometry`` (see the module docstring)."""
    out = np.full(geometry.n, LEFT_OUT, np.int8)
    if labelled.known_normal:
        out[:] = HEALTHY
    lv = labelled.label_volume
    if lv is not None and tuple(lv.shape) == geometry.shape:
        counts = geometry.slice_counts(lv)
        out[:] = LEFT_OUT
        out[counts <= healthy_max_pixels] = HEALTHY
        out[counts > min_lesion_pixels] = UNHEALTHY
    reviews = labelled.reviews.get(image_name, {})
    if reviews:
        axis = geometry.array_axis
        for k, idx in enumerate(geometry.array_indices()):
            d = reviews.get((axis, idx))
            if d == Decision.ABNORMAL.value:
                out[k] = UNHEALTHY
            elif d == Decision.NORMAL.value:
                out[k] = HEALTHY
    return out


def has_slice_labels(ws: Workspace, rec) -> bool:
    """Whether a case record has what :func:`gather_labelled_cases` reads slice labels from: a
    label volume or per-slice review decisions on one of its MRI images (files and rows are only
    looked up, not read)."""
    return any(ws.label_volume_path(im).exists() or ws.slice_reviews(im) for im in rec.images if im.modality == Modality.MRI)


def gather_labelled_cases(ws: Workspace, *, progress=None, cancel=None) -> tuple[list[LabelledCase], list[dict]]:
    """Training cases (split != 'test') with MRI images and slice labels from a label volume or
    per-slice review decisions. Returns (cases, skipped) where skipped says which abnormal training
    cases could not be used and why. Known-normal cases without such labels are not loaded here:
    they reach the model as normals."""
    out: list[LabelledCase] = []
    skipped: list[dict] = []
    records = [c for c in ws.cases() if c.split != "test" and c.image(Modality.MRI) is not None]
    for i, rec in enumerate(records):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(i, len(records), f"slice labels of {rec.id}")
        mri = [im for im in rec.images if im.modality == Modality.MRI]
        label_volume = None
        for im in mri:
            got = ws.read_label_volume(im)
            if got is not None:
                label_volume = got[0]
                break
        reviews = {im.name: ws.slice_reviews(im) for im in mri}
        reviews = {k: v for k, v in reviews.items() if v}
        normal = rec.decision == Decision.NORMAL or (rec.truth == "normal" and rec.decision != Decision.ABNORMAL)
        if label_volume is None and not reviews:
            if not normal and (rec.truth == "abnormal" or rec.decision == Decision.ABNORMAL):
                skipped.append({"case": rec.id, "reason": "abnormal training case without a label volume or per-slice decisions"})
            continue
        out.append(LabelledCase(ws.load_case(rec), label_volume, reviews, known_normal=normal and label_volume is None))
    return out, skipped


def describe(labels: Sequence[np.ndarray]) -> dict:
    allv = np.concatenate([np.asarray(x) for x in labels]) if labels else np.zeros(0, np.int8)
    return {"healthy": int((allv == HEALTHY).sum()), "unhealthy": int((allv == UNHEALTHY).sum()), "left_out": int((allv == LEFT_OUT).sum())}
