"""Results as DICOM objects, written with highdicom, each referencing its source instances.

* :func:`segmentation` - reviewed pixel labels as a binary DICOM Segmentation: one segment per
  symptom class (label = class name, coded: category SCT "Morphologically Abnormal Structure",
  type a code of the private scheme ``99ASTUDIO`` whose meaning is the class name), on the
  source frame of reference (MRI) or the source photograph (fundus).
* :func:`parametric_map` - the heatmap as a float32 Parametric Map whose real-world value mapping
  states the unit: z-score (UCUM ``{z-score}``, quantity DCM 113071 "Z-score") calibrated against
  held-out normals.
* :func:`result_report` - a Comprehensive SR with the case score, threshold, the model's decision,
  the reviewer and their decision, and the model (method, version id, weights sha256).

Frames are in the order of ``sources`` (slice ``k`` of a volume is ``sources[k]``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid
from pydicom.valuerep import PersonName

from core import __version__
from core.pacs.hd_compat import ParametricMapNoFrameOfReference, drop_placeholder_measures, highdicom_sources

SCHEME = "99ASTUDIO"  # private coding scheme of Anomaly Studio (DICOM PS3.16: private schemes start with 99)
MANUFACTURER = "Anomaly Studio"
Z_UNIT = hd.sr.CodedConcept("{z-score}", "UCUM", "z-score")
SERIES_NUMBERS = {"seg": 9101, "pmap": 9102, "sr": 9103}
REPORT_TITLE = hd.sr.CodedConcept("ASR-RESULT", SCHEME, "Anomaly detection result")
SCORE = hd.sr.CodedConcept("ASR-SCORE", SCHEME, "Anomaly score")
MODEL_DECISION = hd.sr.CodedConcept("ASR-MODELDEC", SCHEME, "Model decision")
REVIEW_DECISION = hd.sr.CodedConcept("ASR-REVIEWDEC", SCHEME, "Reviewer decision")
CASE_ID = hd.sr.CodedConcept("ASR-CASE", SCHEME, "Anomaly Studio case")
DECISIONS = {"abnormal": codes.SCT.Abnormal, "normal": codes.SCT.Normal}


@dataclass(frozen=True)
class SegmentSpec:
    label: str  # the symptom class name
    rgb: tuple[int, int, int] = (255, 0, 0)

    @property
    def code(self) -> hd.sr.CodedConcept:
        value = "AS" + hashlib.sha1(self.label.strip().lower().encode("utf-8")).hexdigest()[:10]
        return hd.sr.CodedConcept(value, SCHEME, self.label[:64])


@dataclass(frozen=True)
class ReportFacts:
    case_id: str
    score: float | None = None
    threshold: float | None = None
    model_decision: str | None = None  # "normal" | "abnormal"
    reviewer: str | None = None
    reviewer_decision: str | None = None
    comment: str = ""
    method: str | None = None
    version: str | None = None
    weights: dict[str, str] = field(default_factory=dict)  # file -> sha256
    state_sha256: str = ""


def _lab(rgb: tuple[int, int, int]) -> hd.color.CIELabColor:
    from skimage.color import rgb2lab

    lab = rgb2lab(np.array([[rgb]], dtype=np.float64) / 255.0)[0, 0]
    return hd.color.CIELabColor(float(np.clip(lab[0], 0, 100)), float(np.clip(lab[1], -128, 127)), float(np.clip(lab[2], -128, 127)))


def _person(name: str | None) -> PersonName | None:
    """A user name as a one-component person name ('name^': the caret says it is the family name)."""
    if not name:
        return None
    clean = " ".join(re.sub(r"[\\^=\x00-\x1f]", " ", name).split())[:64]
    return PersonName(f"{clean}^") if clean else None


def _describe(ds: Dataset, series_description: str) -> Dataset:
    ds.SeriesDescription = series_description[:64]
    return ds


def segmentation(sources: list[Dataset], masks: np.ndarray, segments: list[SegmentSpec], *, reviewer: str | None = None) -> Dataset:
    """``masks``: bool (frames, rows, columns, segments), frames in ``sources`` order."""
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 4 or masks.shape[-1] != len(segments) or not segments:
        raise ValueError(f"masks of shape {masks.shape} do not hold {len(segments)} segment(s)")
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=i + 1,
            segment_label=s.label[:64],
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=s.code,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            display_color=_lab(s.rgb),
        )
        for i, s in enumerate(segments)
    ]
    src, placeholder = highdicom_sources(sources)
    seg = hd.seg.Segmentation(
        source_images=src,
        pixel_array=masks,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=SERIES_NUMBERS["seg"],
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=__version__,
        device_serial_number="none",
        content_label="LABELS",
        content_description="Reviewed pixel labels (one segment per symptom class)",
        content_creator_name=_person(reviewer),
    )
    if placeholder:
        drop_placeholder_measures(seg)
    return _describe(seg, "Anomaly Studio labels")


def parametric_map(sources: list[Dataset], values: np.ndarray, *, method: str, version: str) -> Dataset:
    """``values``: float32 (frames, rows, columns) calibrated z-scores, frames in ``sources`` order."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    if values.ndim != 3 or not np.all(np.isfinite(values)):
        raise ValueError("a parametric map needs finite float values of shape (frames, rows, columns)")
    lo, hi = float(values.min()), float(values.max())
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="ZSCORE",
        lut_explanation="anomaly z-score, calibrated on held-out normals",
        unit=Z_UNIT,
        value_range=(lo, hi if hi > lo else lo + 1.0),
        slope=1.0,
        intercept=0.0,
        quantity_definition=codes.DCM.ZScore,
    )
    src, placeholder = highdicom_sources(sources)
    cls = hd.pm.ParametricMap if "FrameOfReferenceUID" in sources[0] else ParametricMapNoFrameOfReference
    pmap = cls(
        src,
        values,
        generate_uid(),
        SERIES_NUMBERS["pmap"],
        generate_uid(),
        1,
        MANUFACTURER,
        MANUFACTURER,
        __version__,
        "none",
        False,
        [mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=(lo + hi) / 2, window_width=max(hi - lo, 1e-3))],
        content_label="HEATMAP",
        content_description=f"{method} heatmap, model version {version}"[:64],
    )
    if placeholder:
        drop_placeholder_measures(pmap)
    return _describe(pmap, f"Anomaly Studio heatmap ({method})")


