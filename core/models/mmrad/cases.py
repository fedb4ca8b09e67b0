"""MMRAD's cases: the simulated training case, and inference over a case whose OCT image may be a
volume (every B-scan paired with the fundus photo, which is encoded once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.domain import LoadedImage
from core.models.contract import PredictContext
from core.models.pages import image_pages

if TYPE_CHECKING:
    from core.models.mmrad.model import MMRAD

PAIR_KINDS = (("fundus",), ("oct",), ("fundus", "oct"))


@dataclass
class CaseInference:
    maps: dict[str, list[np.ndarray]]  # modality -> probability map of every page (one for a 2-D image), on its grid
    fusion: list[float]  # fusion logit of every (fundus, B-scan) pair; empty without a pair


def simulate_case(entry: dict, sims: dict, rng, p_anomaly: float, per_case: bool) -> dict:
    """One simulated training case from {modality: (prepared image, foreground)}. A single image,
    or any case with ``per_case`` False, draws its anomaly per image (probability ``p_anomaly``
    each); a pair with ``per_case`` draws once: anomalous with probability ``p_anomaly``, then the
    fundus, the OCT or both at random. An OCT volume's entry is a list (one per B-scan): one B-scan
    is drawn first. Returns {modality: (image, mask)}."""
    entry = {m: v[int(rng.integers(0, len(v)))] if isinstance(v, list) else v for m, v in entry.items()}
    if not (per_case and len(entry) == 2):
        return {m: sims[m](img, rng, fg) for m, (img, fg) in entry.items()}
    which = PAIR_KINDS[int(rng.integers(0, 3))] if rng.random() < p_anomaly else ()
    out = {}
    for m, (img, fg) in entry.items():
        sample = sims[m].sample(img, rng, fg, force=m in which)
        out[m] = (sample.image, sample.mask)
    return out


def to_grids(inf, pixels: dict[str, np.ndarray]):
    """Resize an Inference's maps (prepared-image grid) to each image's own grid, in place."""
    import torch
    import torch.nn.functional as F

    for m, pm in inf.maps.items():
        h, w = pixels[m].shape[:2]
        inf.maps[m] = (
            F.interpolate(torch.from_numpy(pm)[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
            .numpy()
            .astype(np.float32)
        )
    return inf


def infer_case(model: MMRAD, images: dict[str, LoadedImage], ctx: PredictContext | None = None) -> CaseInference:
    """Maps of every page of a case's images and the fusion logits. A 2-D case is one inference;
    with an OCT volume every B-scan is paired with the other image (encoded once), in batches."""
    pages = {m: image_pages(im) for m, im in images.items()}
    stacked = next((m for m, im in images.items() if im.record.is_stack), None)
    if stacked is None:
        inf = model.infer({m: p[0] for m, p in pages.items()})
        return CaseInference({m: [pm] for m, pm in inf.maps.items()}, [] if inf.fusion_logit is None else [inf.fusion_logit])
    ctx = ctx or PredictContext()
    fixed = {m: p[0] for m, p in pages.items() if m != stacked}

    def step(done: int, total: int) -> None:
        ctx.cancel.raise_if_cancelled()
        ctx.progress(done, total, f"B-scan {done}/{total}")

    ctx.cancel.raise_if_cancelled()
    infs = model.network.infer_stack(
        {m: model.prepare(p) for m, p in fixed.items()},
        stacked,
        [model.prepare(p) for p in pages[stacked]],
        model.order,
        model.config.paired,
        step=step,
    )
    infs = [to_grids(inf, {**fixed, stacked: page}) for inf, page in zip(infs, pages[stacked], strict=True)]
    maps = {stacked: [inf.maps[stacked] for inf in infs]}
    for m in fixed:  # decoded before the B-scan in the fusion order: the same map every time; else the highest
        maps[m] = [np.max(np.stack([inf.maps[m] for inf in infs]), axis=0)]
    return CaseInference(maps, [inf.fusion_logit for inf in infs if inf.fusion_logit is not None])
