"""A case's score under one method, combined from the stored results of that method's active
versions (one per modality): a fundus + OCT pair scored by a fundus PatchCore and an OCT PatchCore
gets one case score, and the reader learns which image decided it.

Rules (Qt-free, no model code; the GUI and the command line read the same numbers):

* Each image keeps its own calibrated score (z-score: standard deviations above the normal images
  its version was calibrated on) and its version's threshold.
* The case score is that of the result furthest above (or least below) its own threshold: with the
  usual common threshold this is the maximum of the calibrated scores. A case is abnormal when any
  version's result reaches its threshold.
* A result whose case score is none of its images' scores (MMRAD's fusion token over the pair)
  decides as a whole: the fusion score is the case score and the images are shown beside it.
* Within a volume the deciding slice (an OCT B-scan, an MRI slice) is named, 1-based as on screen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from core.workspace.results import StoredResult

MODALITY_TITLES = {"fundus": "fundus", "oct": "OCT", "mri": "MRI", "pair": "pair"}
PLANE_TITLES = {"bscan": "B-scan", "axial": "axial slice", "coronal": "coronal slice", "sagittal": "sagittal slice"}


@dataclass(frozen=True)
class ImageScore:
    """One image's calibrated score within a case, and where in the image it came from."""

    image: str  # the image's name in the case
    modality: str
    score: float
    threshold: float
    version: str
    slice_index: int | None = None  # 0-based slice (B-scan) that gave a volume's score
    plane: str = ""

    @property
    def label(self) -> str:
        """'OCT B-scan 7', 'fundus', 'MRI axial slice 80'."""
        text = MODALITY_TITLES.get(self.modality, self.modality or self.image)
        if self.slice_index is not None:
            text += f" {PLANE_TITLES.get(self.plane, self.plane or 'slice')} {self.slice_index + 1}"
        return text

    @property
    def margin(self) -> float:
        return self.score - self.threshold


@dataclass(frozen=True)
class CaseScore:
    """The combined score of one case under one method."""

    case_id: str
    score: float
    threshold: float
    images: tuple[ImageScore, ...]
    decided_by: ImageScore | None  # None when a fusion over the images decided (``fused``)
    fused: bool = False
    version: str = ""  # the version whose result decided

    @property
    def abnormal(self) -> bool:
        return self.score >= self.threshold

    def others(self) -> list[ImageScore]:
        return [im for im in self.images if im is not self.decided_by]

    def explanation(self) -> str:
        """'decided by OCT B-scan 7: 4.1 SD; fundus 1.2 SD' (or the fusion of the pair)."""
        if self.fused:
            head = f"decided by the fusion score of the {' + '.join(_titles(self.images))} pair: {self.score:.1f} SD"
            rest = self.images
        elif self.decided_by is not None:
            head = f"decided by {self.decided_by.label}: {self.decided_by.score:.1f} SD"
            rest = tuple(self.others())
        else:
            return f"{self.score:.1f} SD"
        tail = "; ".join(f"{im.label} {im.score:.1f} SD" for im in rest)
        return head + (f"; {tail}" if tail else "")


def _titles(images: Iterable[ImageScore]) -> list[str]:
    return list(dict.fromkeys(MODALITY_TITLES.get(im.modality, im.modality) for im in images))


def _finite(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def result_images(result: StoredResult, modality_of: Mapping[str, str], default_threshold: float = 3.0) -> list[ImageScore]:
    """The scored images of one stored result (images without a finite score are left out)."""
    threshold = _finite(result.threshold)
    threshold = default_threshold if threshold is None else threshold
    out = []
    for name, entry in result.images.items():
        score = _finite(entry.score)
        if score is None and name == result.image and len(result.images) == 1:
            score = _finite(result.score)  # results of one image may keep only the case score
        if score is None:
            continue
        index = plane = None
        s = result.slices
        if s is not None and name == result.image and s.scores:
            finite = [(i, f) for i, f in ((i, _finite(v)) for i, v in enumerate(s.scores)) if f is not None]
            if finite:
                index = s.top if isinstance(s.top, int) and 0 <= s.top < len(s.scores) else max(finite, key=lambda t: t[1])[0]
                plane = s.plane
        out.append(ImageScore(name, modality_of.get(name, ""), score, threshold, result.version, index, plane or ""))
    return out


def combine_results(case_id: str, results: Sequence[StoredResult], modality_of: Mapping[str, str]) -> CaseScore | None:
    """Combine the stored results of one method's versions on ``case_id`` (see the module text)."""
    best: tuple[float, StoredResult, ImageScore | None, bool] | None = None
    images: list[ImageScore] = []
    for r in results:
        score = _finite(r.score)
        if score is None:
            continue
        own = result_images(r, modality_of)
        images.extend(own)
        threshold = own[0].threshold if own else (_finite(r.threshold) or 3.0)
        decider = next((im for im in own if im.image == r.image and abs(im.score - score) <= 1e-6), None)
        decider = decider or next((im for im in own if abs(im.score - score) <= 1e-6), None)
        fused = decider is None and len(own) > 1
        margin = score - threshold
        if best is None or margin > best[0]:
            best = (margin, r, decider, fused)
    if best is None:
        return None
    margin, r, decider, fused = best
    stored = _finite(r.threshold)
    threshold = decider.threshold if decider is not None else (3.0 if stored is None else stored)
    return CaseScore(case_id, float(r.score), threshold, tuple(images), decider, fused, r.version)


def combine_case_scores(per_version: Sequence[tuple[Mapping[str, float], float]]) -> dict[str, tuple[float, float]]:
    """Worklist scores of many cases at once: ``per_version`` holds each version's {case: score}
    and threshold; returns {case: (score, threshold)} of the version furthest above its threshold."""
    out: dict[str, tuple[float, float]] = {}
    for scores, threshold in per_version:
        for case_id, s in scores.items():
            v = _finite(s)
            if v is None:
                continue
            prev = out.get(case_id)
            if prev is None or v - threshold > prev[0] - prev[1]:
                out[case_id] = (v, float(threshold))
    return out


def plain_sentence(score: float, threshold: float) -> str:
    """'3.2 standard deviations above the normal cases this model was calibrated on; threshold 3.0'."""
    side = "above" if score >= 0 else "below"
    # one decimal, unless rounding would make a score just under the threshold read as equal to it
    # or across it ("2.97 < 3.00" must not become "3.0 ...; threshold 3.0")
    d = 1 if round(score, 1) != round(threshold, 1) and (round(score, 1) >= round(threshold, 1)) == (score >= threshold) else 2
    return f"{abs(score):.{d}f} standard deviations {side} the normal cases this model was calibrated on; threshold {threshold:.{d}f}"
