"""Stored model results: one row per (method, version, case) in the catalog's ``results`` table and
every image's calibrated heatmap (and mask) in the array store, under
``results/<method>/<version>/<image sha256>/{heatmap,mask}``. The GUI, the command line and
exports read the same numbers from here without recomputing.

Typed parts of a result (per-slice or per-B-scan scores, which image decided the case score) are
fields, not free-form extras; ``extras`` keeps the method's own diagnostics for display.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.workspace.arrays import ArrayStore
from core.workspace.catalog import Catalog, now_iso


@dataclass(frozen=True)
class SliceScores:
    """Scores along one axis of a volume: MRI slices (plane axial/coronal/sagittal) or the B-scans
    of an OCT volume (plane "bscan"). ``scores[i]`` is None for slices the method does not score."""

    axis: int
    plane: str
    scores: list[float | None]
    p_unhealthy: list[float | None] | None = None  # RASALoRE's classifier guidance: P(lesion) per slice
    top: int | None = None  # index of the highest-scoring slice

    def to_json(self) -> dict[str, Any]:
        return {"axis": self.axis, "plane": self.plane, "scores": self.scores, "p_unhealthy": self.p_unhealthy, "top": self.top}

    @classmethod
    def from_json(cls, obj: Any) -> SliceScores | None:
        if not isinstance(obj, dict) or not isinstance(obj.get("scores"), list):
            return None
        top = obj.get("top")
        return cls(int(obj.get("axis", 0)), str(obj.get("plane", "")), list(obj["scores"]), obj.get("p_unhealthy"), top)

    @classmethod
    def from_legacy_extras(cls, extras: dict) -> SliceScores | None:
        """Results stored before the typed fields (RASALoRE kept them in its extras)."""
        if not isinstance(extras.get("slice_scores"), list):
            return None
        return cls(
            int(extras.get("slice_axis", 2)),
            str(extras.get("slice_plane", "axial")),
            list(extras["slice_scores"]),
            extras.get("slice_unhealthy_probability"),
            extras.get("top_slice"),
        )

    def score_at(self, index: int) -> float | None:
        return self.scores[index] if 0 <= index < len(self.scores) else None

    def p_at(self, index: int) -> float | None:
        if self.p_unhealthy is None or not 0 <= index < len(self.p_unhealthy):
            return None
        return self.p_unhealthy[index]


@dataclass
class ImageResult:
    """One image of a stored result: where its arrays are and its own calibrated score."""

    heatmap_key: str
    mask_key: str | None = None
    score: float | None = None
    raw_score: float | None = None
    page: int | None = None  # a 2-D map of a B-scan stack lies on this page (results from before per-B-scan maps)
    enface_key: str | None = None  # an OCT volume's en-face map (core.models.enface) ...
    enface_on: str | None = None  # ... lying on this image of the case (the localizer or the fundus photo)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"heatmap": self.heatmap_key, "score": self.score, "raw_score": self.raw_score}
        if self.mask_key:
            d["mask"] = self.mask_key
        if self.page is not None:
            d["page"] = self.page
        if self.enface_key:
            d["enface"] = self.enface_key
            d["enface_on"] = self.enface_on
        return d

    @classmethod
    def from_json(cls, obj: dict) -> ImageResult:
        page = obj.get("page")
        enface, on = obj.get("enface"), obj.get("enface_on")
        ok = isinstance(enface, str) and isinstance(on, str)
        return cls(
            obj["heatmap"],
            obj.get("mask"),
            obj.get("score"),
            obj.get("raw_score"),
            None if page is None else int(page),
            enface if ok else None,
            on if ok else None,
        )


@dataclass
class StoredResult:
    model: str
    version: str
    case_id: str
    score: float
    raw_score: float | None
    threshold: float | None
    image: str  # the image that decided the case score (its map is the primary one)
    images: dict[str, ImageResult] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)
    created: str = ""
    slices: SliceScores | None = None
    score_source: str = ""  # how the case score was formed, in words

    def is_abnormal(self) -> bool | None:
        return None if self.threshold is None else self.score >= self.threshold

    @property
    def maps(self) -> dict[str, dict]:
        """Per-image entries as plain dicts (exports, the JSON of the command line)."""
        return {k: v.to_json() for k, v in self.images.items()}


def result_key(name: str, version: str, sha: str, what: str) -> str:
    return f"results/{name}/{version}/{sha}/{what}"


class ResultsRepository:
    """The only code that reads or writes the ``results`` table."""

    def __init__(self, catalog: Catalog, arrays: ArrayStore):
        self.catalog = catalog
        self.arrays = arrays

    def put(
        self,
        result: StoredResult,
        arrays: dict[str, tuple[np.ndarray, np.ndarray | None]],
        enface: dict[str, np.ndarray] | None = None,
    ) -> StoredResult:
        """Write each image's (heatmap, mask) and en-face map (by image name) to the array store,
        then the row (one transaction)."""
        for image_name, (heat, mask) in arrays.items():
            entry = result.images[image_name]
            heat = np.asarray(heat, np.float32)
            # a smooth float32 map does not compress (lzf: 1 % smaller, ~10x slower to write and read);
            # volumes do (mostly background): 2-D maps are stored plain, volumes lzf-compressed
            self.arrays.put(entry.heatmap_key, heat, compress=heat.ndim >= 3)
            if mask is not None and entry.mask_key:
                self.arrays.put(entry.mask_key, np.asarray(mask, bool))
        for image_name, values in (enface or {}).items():
            entry = result.images[image_name]
            if entry.enface_key:
                self.arrays.put(entry.enface_key, np.asarray(values, np.float32))
        extras = dict(_jsonable(result.extras))
        if result.slices is not None:
            extras["slices"] = result.slices.to_json()
        if result.score_source:
            extras["score_source"] = result.score_source
        result.created = result.created or now_iso()
        with self.catalog.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO results(model, version, case_id, image, score, raw_score, threshold, maps, extras, created)"
                " VALUES(?,?,?,?,?,?,?,?,?,?)",
                (
                    result.model,
                    result.version,
                    result.case_id,
                    result.image,
                    float(result.score),
                    _finite(result.raw_score),
                    result.threshold,
                    json.dumps({k: v.to_json() for k, v in result.images.items()}),
                    json.dumps(extras),
                    result.created,
                ),
            )
        return result

    def get(self, name: str, version: str, case_id: str) -> StoredResult | None:
        r = self.catalog.query_one("SELECT * FROM results WHERE model=? AND version=? AND case_id=?", (name, version, case_id))
        return None if r is None else _from_row(r)

    def image_arrays(
        self, result: StoredResult, image: str | None = None, *, required: bool = False
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(heatmap, mask) of one image (the deciding image by default); None where missing, or with
        ``required`` a MissingArrayError for an array the result refers to but the store lost."""
        entry = result.images.get(image or result.image)
        if entry is None:
            return None, None

        def load(key: str, what: str) -> np.ndarray | None:
            return self.arrays.require(key, what) if required else self.arrays.get(key)

        heat = load(entry.heatmap_key, "heatmap")
        mask = load(entry.mask_key, "mask") if entry.mask_key else None
        return heat, mask

    def enface_array(self, result: StoredResult, image: str | None = None) -> tuple[np.ndarray, str] | None:
        """(en-face map, name of the image it lies on) of an OCT volume of the result (``image``, or
        the first volume that has one), or None."""
        names = [image] if image else list(result.images)
        for name in names:
            entry = result.images.get(name)
            if entry is not None and entry.enface_key and entry.enface_on:
                values = self.arrays.get(entry.enface_key)
                if values is not None:
                    return np.asarray(values, np.float32), entry.enface_on
        return None

    def scores(self, name: str, version: str) -> dict[str, float]:
        rows = self.catalog.query("SELECT case_id, score FROM results WHERE model=? AND version=?", (name, version))
        return {r["case_id"]: r["score"] for r in rows}

    def for_case(self, case_id: str) -> list[StoredResult]:
        return [_from_row(r) for r in self.catalog.query("SELECT * FROM results WHERE case_id=? ORDER BY created", (case_id,))]

    def set_threshold(self, name: str, version: str, threshold: float) -> None:
        with self.catalog.transaction() as c:
            c.execute("UPDATE results SET threshold=? WHERE model=? AND version=?", (float(threshold), name, version))

    def delete_version(self, name: str, version: str) -> None:
        with self.catalog.transaction() as c:
            c.execute("DELETE FROM results WHERE model=? AND version=?", (name, version))


def _from_row(r) -> StoredResult:
    extras = json.loads(r["extras"] or "{}")
    slices = SliceScores.from_json(extras.pop("slices", None)) or SliceScores.from_legacy_extras(extras)
    source = str(extras.pop("score_source", "") or extras.get("case_score", "") or "")
    images = {k: ImageResult.from_json(v) for k, v in json.loads(r["maps"] or "{}").items()}
    return StoredResult(
        r["model"],
        r["version"],
        r["case_id"],
        r["score"],
        r["raw_score"],
        r["threshold"],
        r["image"],
        images,
        extras,
        r["created"],
        slices,
        source,
    )


def _finite(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if not isinstance(v, np.ndarray) or v.size <= 64}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
