"""The contract every anomaly method implements, and its persistence.

* A method declares ``Settings`` (a frozen dataclass, core.models.config) and ``capabilities``
  (core.models.contract.Capabilities) on its class.
* ``fit(normals, ctx)`` learns from normal cases and calibrates scores on normals the deployed model
  has not seen; ``predict(case, ctx)`` returns an :class:`AnomalyResult` whose ``score`` and
  ``heatmap`` are calibrated (z-scores against those normals) and therefore comparable across
  cases: a case scored alone gets exactly the score it gets in a batch.
* ``fit`` is a fixed sequence of hooks a method overrides only where it differs:
  ``training_units`` -> ``check_training_data`` -> ``calibration_split`` -> ``_fit`` -> ``calibrate``.
* ``save(folder)`` writes ``model.pt`` (tensors only, loaded with ``weights_only=True``) and
  ``card.json``; ``load(folder)`` checks both and says clearly what is wrong with a damaged folder.
"""

from __future__ import annotations

import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from core.domain import LoadedCase, LoadedImage
from core.errors import ConfigError, InputError, StudioError
from core.models.config import BaseSettings
from core.models.contract import Capabilities, FitContext, PredictContext
from core.models.volume_scores import PAGE_RAW_SCORES, CalibrationSamples, bscan_scores, note_contour, with_enface
from core.runtime.progress import Progress, part_progress
from core.workspace.cards import Calibration, CardError, ModelCard
from core.workspace.results import SliceScores

MODEL_FILE = "model.pt"
CARD_FILE = "card.json"
Unit = Any  # what a method fits and calibrates on: a LoadedImage (most), a {modality: image} case (MMRAD)


class ModelFolderError(StudioError):
    """A saved model folder is missing, truncated or was modified."""


@dataclass(frozen=True)
class ImageMap:
    """The outputs of one image of a case."""

    heatmap: np.ndarray  # float32 calibrated anomaly map on the image grid ((H, W) or (D, H, W))
    mask: np.ndarray | None = None  # bool, same grid
    score: float | None = None  # calibrated image score where the method gives one per image
    raw_score: float | None = None
    page: int | None = None  # a 2-D map of a B-scan stack lies on this page (results from before per-B-scan maps)
    enface: np.ndarray | None = None  # en-face map of an OCT volume (core.models.enface), on the image ``enface_on``
    enface_on: str | None = None


@dataclass(frozen=True)
class AnomalyResult:
    score: float  # calibrated case score (z against held-out normals), higher = more anomalous
    heatmap: np.ndarray  # calibrated map of the primary image (``image``)
    mask: np.ndarray | None = None
    extras: dict = field(default_factory=dict)  # the method's own diagnostics (display only)
    image: str = ""  # the image that decided the case score; its map is ``heatmap``
    raw_score: float = float("nan")
    maps: dict[str, ImageMap] = field(default_factory=dict)  # every image the model scored, by name
    slices: SliceScores | None = None  # per-slice / per-B-scan scores of a volume
    score_source: str = ""  # how the case score was formed, in words

    def is_abnormal(self, threshold: float) -> bool:
        return self.score >= threshold


def new_version_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


ONNX_DEVIATION = (
    "The frozen encoder runs on ONNX Runtime (CPU execution provider) from an ONNX export of the same weights instead of "
    "torch eager (inference_backend=onnx; the export agrees with torch to within 1e-4, measured 3e-6 on fundus, OCT and MRI "
    "images); fit, calibration and prediction all use it. Fitting with the backend setting (or ANOMALY_STUDIO_BACKEND) "
    "at torch restores torch eager."
)


VIEW_NOTE = (
    "Fundus maps are floored outside the camera's field of view (the product's, not the paper's): pixels outside the "
    "photo's circle get the lowest value inside it before calibration and before display, so the pixel threshold and "
    "the contour come from the field of view; the image score is unchanged."
)


