"""Real anomalies with reviewer pixel labels, mixed into the training of the synthetic-anomaly
methods (retraining from corrected labels)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LabelledImage:
    name: str  # image name inside its case (fundus, oct, ...)
    modality: str
    pixels: np.ndarray  # the 2-D image the mask belongs to (a B-scan page for stacks)
    mask: np.ndarray  # bool (H, W), True = anomalous
    sha256: str = ""  # content hash of the image (the model card records what a model trained on)


@dataclass
class LabelledCase:
    case_id: str
    images: dict[str, LabelledImage] = field(default_factory=dict)  # by image name

    def of(self, modality: str) -> LabelledImage | None:
        return next((im for im in self.images.values() if im.modality == modality), None)
