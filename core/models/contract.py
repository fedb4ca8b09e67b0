"""What a method declares about itself, and what the caller lends it for one fit or one prediction.

* :class:`Capabilities` (a class attribute of every method): supervision, training data it uses,
  whether it trains by gradient descent, segments, scores pairs or volumes, and its CPU rate for
  time estimates. The store, the Retrain dialog and ``models --json`` read these instead of
  guessing from names or config keys.
* :class:`FitContext` / :class:`PredictContext`: progress, cancel and the data a caller gathered
  (reviewer-labelled lesions, slice-labelled volumes), passed as an argument; nobody injects
  attributes into a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from core.runtime.progress import CancelToken, Progress, no_progress

if TYPE_CHECKING:
    from core.training.context import TrainingContext


class Supervision(str, Enum):
    UNSUPERVISED = "unsupervised"  # normal images only (memory banks)
    SELF_SUPERVISED = "self-supervised"  # normal images + synthetic anomalies
    WEAKLY_SUPERVISED = "weakly supervised"  # slice-level labels


@dataclass(frozen=True)
class Capabilities:
    supervision: Supervision
    modalities: tuple[str, ...]  # image modalities the method scores
    trained: bool = False  # gradient training (train command, epochs, checkpoints)
    segments: bool = False  # gives a mask besides the heatmap
    pairs: bool = False  # scores a fundus + OCT pair as one case (a fused case score)
    volumes: bool = False  # scores 3-D volumes
    uses_labelled_anomalies: bool = False  # can mix reviewer pixel labels into training
    uses_slice_labels: bool = False  # learns from slice-labelled volumes (and needs them)
    seconds_per_sample: float = 2.0  # CPU seconds per training sample (memory banks: per image), estimates
    samples_per_case: int = 1  # training samples one case gives per epoch (RASALoRE: slices of a volume)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["supervision"] = self.supervision.value
        d["modalities"] = list(self.modalities)
        return d


@dataclass
class FitContext:
    """Everything a fit gets from its caller besides the normal cases."""

    progress: Progress = no_progress
    cancel: CancelToken = field(default_factory=CancelToken)
    training: TrainingContext | None = None  # run folder, resume, progress events (trained methods)
    labelled_anomalies: list = field(default_factory=list)  # core.data.anomaly_synthesis.real.LabelledCase
    labelled_cases: list | None = None  # slice-labelled volumes (weak supervision), None: not gathered
    labelled_skipped: list[dict] = field(default_factory=list)  # slice-labelled cases left out, with why

    def training_hashes(self) -> list[str]:
        """Content hashes of the labelled images this fit learns from besides the normals (the card
        records them, so comparisons and evaluation never count an image a model trained on)."""
        out = [im.sha256 for lc in self.labelled_anomalies for im in lc.images.values() if getattr(im, "sha256", "")]
        for lc in self.labelled_cases or []:
            out += [im.sha256 for im in lc.images()]
        return out

    @classmethod
    def make(cls, ctx: FitContext | None, progress: Progress | None = None, cancel: CancelToken | None = None) -> FitContext:
        """``ctx`` (or a new context) with ``progress`` / ``cancel`` replaced where given (a copy:
        the caller's context is never changed)."""
        base = ctx or cls()
        return replace(base, progress=base.progress if progress is None else progress, cancel=base.cancel if cancel is None else cancel)


@dataclass
class PredictContext:
    """Progress and cancel of one prediction (a volume reports its slices and stops mid-volume)."""

    progress: Progress = no_progress
    cancel: CancelToken = field(default_factory=CancelToken)

    @classmethod
    def make(cls, ctx: PredictContext | None, progress: Progress | None = None, cancel: CancelToken | None = None) -> PredictContext:
        base = ctx or cls()
        return replace(base, progress=base.progress if progress is None else progress, cancel=base.cancel if cancel is None else cancel)
