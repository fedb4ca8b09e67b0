"""The contract every anomaly method implements, its model card, calibration and persistence.

* ``fit(normals, progress=, cancel=)`` learns from normal cases and calibrates scores on normals
  held out from fitting; ``predict(case)`` returns an :class:`AnomalyResult` whose ``score`` and
  ``heatmap`` are calibrated (z-scores against held-out normals) and therefore comparable across
  cases: a case scored alone gets exactly the score it gets in a batch.
* ``save(folder)`` writes ``model.pt`` (tensors only, loaded with ``weights_only=True``) and
  ``card.json``; ``load(folder)`` checks both and says clearly what is wrong with a damaged folder.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from core import __version__
from core.domain import LoadedCase, LoadedImage, Modality
from core.errors import InputError, StudioError
from core.runtime.progress import CancelToken, Progress, no_progress

MODEL_FILE = "model.pt"
CARD_FILE = "card.json"


class ModelFolderError(StudioError):
    """A saved model folder is missing, truncated or was modified."""


@dataclass(frozen=True)
class ImageMap:
    """The outputs of one image of a case."""

    heatmap: np.ndarray  # float32 calibrated anomaly map on the image grid ((H, W) or (D, H, W))
    mask: np.ndarray | None = None  # bool, same grid
    score: float | None = None  # calibrated image score where the method gives one per image
    raw_score: float | None = None


@dataclass(frozen=True)
class AnomalyResult:
    score: float  # calibrated case score (z against held-out normals), higher = more anomalous
    heatmap: np.ndarray  # calibrated map of the primary image (``image``)
    mask: np.ndarray | None = None
    extras: dict = field(default_factory=dict)
    image: str = ""  # name of the image the heatmap lies on
    raw_score: float = float("nan")
    maps: dict[str, ImageMap] = field(default_factory=dict)  # every image the model scored, by name

    def is_abnormal(self, threshold: float) -> bool:
        return self.score >= threshold


@dataclass
class Calibration:
    """Statistics of raw scores on held-out normal images."""

    n: int = 0
    mean: float = 0.0
    std: float = 1.0
    raw_scores: list[float] = field(default_factory=list)
    pixel_mean: float = 0.0
    pixel_std: float = 1.0
    pixel_q999: float = 3.0  # 99.9th percentile of calibrated normal pixels
    source: str = "held-out normals"

    def image_z(self, raw: float) -> float:
        return float((raw - self.mean) / self.std)

    def pixel_z(self, raw_map: np.ndarray) -> np.ndarray:
        return ((raw_map - self.pixel_mean) / self.pixel_std).astype(np.float32)

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
        return cls(
            n=int(scores.size),
            mean=mean,
            std=std,
            raw_scores=[float(s) for s in scores],
            pixel_mean=pmean,
            pixel_std=pstd,
            pixel_q999=q999,
            source=source,
        )


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
    def from_json(cls, obj: dict) -> ModelCard:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in obj.items() if k in known})


def new_version_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


class AnomalyModel(ABC):
    """Base class of every method. Subclasses set the class attributes and implement
    ``_fit``, ``_predict_raw``, ``state_tensors`` and ``load_tensors``."""

    name: ClassVar[str]
    title: ClassVar[str]
    paper: ClassVar[str]
    modalities: ClassVar[tuple[str, ...]]  # image modalities the method scores
    default_config: ClassVar[dict[str, Any]]
    trained: ClassVar[bool] = False  # True when fitting runs gradient training
    deviations: ClassVar[tuple[str, ...]] = ()
    faithful_config: ClassVar[dict[str, Any]] = {}

    @classmethod
    def full_default_config(cls) -> dict[str, Any]:
        """Every setting with its default: the shared ones, then the method's own."""
        base = {
            "image_size": 256,
            "device": "auto",
            "seed": 0,
            "modality": cls.modalities[0],
            "calibration_holdout": 0.25,
            "threshold": 3.0,
        }
        base.update(cls.default_config)
        return base

    def __init__(self, **config: Any):
        base = self.full_default_config()
        unknown = set(config) - set(base)
        if unknown:
            raise InputError(None, f"{self.name}: unknown config key(s) {sorted(unknown)}; known: {sorted(base)}")
        for k, v in config.items():
            base[k] = _coerce(v, base[k])
        self.config = base
        if self.config["modality"] not in self.modalities:
            raise InputError(None, f"{self.name} scores {', '.join(self.modalities)} images, not '{self.config['modality']}'")
        self.calibration = Calibration()
        self.card = ModelCard(
            method=self.name,
            paper=self.paper,
            config=dict(self.config),
            deviations=list(self.deviations),
            faithful_config=dict(self.faithful_config),
            threshold=float(self.config["threshold"]),
        )
        self.fitted = False
        self.array_store = None
        self.training_context = None  # core.training.TrainingContext: run folder, resume, progress events
        # set by store.predict_cases around each case: a long prediction (RASALoRE's guided slices)
        # reports its steps and stops when the run is cancelled
        self.prediction_progress: Progress | None = None
        self.prediction_cancel: CancelToken | None = None

    def attach_store(self, store) -> None:
        """Give the model the workspace's array store (content-hash cache for embeddings)."""
        self.array_store = store

    # -- device ------------------------------------------------------------------------------
    @property
    def device(self):
        from core.runtime.device import resolve_device

        return resolve_device(self.config["device"])

    # -- the contract --------------------------------------------------------------------------
    def fit(self, normals: Sequence[LoadedCase], *, progress: Progress | None = None, cancel: CancelToken | None = None) -> None:
        """Fit on normal cases; calibrate on a held-out part of them; then refit on all (for
        memory-bank methods) so no normal is wasted."""
        progress = progress or no_progress
        cancel = cancel or CancelToken()
        images = self.select_images(normals)
        if not images:
            raise InputError(None, f"{self.name}: no {self.config['modality']} images among the {len(normals)} normal case(s)")
        t0 = time.monotonic()
        rng = np.random.default_rng(self.config["seed"])
        order = rng.permutation(len(images))
        n_hold = int(round(len(images) * float(self.config["calibration_holdout"])))
        n_hold = min(n_hold, len(images) - 1) if len(images) >= 3 else 0
        hold = [images[i] for i in order[:n_hold]]
        fit_set = [images[i] for i in order[n_hold:]]
        self._fit(fit_set, progress=progress, cancel=cancel, final=not hold)
        calib_set, source = (hold, "held-out normals") if hold else (fit_set, "training normals (too few normals to hold any out)")
        raws, maps = [], []
        for i, im in enumerate(calib_set):
            cancel.raise_if_cancelled()
            progress(i, len(calib_set), f"calibrating on normal {i + 1}/{len(calib_set)}")
            raw, raw_map, _extras = self._predict_raw(im)
            raws.append(raw)
            maps.append(raw_map)
        self.calibration = Calibration.from_samples(raws, maps, source)
        if hold and self.refit_on_all:
            self._fit(images, progress=progress, cancel=cancel, final=True)
        self._finish_card(t0, images)
        progress(1, 1, "done")

    def _finish_card(self, t0: float, images: list[LoadedImage]) -> None:
        """Mark the model fitted and record calibration, training data, time and version in the card."""
        self.fitted = True
        self.card.calibration = asdict(self.calibration)
        self.card.pixel_threshold = float(max(self.calibration.pixel_q999, 1.0))
        self.card.training_data = [im.sha256 for im in images]
        self.card.created = datetime.now(UTC).isoformat(timespec="seconds")
        self.card.fit_seconds = round(time.monotonic() - t0, 2)
        self.card.version = self.card.version or new_version_id()
        self._update_card()

    refit_on_all: ClassVar[bool] = True

    def predict(self, case: LoadedCase) -> AnomalyResult:
        if not self.fitted:
            raise StudioError(f"{self.name}: model is not fitted")
        images = self.select_images([case])
        if not images:
            raise InputError(None, f"case {case.id} has no {self.config['modality']} image for {self.name}")
        maps: dict[str, ImageMap] = {}
        best: tuple[float, str] | None = None
        extras_all: dict = {}
        for im in images:
            raw, raw_map, extras = self._predict_raw(im)
            z = self.calibration.image_z(raw)
            heat = self.calibration.pixel_z(raw_map)
            mask = extras.pop("mask", None)
            maps[im.record.name] = ImageMap(heatmap=heat, mask=mask, score=z, raw_score=float(raw))
            extras_all[im.record.name] = extras
            if best is None or z > best[0]:
                best = (z, im.record.name)
        primary = maps[best[1]]
        return AnomalyResult(
            score=float(primary.score),
            heatmap=primary.heatmap,
            mask=primary.mask,
            extras=extras_all[best[1]] | {"per_image": {k: v for k, v in extras_all.items() if k != best[1]}},
            image=best[1],
            raw_score=float(primary.raw_score),
            maps=maps,
        )

    def predict_array(self, array: np.ndarray, name: str | None = None) -> AnomalyResult:
        """Score one bare image array (benchmarks, tests)."""
        mod = self.config["modality"]
        return self.predict(LoadedCase.from_arrays(**{name or mod: array}))

    def select_images(self, cases: Sequence[LoadedCase]) -> list[LoadedImage]:
        mod = Modality(self.config["modality"])
        out = []
        for c in cases:
            for im in c.images.values():
                if im.modality == mod:
                    out.append(im)
        return out

    # -- what methods implement ------------------------------------------------------------------
    @abstractmethod
    def _fit(self, images: list[LoadedImage], *, progress: Progress, cancel: CancelToken, final: bool) -> None: ...

    @abstractmethod
    def _predict_raw(self, image: LoadedImage) -> tuple[float, np.ndarray, dict]:
        """Return (raw image score, raw float32 map on the image grid, extras incl. optional 'mask')."""

    @abstractmethod
    def state_tensors(self) -> dict:
        """Everything learned, as a flat dict of tensors (saved with torch.save)."""

    @abstractmethod
    def load_tensors(self, state: dict) -> None: ...

    def _update_card(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Hook: methods add backbone and weights information to ``self.card``."""

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        import torch

        from core.hashing import file_sha256
        from core.io.atomic import atomic_path, atomic_write_json

        if not self.fitted:
            raise StudioError(f"{self.name}: cannot save an unfitted model")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() if hasattr(v, "detach") else torch.as_tensor(v) for k, v in self.state_tensors().items()}
        with atomic_path(folder / MODEL_FILE) as tmp:
            torch.save(state, tmp)
        self.card.state_sha256 = file_sha256(folder / MODEL_FILE)
        self.card.config = dict(self.config)
        atomic_write_json(folder / CARD_FILE, self.card.to_json())
        return folder

    @classmethod
    def load(cls, folder: str | Path, **overrides: Any) -> AnomalyModel:
        import torch

        from core.hashing import file_sha256

        folder = Path(folder)
        card_path, model_path = folder / CARD_FILE, folder / MODEL_FILE
        for p in (card_path, model_path):
            if not p.exists():
                raise ModelFolderError(f"{folder}: model folder is incomplete ({p.name} is missing)")
        try:
            card = ModelCard.from_json(json.loads(card_path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
            raise ModelFolderError(f"{card_path}: model card is damaged ({exc})") from None
        if card.method != cls.name:
            raise ModelFolderError(f"{folder}: holds a '{card.method}' model, not '{cls.name}'")
        if card.state_sha256 and file_sha256(model_path) != card.state_sha256:
            raise ModelFolderError(f"{model_path}: file does not match its model card (modified or truncated)")
        try:
            state = torch.load(model_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
            raise ModelFolderError(f"{model_path}: cannot read the model weights ({exc})") from None
        config = dict(card.config)
        config.update(overrides)
        model = cls(**{k: v for k, v in config.items()})
        model.card = card
        model.card.config = dict(model.config)
        model.calibration = Calibration(**card.calibration) if card.calibration else Calibration()
        try:
            model.load_tensors(state)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise ModelFolderError(f"{model_path}: weights do not fit this model ({exc})") from None
        model.fitted = True
        return model


def _coerce(value: Any, default: Any) -> Any:
    """Config values from the command line arrive as strings; match the default's type."""
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return value
    if isinstance(default, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise InputError(None, f"expected true/false, got '{value}'")
    try:
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            v = float(value)
            if not math.isfinite(v):
                raise ValueError
            return v
        if isinstance(default, (list, tuple)):
            return type(default)(json.loads(value))
    except (ValueError, json.JSONDecodeError):
        raise InputError(None, f"cannot read '{value}' as {type(default).__name__}") from None
    return value
