"""Model versions and stored results written straight into a workspace (no fitting): the GUI tests
of scores, pairs and stale state need the catalog rows and arrays a fitted model leaves, not its
weights. ``FakeModel`` predicts like a slow volume method, reporting slices through its context."""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from core.models.base import AnomalyResult, ImageMap
from core.workspace.cards import Calibration, ModelCard
from core.workspace.results import ImageResult, SliceScores, StoredResult, result_key


def add_version(ws, method: str, modality: str, version: str, threshold: float = 3.0, created: str = "2026-11-30T10:00:00+00:00"):
    card = ModelCard(
        method=method,
        paper="",
        config={"modality": modality},
        calibration=asdict(Calibration(n=10)),
        threshold=threshold,
        version=version,
        created=created,
    )
    ws.versions.register(card, f"models/{method}/{version}", "", activate=True, user="tester")
    return card


def add_result(
    ws,
    method: str,
    version: str,
    case_id: str,
    scores: dict[str, float],
    case_score: float | None = None,
    slices: SliceScores | None = None,
    threshold: float = 3.0,
) -> StoredResult:
    record = ws.case(case_id)
    by_name = {im.name: im for im in record.images}
    images, arrays = {}, {}
    for name, s in scores.items():
        sha = by_name[name].sha256
        images[name] = ImageResult(result_key(method, version, sha, "heatmap"), None, s)
        heat = np.zeros((16, 16), np.float32)
        heat[4:9, 5:10] = s + 1.0
        arrays[name] = (heat, None)
    best = max(scores, key=scores.get)
    stored = StoredResult(
        method, version, case_id, scores[best] if case_score is None else case_score, None, threshold, best, images, {}, slices=slices
    )
    return ws.results.put(stored, arrays)


class FakeModel:
    """Scores the fundus image of a case slowly, in ``steps`` reported steps, honouring cancel."""

    name = "patchcore"
    modality = "fundus"

    def __init__(self, version: str, steps: int = 20, delay: float = 0.04):
        self.card = ModelCard(method="patchcore", paper="", config={"modality": "fundus"}, version=version)
        self.steps, self.delay = steps, delay
        self.reached = 0

    def predict(self, case, ctx) -> AnomalyResult:
        im = case.scored("fundus")[0]
        for i in range(self.steps):
            ctx.cancel.raise_if_cancelled()
            ctx.progress(i, self.steps, f"slice {i + 1}/{self.steps}")
            self.reached = i + 1
            time.sleep(self.delay)
        heat = np.ones((8, 8), np.float32)
        return AnomalyResult(score=2.0, heatmap=heat, image=im.record.name, maps={im.record.name: ImageMap(heat, score=2.0)})
