"""MIAS-SAM's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from core.models.bank_settings import MemoryBankSettings, derive_encoder_size
from core.models.config import setting


@dataclass(frozen=True)
class MiasSamSettings(MemoryBankSettings):
    METHOD: ClassVar[str] = "mias_sam"
    encoder: str = setting(
        "litemedsam",
        "SAM image encoder: litemedsam (offline, 256 px) or sam_vit_b (needs sam_vit_b_01ec64.pth, 1024 px).",
        choices=("litemedsam", "sam_vit_b"),
        paper="sam_vit_b",
    )
    image_size: int = setting(256, "Encoder input side; follows the encoder (256 for LiteMedSAM, 1024 for SAM ViT-B).", paper=1024)
    patch_size: int = setting(5, "Side of the patches cut from the 64 x 64 SAM embedding.", paper=5, minimum=1)
    patch_stride: int = setting(2, "Stride between patches on the embedding grid.", paper=2, minimum=1)
    feature_dim: int = setting(1024, "Channels of a patch feature after adaptive average pooling.", paper=1024, minimum=1)
    coreset_ratio: float = setting(
        1.0, "Share of the patch features kept in the bank (the paper keeps all).", paper=1.0, minimum=1e-4, maximum=1.0
    )
    max_bank_size: int = setting(
        16384, "Upper bound on the bank; a greedy coreset keeps the search fast when it is exceeded (0: no bound).", paper=0, minimum=0
    )
    gamma: float = setting(5.0, "Exponent of the anomaly map in the centre-of-gravity point prompt.", paper=5.0, minimum=0.0)
    mask_index: int = setting(2, "Which of SAM's three multimask outputs becomes the mask (0, 1, 2).", paper=2, minimum=0, maximum=2)
    dense_prompt: bool = setting(True, "Give SAM the anomaly map as a dense (mask) prompt too.", paper=True)
    logit_scale: float = setting(8.0, "Scale of the map in [0, 1] turned into mask-prompt logits.", minimum=0.0)

    @classmethod
    def derive(cls, values: dict[str, Any], given: set[str]) -> dict[str, Any]:
        return derive_encoder_size(values, given, cls.METHOD, ("litemedsam", "sam_vit_b"))
