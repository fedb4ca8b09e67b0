"""One training loop for every trained method: progress events, cancel, per-epoch checkpoints and
resume, AMP and cudnn.benchmark on CUDA, seeds, JSON-lines progress for ``anomaly-studio train``."""

from core.training.context import TrainingContext
from core.training.loop import Trainer, TrainState, seed_everything

__all__ = ["TrainingContext", "Trainer", "TrainState", "seed_everything"]
