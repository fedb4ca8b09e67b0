"""Volume scores shared by the 2-D methods (core.models.pages): calibrated per-B-scan scores, the
calibration samples of normal volumes (one per B-scan), what the held-out normal volumes scored (in
the card) and the en-face map added to a volume's outputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from core.domain import LoadedCase
from core.workspace.cards import CONTOUR_RULES, Calibration, ModelCard
from core.workspace.results import SliceScores

if TYPE_CHECKING:
    from core.models.base import ImageMap

PAGE_RAW_SCORES = "page_raw_scores"  # extras of a B-scan stack: every B-scan's raw score (core.models.pages)


def bscan_scores(calibration: Calibration, page_raws: Sequence[float]) -> SliceScores:
    """Calibrated score of every B-scan of a stack (the volume's score is the highest of them)."""
    scores: list[float | None] = [calibration.image_z(r) for r in page_raws]
    return SliceScores(axis=0, plane="bscan", scores=scores, top=int(np.argmax(np.asarray(scores, float))) if scores else None)


def with_enface(case: LoadedCase, maps: dict[str, ImageMap]) -> dict[str, ImageMap]:
    """Add the en-face map to every OCT volume's entry whose B-scan positions lie on an image of the case."""
    from core.models.enface import enface_for_case

    out = dict(maps)
    for name, m in maps.items():
        ef = enface_for_case(case, name, m.heatmap) if m.heatmap.ndim == 3 else None
        if ef is not None:
            out[name] = replace(m, enface=ef.values, enface_on=ef.on)
    return out


class CalibrationSamples:
    """Raw scores and maps of normal images for :class:`Calibration`: one sample per 2-D image and one
    per B-scan of a stack (the per-B-scan raw scores under ``PAGE_RAW_SCORES``)."""

    def __init__(self) -> None:
        self.raws: list[float] = []
        self.maps: list[np.ndarray] = []
        self.volume_raws: list[tuple[int, float]] = []  # (B-scans, highest B-scan raw score) of each normal volume

    def add(self, raw: float, raw_map: np.ndarray, extras: dict) -> None:
        page_raws = extras.get(PAGE_RAW_SCORES)
        if page_raws is None:
            self.raws.append(float(raw))
            self.maps.append(raw_map)
            return
        self.raws.extend(float(r) for r in page_raws)
        self.maps.extend(np.asarray(raw_map))
        self.volume_raws.append((len(page_raws), float(max(page_raws))))

    def calibration(self, source: str, card: ModelCard | None = None) -> Calibration:
        cal = Calibration.from_samples(self.raws, self.maps, source)
        if card is not None:
            note_volume_scores(card, cal, self.volume_raws)
        return cal


def note_contour(card: ModelCard, calibrations: Sequence[Calibration], rule: str) -> float:
    """The contour level under ``rule`` (the highest over ``calibrations``: MMRAD has one per
    modality), recorded in the card beside the level of every rule, so a reader sees what the
    other rule would have drawn; returns the level."""
    levels = {r: max(c.contour_threshold(r) for c in calibrations) for r in CONTOUR_RULES}
    card.metrics["contour"] = {"rule": rule, "levels": {r: round(v, 4) for r, v in levels.items()}}
    return levels[rule]


def note_volume_scores(card: ModelCard, cal: Calibration, volume_raws: Sequence[tuple[int, float]], key: str = "volumes") -> None:
    """Record in the card what the held-out normal volumes scored (their highest calibrated B-scan
    score): a volume's score is a maximum over its B-scans, so this is the level to set a threshold by."""
    if not volume_raws:
        card.metrics.pop(key, None)
        return
    card.metrics[key] = {
        "aggregate": "highest calibrated B-scan score",
        "calibrated_on": "every B-scan of the calibration normals (volumes and single B-scans alike)",
        "normal_volumes": [{"bscans": n, "score": round(cal.image_z(r), 4)} for n, r in volume_raws],
    }
