"""Read each outgoing object back (serialised to bytes, parsed by pydicom and highdicom) and check
it says what it should, before anything is sent. Also used by the tests on what the PACS returns."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset

from core.pacs.encode import CASE_ID, DECISIONS, MODEL_DECISION, REVIEW_DECISION, SCORE
from core.pacs.errors import PacsError


def reparse(ds: Dataset) -> Dataset:
    """``ds`` written as a DICOM file and read back."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def segmentation_masks(ds: Dataset, sop_uids: list[str]) -> tuple[np.ndarray, list[str]]:
    """(bool masks (frames, rows, columns, segments) in ``sop_uids`` order, segment labels)."""
    seg = hd.seg.Segmentation.from_dataset(ds, copy=True)
    labels = [str(s.SegmentLabel) for s in seg.SegmentSequence]
    masks = seg.get_pixels_by_source_instance(sop_uids, combine_segments=False)
    return np.asarray(masks).astype(bool), labels


def parametric_values(ds: Dataset, sop_uids: list[str]) -> np.ndarray:
    pmap = hd.pm.ParametricMap.from_dataset(ds, copy=True)
    values = np.asarray(pmap.get_pixels_by_source_instance(sop_uids, dtype=np.float32))
    return values[..., 0] if values.ndim == 4 else values


def report_facts(ds: Dataset) -> dict:
    """The values of the result SR: {"case", "score", "threshold", "model_decision", "reviewer_decision",
    "reviewer", "algorithm", "version", "parameters"}."""
    sr = hd.sr.ComprehensiveSR.from_dataset(ds, copy=True)
    out: dict = {}
    decision_of = {(c.value, c.scheme_designator): name for name, c in DECISIONS.items()}
    for item in sr.ContentSequence:
        concept = item.ConceptNameCodeSequence[0]
        key = (str(concept.CodeValue), str(concept.CodingSchemeDesignator))
        if key == (SCORE.value, SCORE.scheme_designator):
            out["score"] = float(item.MeasuredValueSequence[0].NumericValue)
        elif key == ("122411", "DCM"):
            out["threshold"] = float(item.MeasuredValueSequence[0].NumericValue)
        elif key in ((MODEL_DECISION.value, MODEL_DECISION.scheme_designator), (REVIEW_DECISION.value, REVIEW_DECISION.scheme_designator)):
            code = item.ConceptCodeSequence[0]
            which = "model_decision" if key[0] == MODEL_DECISION.value else "reviewer_decision"
            out[which] = decision_of.get((str(code.CodeValue), str(code.CodingSchemeDesignator)))
        elif key == ("121008", "DCM"):
            out["reviewer"] = str(item.PersonName).strip("^")
        elif key == (CASE_ID.value, CASE_ID.scheme_designator):
            out["case"] = str(item.TextValue)
        elif key == ("111001", "DCM"):
            out["algorithm"] = str(item.TextValue)
        elif key == ("111003", "DCM"):
            out["version"] = str(item.TextValue)
        elif key == ("111002", "DCM"):
            out["parameters"] = str(item.TextValue)
    return out


def check_segmentation(ds: Dataset, sop_uids: list[str], masks: np.ndarray, labels: list[str]) -> Dataset:
    back = reparse(ds)
    try:
        got, got_labels = segmentation_masks(back, sop_uids)
    except Exception as exc:  # noqa: BLE001 - any highdicom failure means the object is not usable
        raise PacsError(f"the Segmentation does not read back: {exc}") from None
    if got_labels != [label[:64] for label in labels] or got.shape != np.asarray(masks).shape or not np.array_equal(got, masks):
        raise PacsError("the Segmentation read back differs from the labels it was made from")
    return back


def check_parametric_map(ds: Dataset, sop_uids: list[str], values: np.ndarray) -> Dataset:
    back = reparse(ds)
    try:
        got = parametric_values(back, sop_uids)
    except Exception as exc:  # noqa: BLE001
        raise PacsError(f"the Parametric Map does not read back: {exc}") from None
    want = np.asarray(values, dtype=np.float32)
    if got.shape != want.shape or not np.array_equal(got.astype(np.float32), want):
        raise PacsError("the Parametric Map read back differs from the heatmap it was made from")
    return back


def check_report(ds: Dataset, expected: dict) -> Dataset:
    back = reparse(ds)
    try:
        got = report_facts(back)
    except Exception as exc:  # noqa: BLE001
        raise PacsError(f"the SR does not read back: {exc}") from None
    for key, value in expected.items():
        if value is None:
            continue
        same = abs(got.get(key, float("nan")) - value) <= 1e-6 * max(1.0, abs(value)) if isinstance(value, float) else got.get(key) == value
        if not same:
            raise PacsError(f"the SR read back has {key}={got.get(key)!r}, expected {value!r}")
    return back
