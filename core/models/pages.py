"""2-D methods on OCT volumes: a B-scan stack is scored B-scan by B-scan.

A 2-D method (PatchCore, ReSAD, MIAS-SAM, ReSynthDetect, MMRAD) scores 2-D images: fundus photos,
single B-scans, 2-D slices. Given an OCT B-scan stack (a volume), it scores every B-scan as a 2-D
image (batched where the method allows) and returns

* one raw map per B-scan, stacked to ``(N, H, W)`` on the volume's grid (calibrated by the base
  class like any map: one calibrated map per B-scan),
* the raw score of every B-scan (``extras[PAGE_RAW_SCORES]``); the base class calibrates each and
  stores them as ``SliceScores(axis=0, plane="bscan")``,
* the volume's raw score: the highest B-scan raw score. Calibration is per B-scan (every B-scan of
  a held-out normal volume is one calibration sample, like a single B-scan) and monotone, so the
  volume's calibrated score is exactly the highest calibrated B-scan score.

Why the maximum: a lesion may lie on a single B-scan of 25 to 128 (a mean would dilute it by that
factor); the score then names a B-scan a reader can open and check; and single B-scans and volumes
share one calibration and one heatmap scale. The price: the maximum of N normal B-scans grows with
N, so a normal volume scores higher than a normal single B-scan (the model card records the scores
of the held-out normal volumes, ``metrics["volumes"]``, to judge the threshold by).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import numpy as np

from core.domain import LoadedImage
from core.errors import InputError
from core.models.base import AnomalyModel
from core.models.contract import PredictContext
from core.models.volume_scores import PAGE_RAW_SCORES

VOLUME_NOTE = (
    "OCT volumes (the product's, not the paper's): every B-scan of a volume is scored as a 2-D image (its own calibrated "
    "score and heatmap, stored as an (N, H, W) stack); the volume's score is the highest calibrated B-scan score, so a "
    "lesion on one B-scan of 25 is not diluted by the other 24 and the score names the B-scan to check. Training and "
    "calibration use every B-scan of the normal volumes (the B-scans of one volume are held out together); a normal "
    "volume's maximum of N B-scan scores lies above a single normal B-scan's score (the card's metrics list the held-out "
    "normal volumes' scores)."
)

PageOutput = tuple[float, np.ndarray, dict]  # (raw score, raw 2-D map on the page's grid, extras)


def image_pages(image: LoadedImage) -> list[np.ndarray]:
    """The 2-D images a 2-D method scores: every B-scan of an OCT stack, else the image itself."""
    a = image.array
    if image.record.is_stack:
        return [a[i] for i in range(a.shape[0])]
    if a.ndim == 3 and a.shape[-1] != 3:
        raise InputError(None, f"{image.record.id}: expected a 2-D image, got shape {a.shape}")
    return [a]


def middle_pixels(image: LoadedImage) -> np.ndarray:
    """One 2-D image to preview (the middle B-scan of a stack)."""
    pages = image_pages(image)
    return pages[len(pages) // 2]


def combine_pages(outputs: Sequence[PageOutput], stacked: bool) -> PageOutput:
    """Per-page outputs -> the image's (raw score, raw map, extras). A 2-D image passes through
    unchanged; a stack gets the highest B-scan raw score, the ``(N, H, W)`` map, a ``(N, H, W)``
    mask when pages have masks, every page's raw score under :data:`PAGE_RAW_SCORES` and the
    deciding B-scan's diagnostics."""
    if not stacked:
        return outputs[0]
    raws = [float(o[0]) for o in outputs]
    top = int(np.argmax(raws))
    maps = np.stack([np.asarray(o[1], np.float32) for o in outputs])
    masks = [o[2].get("mask") for o in outputs]
    extras = {k: v for k, v in outputs[top][2].items() if k not in ("mask", "page")}
    if any(m is not None for m in masks):
        extras["mask"] = np.stack([np.zeros(maps.shape[1:], bool) if m is None else np.asarray(m, bool) for m in masks])
    extras.update({PAGE_RAW_SCORES: raws, "top_bscan": top, "bscans": len(raws)})
    return max(raws), maps, extras


class PageModel(AnomalyModel):
    """A method that scores 2-D images one page at a time; an OCT B-scan stack page by page."""

    page_batch: int = 8  # B-scans handed to :meth:`_score_pages` at once (bounds memory on 128-B-scan volumes)

    def _predict_raw(self, image: LoadedImage, ctx: PredictContext) -> PageOutput:
        pages = image_pages(image)
        outputs: list[PageOutput] = []
        for start in range(0, len(pages), self.page_batch):
            ctx.cancel.raise_if_cancelled()
            if len(pages) > 1:
                ctx.progress(start, len(pages), f"B-scan {start + 1}/{len(pages)}")
            outputs.extend(self._score_pages(pages[start : start + self.page_batch], image, ctx))
        return combine_pages(outputs, image.record.is_stack)

    def _score_pages(self, pages: list[np.ndarray], image: LoadedImage, ctx: PredictContext) -> list[PageOutput]:
        """Score several 2-D pages; methods that can batch their network override this."""
        return [self._score_page(p, image, ctx) for p in pages]

    @abstractmethod
    def _score_page(self, pixels: np.ndarray, image: LoadedImage, ctx: PredictContext) -> PageOutput:
        """(raw score, raw float32 map on ``pixels``' grid, extras) of one 2-D image."""
