"""The workspace data a PACS send reads, through public functions only.

Stored results and model versions are read through the workspace's repositories
(core.workspace.results / .versions), here and nowhere else in core.pacs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from core.workspace.cards import ModelCard
    from core.workspace.results import StoredResult
    from core.workspace.workspace import Workspace


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


def case_result(ws: Workspace, case_id: str, model: str | None = None, version: str | None = None) -> CaseResult | None:
    """The result of ``model`` (``version``, else its active versions) for ``case_id``; with no model
    named, the newest result among the active versions of every method. None when there is none."""
    versions = [v for v in ws.versions.list(model) if (v.version == version if version else v.active) and v.card is not None]
    found: list[tuple[StoredResult, ModelCard]] = []
    for v in versions:
        r = ws.results.get(v.name, v.version, case_id)
        if r is not None and v.card is not None:
            found.append((r, v.card))
    if not found:
        return None
    r, card = max(found, key=lambda item: item[0].created or "")
    return CaseResult(
        model=r.model,
        version=r.version,
        score=float(r.score),
        threshold=None if r.threshold is None else float(r.threshold),
        image=r.image,
        heatmaps={name: entry.heatmap_key for name, entry in r.images.items()},
        card=card.to_json(),
        created=r.created,
    )


def heatmap(ws: Workspace, case_id: str, result: CaseResult, image: str) -> np.ndarray | None:
    """The calibrated heatmap (z-scores against held-out normals) of ``image``, float32, or None."""
    stored = ws.results.get(result.model, result.version, case_id)
    if stored is None:
        return None
    heat, _ = ws.results.image_arrays(stored, image)
    return None if heat is None else np.asarray(heat, dtype=np.float32)
