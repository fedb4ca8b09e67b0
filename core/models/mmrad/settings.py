"""MMRAD's settings (paper values from Li et al.)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from core.errors import ConfigError
from core.models.bank_settings import derive_encoder_size
from core.models.config import BaseSettings, setting

ENCODERS = ("litemedsam", "sam_vit_b", "vit_tiny_random")


@dataclass(frozen=True)
class MMRADSettings(BaseSettings):
    METHOD: ClassVar[str] = "mmrad"
    encoder: str = setting(
        "litemedsam",
        "Frozen SAM image encoder: litemedsam (offline, 256 px), sam_vit_b (needs sam_vit_b_01ec64.pth, 1024 px), "
        "vit_tiny_random (tests only).",
        choices=ENCODERS,
        paper="sam_vit_b",
    )
    image_size: int = setting(256, "Encoder input side; follows the encoder.", paper=1024)
    low_level_cnn: str = setting(
        "auto",
        "Low-level prompt CNN: auto (stem: TinyViT's pretrained convolutional stage with LiteMedSAM), resnet50x2 (two ImageNet "
        "ResNet-50s; needs resnet50-0676ba61.pth and resnet50-11ad3fa6.pth) or random.",
        choices=("auto", "stem", "resnet50", "resnet50x2", "random"),
        paper="resnet50x2",
    )
    prompt_dim: int = setting(32, "Width of the low-level prompt features before the per-block up-projection.", minimum=1)
    epochs: int = setting(1, "Training epochs.", paper=1, minimum=1)
    batch_size: int = setting(2, "Cases per optimiser step.", minimum=1)
    samples_per_epoch: int = setting(0, "Simulated cases per epoch (0: one pass, at least min_samples_per_epoch).", minimum=0)
    min_samples_per_epoch: int = setting(200, "Smallest epoch, in simulated cases (the paper's 199 training pairs).", paper=199, minimum=0)
    lr: float = setting(2e-4, "AdamW learning rate.", paper=2e-4, minimum=0.0)
    beta1: float = setting(0.9, "AdamW beta 1.", paper=0.9, minimum=0.0, maximum=1.0)
    beta2: float = setting(0.999, "AdamW beta 2.", paper=0.999, minimum=0.0, maximum=1.0)
    weight_decay: float = setting(0.01, "AdamW weight decay.", note="the paper does not state it; PyTorch's AdamW default", minimum=0.0)
    grad_clip: float = setting(1.0, "Gradient norm clip (0: off).", note="not in the paper: stabilises short CPU runs", minimum=0.0)
    loss: str = setting("ce", "Loss on the maps and the case score: ce (cross-entropy) or focal.", choices=("ce", "focal"), paper="ce")
    focal_gamma: float = setting(2.0, "Focusing parameter when loss=focal.", minimum=0.0)
    p_anomaly: float = setting(0.7, "Probability that a simulated training case carries an anomaly.", paper=0.7, minimum=0.0, maximum=1.0)
    sim_size_min: float = setting(0.08, "Smallest simulated anomaly, as a fraction of the image side.", minimum=0.01, maximum=1.0)
    sim_size_max: float = setting(0.35, "Largest simulated anomaly, as a fraction of the image side.", minimum=0.01, maximum=1.0)
    fusion_order: str = setting("fundus,oct", "Order of the modalities' tokens before the fusion token.", paper="fundus,oct")
    paired: bool = setting(True, "Train and score fundus + OCT pairs as one case with the fusion token.", paper=True)
    image_score: str = setting("max", "A single image's score: max or mean of its map.", choices=("max", "mean"))
    use_labelled_anomalies: bool = setting(
        False, "Mix reviewer-labelled lesions of this workspace into training.", note="the product's retraining, not part of the paper"
    )
    labelled_fraction: float = setting(0.3, "Share of samples drawn from labelled lesions when they are used.", minimum=0.0, maximum=1.0)
    pair_anomaly: str = setting(
        "per_case",
        "How a pair's simulated anomaly is drawn: per_case (fundus, OCT or both, once per pair) or per_image.",
        choices=("per_case", "per_image"),
    )
    balance_score: bool = setting(True, "Weight the case-score loss so normal and anomalous pairs count equally.")
    case_score: str = setting(
        "auto",
        "A pair's case score: fusion (the token), max (the higher calibrated image score) or auto (the better of the two on "
        "simulated validation pairs).",
        choices=("auto", "fusion", "max"),
        paper="fusion",
    )
    validation_pairs: int = setting(16, "Simulated validation pairs that decide case_score=auto.", minimum=0)

    @classmethod
    def derive(cls, values: dict[str, Any], given: set[str]) -> dict[str, Any]:
        return derive_encoder_size(values, given, cls.METHOD, ENCODERS)

    def validate(self) -> None:
        if sorted(self.fusion_order_list) != ["fundus", "oct"]:
            raise ConfigError(f"mmrad: fusion_order must name fundus and oct once each, e.g. 'fundus,oct' (got '{self.fusion_order}')")
        if self.sim_size_min > self.sim_size_max:
            raise ConfigError("mmrad: sim_size_min must not exceed sim_size_max")
        if self.low_level_cnn == "stem" and self.encoder != "litemedsam":
            raise ConfigError("mmrad: low_level_cnn=stem uses TinyViT's convolutional stage: only with encoder=litemedsam")

    @property
    def fusion_order_list(self) -> list[str]:
        return [m.strip() for m in self.fusion_order.split(",") if m.strip()]
