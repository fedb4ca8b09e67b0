"""Model cards and score calibration: what a fitted model version records about itself.

A card is written as ``card.json`` next to the weights and copied into the catalog. Reading one
validates every field that decides a score or a decision (types, finite numbers, a calibration
with a positive spread), so a damaged or edited card is refused with a message instead of silently
changing what the product says about a case.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from core import __version__
from core.errors import StudioError


class CardError(StudioError):
    """A model card is missing a field, has a field of the wrong type, or a number that cannot be."""


CONTOUR_RULES = ("pixels", "images")
PEAK_QUANTILE = 0.95  # the ``images`` contour rule: about one normal map in 20 reaches the contour


@dataclass
class Calibration:
    """Statistics of raw scores on normal images scored by the deployed model without having seen them."""

    n: int = 0
    mean: float = 0.0
    std: float = 1.0
    raw_scores: list[float] = field(default_factory=list)
    pixel_mean: float = 0.0
    pixel_std: float = 1.0
    pixel_q999: float = 3.0  # 99.9th percentile of calibrated normal pixels
    source: str = "held-out normals"
    # highest calibrated value of each normal's map (each B-scan or slice of a stack is one map);
    # empty in cards written before it was recorded
    pixel_peaks: list[float] = field(default_factory=list)

    def image_z(self, raw: float) -> float:
        return float((raw - self.mean) / self.std)

    def pixel_z(self, raw_map: np.ndarray) -> np.ndarray:
        return ((raw_map - self.pixel_mean) / self.pixel_std).astype(np.float32)

    def contour_threshold(self, rule: str = "pixels") -> float:
        """The heatmap contour's level (never below 1): ``pixels``, the 99.9th percentile of the
        normals' pixels; ``images``, the 95th percentile of the normals' map peaks, so that about one
        normal map in 20 shows a contour (``pixels`` where no peaks were recorded)."""
        if rule not in CONTOUR_RULES:
            raise CardError(f"unknown contour rule '{rule}' (one of {', '.join(CONTOUR_RULES)})")
        level = self.pixel_q999
        if rule == "images" and self.pixel_peaks:
            level = float(np.quantile(np.asarray(self.pixel_peaks, np.float64), PEAK_QUANTILE))
        return float(max(level, 1.0))

    @classmethod
    def from_samples(cls, raw_scores: Sequence[float], raw_maps: Sequence[np.ndarray], source: str) -> Calibration:
        scores = np.asarray(raw_scores, dtype=np.float64)
        if scores.size == 0:
            return cls(source="uncalibrated (no normals to calibrate on)")
        mean = float(scores.mean())
        std = float(scores.std(ddof=1)) if scores.size > 1 else 0.0
        floor = max(abs(mean) * 0.05, 1e-6)  # never divide by ~0 with few or identical normals
        std = max(std, floor)
        pix = (
            np.concatenate([np.asarray(m, np.float64).ravel()[:: max(1, np.asarray(m).size // 200_000)] for m in raw_maps])
            if raw_maps
            else np.zeros(1)
        )
        pmean = float(pix.mean())
        pstd = max(float(pix.std()), max(abs(pmean) * 0.05, 1e-6))
        q999 = float(np.quantile((pix - pmean) / pstd, 0.999))
        peaks = [(float(np.max(m)) - pmean) / pstd for m in raw_maps if np.asarray(m).size]
        return cls(
            n=int(scores.size),
            mean=mean,
            std=std,
            raw_scores=[float(s) for s in scores],
            pixel_mean=pmean,
            pixel_std=pstd,
            pixel_q999=q999,
            source=source,
            pixel_peaks=peaks,
        )

    @classmethod
    def from_json(cls, obj: Any, where: str = "calibration") -> Calibration:
        if not isinstance(obj, dict):
            raise CardError(f"{where}: expected an object, got {type(obj).__name__}")
        out = cls(
            n=_int(obj.get("n", 0), f"{where}.n", minimum=0),
            mean=_finite(obj.get("mean", 0.0), f"{where}.mean"),
            std=_finite(obj.get("std", 1.0), f"{where}.std", positive=True),
            raw_scores=[_finite(v, f"{where}.raw_scores") for v in _list(obj.get("raw_scores", []), f"{where}.raw_scores")],
            pixel_mean=_finite(obj.get("pixel_mean", 0.0), f"{where}.pixel_mean"),
            pixel_std=_finite(obj.get("pixel_std", 1.0), f"{where}.pixel_std", positive=True),
            pixel_q999=_finite(obj.get("pixel_q999", 3.0), f"{where}.pixel_q999"),
            source=_str(obj.get("source", ""), f"{where}.source"),
            pixel_peaks=[_finite(v, f"{where}.pixel_peaks") for v in _list(obj.get("pixel_peaks", []), f"{where}.pixel_peaks")],
        )
        return out


@dataclass
class ModelCard:
    method: str
    paper: str
    config: dict
    backbone: str = ""
    weights: dict = field(default_factory=dict)  # file name -> sha256
    training_data: list[str] = field(default_factory=list)  # image content hashes
    calibration: dict = field(default_factory=dict)
    threshold: float = 3.0  # case threshold on the calibrated score
    pixel_threshold: float = 3.0  # heatmap iso-contour on the calibrated map
    created: str = ""
    software_version: str = __version__
    version: str = ""
    deviations: list[str] = field(default_factory=list)
    faithful_config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    fit_seconds: float | None = None
    notes: str = ""
    state_sha256: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: Any) -> ModelCard:
        """A validated card; :class:`CardError` names the first bad field."""
        if not isinstance(obj, dict):
            raise CardError(f"the model card is a {type(obj).__name__}, not an object")
        for key in ("method", "config", "calibration", "threshold"):
            if key not in obj:
                raise CardError(f"the model card has no '{key}'")
        known = {f.name for f in fields(cls)}
        card = cls(**{k: v for k, v in obj.items() if k in known})
        card.method = _str(card.method, "method")
        card.paper = _str(card.paper, "paper")
        if not isinstance(card.config, dict):
            raise CardError("'config' must be an object")
        if not isinstance(card.calibration, dict) or not card.calibration:
            raise CardError("'calibration' must be a non-empty object (the card records how its scores were calibrated)")
        Calibration.from_json(card.calibration)  # validates
        card.threshold = _finite(card.threshold, "threshold")
        card.pixel_threshold = _finite(card.pixel_threshold, "pixel_threshold")
        for key in ("weights", "faithful_config", "metrics"):
            if not isinstance(getattr(card, key), dict):
                raise CardError(f"'{key}' must be an object")
        card.training_data = [_str(v, "training_data") for v in _list(card.training_data, "training_data")]
        card.deviations = [_str(v, "deviations") for v in _list(card.deviations, "deviations")]
        if card.fit_seconds is not None:
            card.fit_seconds = _finite(card.fit_seconds, "fit_seconds")
        for key in ("backbone", "created", "software_version", "version", "notes", "state_sha256"):
            setattr(card, key, _str(getattr(card, key), key))
        return card

    # -- typed views the GUI and the store read ------------------------------------------------
    @property
    def modality(self) -> str:
        return str(self.config.get("modality", ""))

    @property
    def calibration_stats(self) -> Calibration:
        return Calibration.from_json(self.calibration)

    @property
    def caveat(self) -> str:
        """What the review panel shows beside the model's suggestion: the model's own warning
        (metrics["case_score_caveat"]) and a warning when at most one normal calibrated it."""
        notes = [str(self.metrics.get("case_score_caveat") or "")]
        n = self.calibration_stats.n
        if n <= 1:
            notes.append(
                "Calibrated on " + ("no normal case" if n == 0 else "a single normal case") + ": its case threshold is a rough guess."
            )
        return " ".join(x for x in notes if x)


def _finite(value: Any, where: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CardError(f"'{where}' must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise CardError(f"'{where}' must be a finite number, got {value!r}")
    if positive and v <= 0:
        raise CardError(f"'{where}' must be greater than 0, got {v:g}")
    return v


def _int(value: Any, where: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CardError(f"'{where}' must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise CardError(f"'{where}' must be at least {minimum}, got {value}")
    return int(value)


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise CardError(f"'{where}' must be text, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise CardError(f"'{where}' must be a list, got {type(value).__name__}")
    return value
