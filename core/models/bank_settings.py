"""Settings shared by the memory-bank methods (PatchCore, ReSAD, MIAS-SAM) and by the methods
that use a SAM-family image encoder (MIAS-SAM, MMRAD)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.models.config import BaseSettings, setting, tile_overlap_setting, tiles_setting

# input side of each SAM-family image encoder (vit_tiny_random: a small random ViT for tests)
ENCODER_INPUT = {"litemedsam": 256, "sam_vit_b": 1024, "vit_tiny_random": 64}


@dataclass(frozen=True)
class MemoryBankSettings(BaseSettings):
    coreset_ratio: float = setting(
        0.1, "Share of the normal patch features kept in the memory bank (greedy k-center coreset).", paper=0.1, minimum=0.0001, maximum=1.0
    )
    max_bank_size: int = setting(0, "Upper bound on the bank's size after the coreset (0: no bound).", minimum=0)
    projection_eps: float = setting(
        0.9, "Johnson-Lindenstrauss epsilon of the sparse random projection used while sampling the coreset.", paper=0.9, minimum=0.01
    )
    knn_k: int = setting(1, "Neighbours searched per patch; the patch score is the distance to the k-th (1: nearest).", paper=1, minimum=1)
    index: str = setting(
        "auto",
        "Nearest-neighbour search: exact (faiss flat), hnsw (approximate graph) or auto (exact unless the bank is large).",
        choices=("auto", "exact", "hnsw"),
        paper="exact",
    )
    smooth_sigma: float = setting(4.0, "Gaussian smoothing of the anomaly map, in pixels of the model frame.", paper=4.0, minimum=0.0)
    tiles: int = tiles_setting(
        "Fit uses the same tiling, so the bank holds tile features and calibration belongs to this setting; the coreset keeps "
        "the untiled bank's size (coreset_ratio / tiles^2 of the tile features), so search grows with tiles, not tiles^2."
    )
    tile_overlap: float = tile_overlap_setting()


@dataclass(frozen=True)
class CnnBankSettings(MemoryBankSettings):
    backbone: str = setting(
        "tinyvit",
        "Feature backbone: tinyvit (LiteMedSAM's TinyViT encoder, offline) or wide_resnet50 (ImageNet WideResNet-50-2; "
        "needs wide_resnet50_2-95faca4d.pth in the weights folder).",
        choices=("tinyvit", "wide_resnet50"),
        paper="wide_resnet50",
    )
    backbone_weights: str = setting(
        "official", "Backbone weights: official (the verified file) or random (tests only).", choices=("official", "random"), advanced=True
    )
    stages: tuple[int, ...] = setting((1, 3), "TinyViT stages whose outputs are the patch features (0-3).", advanced=True)
    feature_dim: int = setting(1024, "Channels of a patch feature after adaptive average pooling.", paper=1024, minimum=1)

    def validate(self) -> None:
        super().validate()
        if self.backbone == "tinyvit" and self.image_size != 256:
            raise ConfigError(
                f"{self.METHOD}: the LiteMedSAM TinyViT backbone takes 256 px input: use image_size=256 "
                "or backbone=wide_resnet50 with its weights file"
            )
        if not self.stages or any(s not in (0, 1, 2, 3) for s in self.stages):
            raise ConfigError(f"{self.METHOD}: setting 'stages' must list TinyViT stages 0-3, got {list(self.stages)}")


def derive_encoder_size(values: dict[str, Any], given: set[str], method: str, encoders: tuple[str, ...]) -> dict[str, Any]:
    """``image_size`` follows the chosen SAM-family ``encoder``; given explicitly, it must match."""
    enc = values["encoder"]
    if enc not in encoders:
        raise ConfigError(f"{method}: unknown encoder '{enc}': use {' or '.join(encoders)}")
    size = ENCODER_INPUT[enc]
    if "image_size" in given and int(values["image_size"]) != size:
        raise ConfigError(f"{method}: the {enc} encoder takes {size} px input: use image_size={size}")
    return {**values, "image_size": size}
