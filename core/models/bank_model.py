"""Shared machinery of the memory-bank methods (PatchCore, ReSAD, MIAS-SAM): feature caching
during fit, coreset-bounded bank, kNN patch scores, maps back on the image grid."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import numpy as np

from core.domain import LoadedImage
from core.errors import InputError
from core.models.base import AnomalyModel
from core.models.memory_bank import MemoryBank, greedy_coreset
from core.runtime.progress import CancelToken, Progress


class PatchGrid:
    """Patch features of one image and where they lie."""

    def __init__(self, features: np.ndarray, grid: tuple[int, int], frame_hw: tuple[int, int], image_hw: tuple[int, int]):
        self.features = features  # (h * w, D) float32
        self.grid = grid  # (h, w) patch grid
        self.frame_hw = frame_hw  # resized image size the grid covers (model frame, no padding)
        self.image_hw = image_hw  # original image size


def gaussian_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return a
    from scipy import ndimage

    return ndimage.gaussian_filter(a, sigma=sigma, mode="nearest").astype(np.float32)


def scores_to_map(scores: np.ndarray, frame_hw: tuple[int, int], image_hw: tuple[int, int], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Patch scores (h, w) -> (map in the model frame, map on the original image grid)."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(scores, np.float32))[None, None]
    frame = F.interpolate(t, size=frame_hw, mode="bilinear", align_corners=False)[0, 0].numpy()
    frame = gaussian_blur(frame, sigma)
    full = F.interpolate(torch.from_numpy(frame)[None, None], size=image_hw, mode="bilinear", align_corners=False)[0, 0].numpy()
    return frame.astype(np.float32), full.astype(np.float32)


def image_2d(image: LoadedImage) -> np.ndarray:
    """The 2-D pixels a memory-bank method scores (the middle page of a B-scan stack)."""
    a = image.array
    if image.record.is_stack:
        return a[a.shape[0] // 2]
    if a.ndim == 3 and a.shape[-1] != 3:
        raise InputError(None, f"{image.record.id}: expected a 2-D image, got shape {a.shape}")
    return a


class MemoryBankModel(AnomalyModel):
    common_config: ClassVar[dict] = {
        "coreset_ratio": 0.1,  # fraction of patch features kept (greedy k-center)
        "max_bank_size": 0,  # 0 = no cap; else coreset down to at most this many features
        "projection_eps": 0.9,  # sparse random projection for the coreset (JL eps)
        "knn_k": 1,
        "index": "auto",  # exact | hnsw | auto
        "smooth_sigma": 4.0,
    }

    def __init__(self, **config):
        super().__init__(**config)
        self.bank: MemoryBank | None = None
        self._feature_cache: dict[str, PatchGrid] = {}

    # -- subclass hooks -------------------------------------------------------------------------
    @abstractmethod
    def patch_features(self, image: LoadedImage) -> PatchGrid: ...

    def image_score(self, patch_scores: np.ndarray, frame_map: np.ndarray) -> float:
        return float(patch_scores.max())

    # -- fit / predict --------------------------------------------------------------------------
    def _features(self, image: LoadedImage) -> PatchGrid:
        hit = self._feature_cache.get(image.sha256)
        if hit is None:
            hit = self.patch_features(image)
            self._feature_cache[image.sha256] = hit
        return hit

    def _fit(self, images: list[LoadedImage], *, progress: Progress, cancel: CancelToken, final: bool) -> None:
        feats = []
        for i, im in enumerate(images):
            cancel.raise_if_cancelled()
            progress(i, len(images), f"features of normal image {i + 1}/{len(images)}")
            feats.append(self._features(im).features)
        bank = np.concatenate(feats, axis=0)
        n_keep = int(round(len(bank) * float(self.config["coreset_ratio"])))
        if self.config["max_bank_size"]:
            n_keep = min(n_keep, int(self.config["max_bank_size"]))
        n_keep = max(1, min(n_keep, len(bank)))
        if n_keep < len(bank):
            idx = greedy_coreset(
                bank,
                n_keep,
                eps=float(self.config["projection_eps"]),
                seed=int(self.config["seed"]),
                device=self.device,
                progress=progress,
                cancel=cancel,
            )
            bank = bank[np.sort(idx)]
        self.bank = MemoryBank(bank, index=self.config["index"], device=self.device)
        if final:
            self._feature_cache.clear()

    def _predict_raw(self, image: LoadedImage) -> tuple[float, np.ndarray, dict]:
        pg = self._features(image) if image.sha256 in self._feature_cache else self.patch_features(image)
        dist, _ = self.bank.search(pg.features, k=int(self.config["knn_k"]))
        patch = dist.max(axis=1).reshape(pg.grid)  # the k-th neighbour distance (k=1: nearest)
        frame_map, full_map = scores_to_map(patch, pg.frame_hw, pg.image_hw, float(self.config["smooth_sigma"]))
        extras = {"bank_size": len(self.bank), "patch_grid": list(pg.grid)}
        return self.image_score(patch, frame_map), full_map, extras

    def state_tensors(self) -> dict:
        import torch

        return {"bank": torch.from_numpy(self.bank.features), "index_bytes": torch.from_numpy(np.asarray(self.bank.index_bytes()))}

    def load_tensors(self, state: dict) -> None:
        index_bytes = state["index_bytes"].numpy() if "index_bytes" in state else None
        self.bank = MemoryBank(state["bank"].numpy(), index=self.config["index"], device=self.device, index_bytes=index_bytes)

    def _update_card(self) -> None:
        self.card.metrics["bank_size"] = len(self.bank) if self.bank is not None else 0


class CnnFeatureBankModel(MemoryBankModel):
    """A memory-bank method over stage features of a CNN-like backbone (``backbone`` config:
    LiteMedSAM TinyViT at 256 px offline, WideResNet-50 with its weights file), loaded on first use."""

    backbone_hint = ""  # appended to the image-size error, e.g. the paper's input size

    def __init__(self, **config):
        super().__init__(**config)
        if self.config["backbone"] == "tinyvit" and int(self.config["image_size"]) != 256:
            raise InputError(
                None,
                "the LiteMedSAM TinyViT backbone takes 256 px input: use image_size=256 "
                "or backbone=wide_resnet50 with its weights file" + self.backbone_hint,
            )
        self._backbone = None

    @property
    def backbone(self):
        if self._backbone is None:
            from core.models.backbones import make_backbone

            self._backbone = make_backbone(self.config["backbone"], self.device, self.config["backbone_weights"])
        return self._backbone
