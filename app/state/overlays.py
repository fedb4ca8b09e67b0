"""Stored model results to overlay on a volume (Qt-free; runs on the I/O pool)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# methods whose stored results the MRI view shows, first found wins
VOLUME_METHODS = ("rasalore",)


@dataclass
class VolumeOverlay:
    model: str
    version: str
    image: str
    heatmap: np.ndarray                 # calibrated map on the scan's voxel grid
    mask: np.ndarray | None
    score: float
    threshold: float | None             # case threshold on the score
    pixel_threshold: float              # heatmap level drawn from
    extras: dict = field(default_factory=dict)

    def describe(self) -> str:
        top = self.extras.get("top_slice")
        verdict = "" if self.threshold is None else (" ABNORMAL" if self.score >= self.threshold else " normal")
        return f"{self.model}: score {self.score:.2f}{verdict}" + (f", top slice {top + 1}" if top is not None else "")


def load_volume_overlay(ws, case_id: str, image: str | None = None) -> VolumeOverlay | None:
    """The active version's stored result of the first method in VOLUME_METHODS that scored the case."""
    from core.models import store

    for name in VOLUME_METHODS:
        res = store.load_result(ws, name, case_id)
        if res is None:
            continue
        target = image if image in res.maps else res.image
        heat, mask = store.result_arrays(ws, res, target)
        if heat is None or heat.ndim != 3:
            continue
        card = next((v["card"] for v in store.list_versions(ws, name) if v["version"] == res.version), {})
        return VolumeOverlay(name, res.version, target, heat, mask, float(res.maps[target].get("score", res.score)),
                             res.threshold, float(card.get("pixel_threshold", 3.0)), res.extras)
    return None


def load_case_with_overlay(ws, case_id: str):
    """(LoadedCase, VolumeOverlay | None): one I/O task for the MRI view."""
    case = ws.load_case(case_id)
    overlay = load_volume_overlay(ws, case_id) if case.record.kind.value == "mri" else None
    return case, overlay