def _text(name, value: str, rel=hd.sr.RelationshipTypeValues.CONTAINS) -> hd.sr.TextContentItem:
    return hd.sr.TextContentItem(name=name, value=value, relationship_type=rel)


def result_report(sources: list[Dataset], facts: ReportFacts, *, evidence: Sequence[Dataset] = ()) -> Dataset:
    """A Comprehensive SR in the sources' study. ``evidence`` adds the SEG / parametric map sent with it."""
    R = hd.sr.RelationshipTypeValues
    items: list[hd.sr.ContentItem] = []
    reviewer = _person(facts.reviewer)
    if reviewer is not None:
        items.append(hd.sr.PnameContentItem(name=codes.DCM.PersonObserverName, value=reviewer, relationship_type=R.HAS_OBS_CONTEXT))
    items.append(_text(CASE_ID, facts.case_id))
    if facts.score is not None:
        items.append(hd.sr.NumContentItem(name=SCORE, value=float(facts.score), unit=Z_UNIT, relationship_type=R.CONTAINS))
    if facts.threshold is not None:
        items.append(
            hd.sr.NumContentItem(name=codes.DCM.ThresholdValue, value=float(facts.threshold), unit=Z_UNIT, relationship_type=R.CONTAINS)
        )
    if facts.model_decision in DECISIONS:
        items.append(hd.sr.CodeContentItem(name=MODEL_DECISION, value=DECISIONS[facts.model_decision], relationship_type=R.CONTAINS))
    if facts.reviewer_decision in DECISIONS:
        items.append(hd.sr.CodeContentItem(name=REVIEW_DECISION, value=DECISIONS[facts.reviewer_decision], relationship_type=R.CONTAINS))
    if facts.method:
        items.append(_text(codes.DCM.AlgorithmName, facts.method))
        items.append(_text(codes.DCM.AlgorithmVersion, facts.version or "unknown"))
        sha = [f"weights {name} sha256 {digest}" for name, digest in sorted(facts.weights.items())]
        if facts.state_sha256:
            sha.append(f"model state sha256 {facts.state_sha256}")
        if sha:
            items.append(_text(codes.DCM.AlgorithmParameters, "; ".join(sha)))
    if facts.comment:
        items.append(_text(codes.DCM.Comment, facts.comment))
    root = hd.sr.ContainerContentItem(name=REPORT_TITLE)
    root.ContentSequence = hd.sr.ContentSequence(items)
    sr = hd.sr.ComprehensiveSR(
        evidence=list(sources) + list(evidence),
        content=root,
        series_instance_uid=generate_uid(),
        series_number=SERIES_NUMBERS["sr"],
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
    )
    return _describe(sr, "Anomaly Studio result")
