"""The workspace data a PACS send reads, through public functions only.

Every call into ``core.models.store`` lives here (and nowhere else in core.pacs), so when the
stored results move into a repository in core/workspace only this module changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CaseResult:
    """The model result of one case as a send needs it."""

    model: str
    version: str
    score: float
    threshold: float | None
    image: str  # primary image the model scored
    heatmaps: dict[str, str]  # image name -> array key (opaque here)
    card: dict  # the model card (method, weights sha256, calibration, ...)
    created: str

    @property
    def abnormal(self) -> bool | None:
        return None if self.threshold is None else self.score >= self.threshold


def case_result(ws, case_id: str, model: str | None = None, version: str | None = None) -> CaseResult | None:
    """The result of ``model`` (``version``, else its active version) for ``case_id``; with no model
    named, the newest result among the active versions of every method. None when there is none."""
    from core.models import store

    versions = [v for v in store.list_versions(ws, model) if (v["version"] == version if version else v["active"])]
    found = []
    for v in versions:
        r = store.load_result(ws, v["name"], case_id, v["version"])
        if r is not None:
            found.append((r, v["card"]))
    if not found:
        return None
    r, card = max(found, key=lambda item: item[0].created or "")
    return CaseResult(
        model=r.model,
        version=r.version,
        score=float(r.score),
        threshold=None if r.threshold is None else float(r.threshold),
        image=r.image,
        heatmaps={name: entry.get("heatmap", "") for name, entry in r.maps.items()},
        card=dict(card),
        created=r.created,
    )


def heatmap(ws, case_id: str, result: CaseResult, image: str) -> np.ndarray | None:
    """The calibrated heatmap (z-scores against held-out normals) of ``image``, float32, or None."""
    from core.models import store

    stored = store.load_result(ws, result.model, case_id, result.version)
    if stored is None:
        return None
    heat, _ = store.result_arrays(ws, stored, image)
    return None if heat is None else np.asarray(heat, dtype=np.float32)