class AnomalyModel(ABC):
    """Base class of every method. Subclasses set ``name``, ``title``, ``paper``, ``Settings``,
    ``capabilities``, ``deviations``, ``faithful_config`` and implement ``_fit``, ``_predict_raw``,
    ``state_tensors`` and ``load_tensors``."""

    name: ClassVar[str]
    title: ClassVar[str]
    paper: ClassVar[str]
    Settings: ClassVar[type[BaseSettings]]
    capabilities: ClassVar[Capabilities]
    modalities: ClassVar[tuple[str, ...]]  # = capabilities.modalities
    trained: ClassVar[bool]  # = capabilities.trained
    deviations: ClassVar[tuple[str, ...]] = ()
    floors_outside_view: ClassVar[bool] = False  # see in_view
    faithful_config: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        caps = cls.__dict__.get("capabilities")
        if caps is not None:
            cls.modalities = caps.modalities
            cls.trained = caps.trained

    @classmethod
    def parse_settings(cls, values: dict[str, Any] | None = None, *, strict: bool = True) -> BaseSettings:
        return cls.Settings.parse(values, modalities=cls.modalities, strict=strict)

    def __init__(self, settings: BaseSettings | None = None, **config: Any):
        if settings is not None and config:
            raise ConfigError(f"{self.name}: give typed settings or key=value settings, not both")
        self.config = settings if settings is not None else self.parse_settings(config)
        if not isinstance(self.config, self.Settings):
            raise ConfigError(f"{self.name}: settings of type {type(self.config).__name__}, expected {self.Settings.__name__}")
        self.calibration = Calibration()
        self.card = ModelCard(
            method=self.name,
            paper=self.paper,
            config=self.config.to_json(),
            deviations=list(self.deviations),
            faithful_config=dict(self.faithful_config),
            threshold=float(self.config.threshold),
        )
        self.fitted = False
        self.array_store = None

    def attach_store(self, store) -> None:
        """Give the model the workspace's array store (content-hash cache for embeddings)."""
        self.array_store = store

    @property
    def device(self):
        from core.runtime.device import resolve_device

        return resolve_device(self.config.device)

    @property
    def backend(self) -> str:
        """Inference backend of the frozen encoders (core.runtime.inference.model_backend): a fitted
        model predicts with the one it was calibrated with (``inference_backend`` in its card)."""
        from core.runtime.inference import model_backend

        recorded = self.card.metrics.get("inference_backend") or ("torch" if self.fitted else None)
        return model_backend(recorded, self.device)

    def record_inference_backend(self) -> str:
        """At fit time: the card records the backend that fitting, calibration and prediction use,
        and, for ONNX Runtime, says so beside the method's deviations (same weights, other runtime)."""
        used = self.backend
        self.card.metrics["inference_backend"] = used
        self.card.deviations = [d for d in self.card.deviations if d != ONNX_DEVIATION]
        if used == "onnx":
            self.card.deviations.append(ONNX_DEVIATION)
        return used

    @property
    def modality(self) -> str:
        return self.config.modality

    # -- fit: a fixed sequence of hooks -----------------------------------------------------------
    def fit(self, normals: Sequence[LoadedCase], ctx: FitContext | None = None, *, progress: Progress | None = None, cancel=None) -> None:
        ctx = FitContext.make(ctx, progress, cancel)
        units = self.training_units(normals)
        self.check_training_data(units, normals, ctx)
        t0 = time.monotonic()
        train, calib, source = self.calibration_split(units)
        self._fit(train, ctx)
        self.calibration = self.calibrate(calib, source, ctx, trained_on=train)
        self._finish_card(t0, self.unit_images(units), also_trained_on=ctx.training_hashes())
        ctx.progress(1, 1, "done")

    def training_units(self, normals: Sequence[LoadedCase]) -> list[Unit]:
        """What the method learns from: the images of its modality (MMRAD: whole cases)."""
        return self.select_images(normals)

    def unit_images(self, units: Sequence[Unit]) -> list[LoadedImage]:
        return list(units)

    def check_training_data(self, units: Sequence[Unit], normals: Sequence[LoadedCase], ctx: FitContext) -> None:
        if not units:
            raise InputError(None, f"{self.name}: no {self.modality} images among the {len(normals)} normal case(s)")

    def calibration_split(self, units: Sequence[Unit]) -> tuple[list[Unit], list[Unit], str]:
        """(train, calibrate, source): a random ``calibration_holdout`` share of the normals is held
        out of training and calibrates the model that is deployed (trained on the rest)."""
        units = list(units)
        rng = np.random.default_rng(self.config.seed)
        order = rng.permutation(len(units))
        n_hold = int(round(len(units) * float(self.config.calibration_holdout)))
        n_hold = min(n_hold, len(units) - 1) if len(units) >= 3 else 0
        hold = [units[i] for i in order[:n_hold]]
        train = [units[i] for i in order[n_hold:]]
        if not hold:
            return train, train, "training normals (too few normals to hold any out)"
        return train, hold, "held-out normals"

    def calibrate(self, units: Sequence[Unit], source: str, ctx: FitContext, *, trained_on: Sequence[Unit] = ()) -> Calibration:
        samples = CalibrationSamples()
        for i, im in enumerate(units):
            ctx.cancel.raise_if_cancelled()
            what = f"calibrating on normal {i + 1}/{len(units)}"
            ctx.progress(i, len(units), what)
            sub = part_progress(ctx.progress, i, len(units), what + ": ")
            raw, raw_map, extras = self._predict_raw(im, PredictContext(progress=sub, cancel=ctx.cancel))
            samples.add(raw, self.in_view(im, raw_map), extras)
        return samples.calibration(source, self.card)

    def _finish_card(self, t0: float, images: list[LoadedImage], also_trained_on: Sequence[str] = ()) -> None:
        """Mark the model fitted and record calibration, training data (every image hash it learned
        from: normals and labelled images), time and version in the card."""
        self.fitted = True
        self.card.calibration = asdict(self.calibration)
        self.card.pixel_threshold = note_contour(self.card, [self.calibration], self.config.resolved_contour_rule())
        self.card.training_data = list(dict.fromkeys([im.sha256 for im in images] + list(also_trained_on)))
        self.card.created = datetime.now(UTC).isoformat(timespec="seconds")
        self.card.fit_seconds = round(time.monotonic() - t0, 2)
        self.card.version = self.card.version or new_version_id()
        self.card.config = self.config.to_json()
        if self.floors_outside_view and self.modality == "fundus" and VIEW_NOTE not in self.card.deviations:
            self.card.deviations.append(VIEW_NOTE)
        self._update_card()

    def in_view(self, image: LoadedImage, raw_map: np.ndarray) -> np.ndarray:
        """``raw_map`` of a fundus photo with the pixels outside the camera's field of view set to the
        lowest value inside it (models with ``floors_outside_view``): nothing outside the photo's
        circle is a finding, so the pixel calibration, the threshold and the contour come from the
        field of view only (border patches in the black surround set the threshold otherwise).
        Other images, and models without the flag, are returned unchanged."""
        if not self.floors_outside_view or image.modality.value != "fundus" or image.record.is_stack or raw_map.ndim != 2:
            return raw_map
        from core.models.tiling import field_of_view

        fov = field_of_view(image.array)
        if fov.shape != raw_map.shape or fov.all():
            return raw_map
        out = np.array(raw_map, np.float32, copy=True)
        out[~fov] = float(raw_map[fov].min())
        return out

    # -- predict ----------------------------------------------------------------------------------
    def predict(
        self, case: LoadedCase, ctx: PredictContext | None = None, *, progress: Progress | None = None, cancel=None
    ) -> AnomalyResult:
        if not self.fitted:
            raise StudioError(f"{self.name}: model is not fitted")
        ctx = PredictContext.make(ctx, progress, cancel)
        images = self.select_images([case])
        if not images:
            raise InputError(None, f"case {case.id} has no {self.modality} image for {self.name}")
        maps: dict[str, ImageMap] = {}
        extras_all: dict[str, dict] = {}
        slices: dict[str, SliceScores | None] = {}
        scores: dict[str, tuple[float, float]] = {}  # image -> (calibrated, raw) score
        for k, im in enumerate(images):
            ctx.cancel.raise_if_cancelled()
            what = f"{im.record.name} ({k + 1}/{len(images)})" if len(images) > 1 else im.record.name
            ctx.progress(k, len(images), what)
            sub = part_progress(ctx.progress, k, len(images), what + ": " if len(images) > 1 else "")
            raw, raw_map, extras = self._predict_raw(im, replace(ctx, progress=sub))
            mask = extras.pop("mask", None)
            page_raws = extras.pop(PAGE_RAW_SCORES, None)
            slices[im.record.name] = bscan_scores(self.calibration, page_raws) if page_raws is not None else extras.pop("slices", None)
            scores[im.record.name] = (self.calibration.image_z(raw), float(raw))
            maps[im.record.name] = ImageMap(
                heatmap=self.calibration.pixel_z(self.in_view(im, raw_map)),
                mask=mask,
                score=scores[im.record.name][0],
                raw_score=float(raw),
                page=extras.pop("page", None),
            )
            extras_all[im.record.name] = extras
        maps = with_enface(case, maps)
        best = max(scores, key=lambda n: scores[n][0])
        primary = maps[best]
        others = {k: v for k, v in extras_all.items() if k != best}
        source = f"the higher of {len(maps)} images' calibrated scores ({best})" if len(maps) > 1 else ""
        volume = slices[best]
        if volume is not None and volume.plane == "bscan" and volume.top is not None:
            how = f"{best}: its highest calibrated B-scan score (B-scan {volume.top + 1} of {len(volume.scores)})"
            source = f"{source}; {how}" if source else how
        return AnomalyResult(
            score=float(scores[best][0]),
            heatmap=primary.heatmap,
            mask=primary.mask,
            extras=extras_all[best] | ({"per_image": others} if others else {}),
            image=best,
            raw_score=scores[best][1],
            maps=maps,
            slices=slices[best] or next((s for s in slices.values() if s is not None), None),
            score_source=source,
        )

    def predict_array(self, array: np.ndarray, name: str | None = None) -> AnomalyResult:
        """Score one bare image array (benchmarks, tests)."""
        return self.predict(LoadedCase.from_arrays("case", **{name or self.modality: array}))

    def select_images(self, cases: Sequence[LoadedCase]) -> list[LoadedImage]:
        return [im for c in cases for im in c.scored(self.modality)]

    # -- what methods implement -------------------------------------------------------------------
    @abstractmethod
    def _fit(self, units: list[Unit], ctx: FitContext) -> None: ...

    @abstractmethod
    def _predict_raw(self, image: LoadedImage, ctx: PredictContext) -> tuple[float, np.ndarray, dict]:
        """(raw image score, raw float32 map on the image grid, extras). Extras may carry 'mask'
        (bool map), 'slices' (SliceScores) and 'page' (the B-scan a 2-D map lies on)."""

    @abstractmethod
    def state_tensors(self) -> dict:
        """Everything learned, as a flat dict of tensors (saved with torch.save)."""

    @abstractmethod
    def load_tensors(self, state: dict) -> None: ...

    def _update_card(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Hook: methods add backbone and weights information to ``self.card``."""

    # -- persistence ------------------------------------------------------------------------------
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
        self.card.config = self.config.to_json()
        atomic_write_json(folder / CARD_FILE, self.card.to_json())
        return folder

    @classmethod
    def read_card(cls, folder: str | Path) -> ModelCard:
        card_path = Path(folder) / CARD_FILE
        if not card_path.is_file():
            raise ModelFolderError(f"{folder}: model folder is incomplete ({CARD_FILE} is missing)")
        try:
            return ModelCard.from_json(json.loads(card_path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError, CardError) as exc:
            raise ModelFolderError(f"{card_path}: model card is damaged ({exc})") from None

    @classmethod
    def load(cls, folder: str | Path, **overrides: Any) -> AnomalyModel:
        import torch

        from core.hashing import file_sha256

        folder = Path(folder)
        model_path = folder / MODEL_FILE
        card = cls.read_card(folder)
        if not model_path.is_file():
            raise ModelFolderError(f"{folder}: model folder is incomplete ({MODEL_FILE} is missing)")
        if card.method != cls.name:
            raise ModelFolderError(f"{folder}: holds a '{card.method}' model, not '{cls.name}'")
        if card.state_sha256 and file_sha256(model_path) != card.state_sha256:
            raise ModelFolderError(f"{model_path}: file does not match its model card (modified or truncated)")
        try:
            state = torch.load(model_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
            raise ModelFolderError(f"{model_path}: cannot read the model weights ({exc})") from None
        if not isinstance(state, dict):
            raise ModelFolderError(f"{model_path}: holds a {type(state).__name__}, not a dict of tensors")
        try:
            saved = cls.parse_settings(card.config, strict=False)
        except ConfigError as exc:
            raise ModelFolderError(f"{folder / CARD_FILE}: model card settings are invalid ({exc})") from None
        settings = cls.Settings.parse({**saved.to_json(), **overrides}, modalities=cls.modalities) if overrides else saved
        model = cls(settings)
        model.card = card
        model.card.config = model.config.to_json()
        model.calibration = Calibration.from_json(card.calibration)
        try:
            model.load_tensors(state)
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise ModelFolderError(f"{model_path}: weights do not fit this model ({exc})") from None
        model.fitted = True
        return model
