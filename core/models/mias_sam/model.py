"""MIAS-SAM: Medical Image Anomaly Segmentation without thresholding (Colussi et al.).

SAM encoder embedding (256 x 64 x 64) -> 5 x 5 patches with stride 2 (PatchCore patch maker,
channel-pooled to 1024) -> memory bank of normal patches (faiss) -> kNN patch distances ->
anomaly map (bilinear + Gaussian sigma 4) -> centre of gravity of map^gamma (gamma = 5) as a
positive point prompt, the map as a dense (mask) prompt -> SAM decoder -> the third of the
three multimask outputs by default (all three kept in extras). No threshold is needed for the
mask; the calibrated heatmap and score come with it.

Better than the official code: scores are calibrated per image (never min-max over a test set),
k is configurable, a flat map (nothing anomalous) gives an empty mask instead of a crash, and the
bank is bounded by a coreset when it grows past ``max_bank_size``.
"""

from __future__ import annotations

import numpy as np

from core.domain import LoadedImage
from core.hashing import array_sha256
from core.models.bank_model import MemoryBankModel, PatchGrid, TiledGrid, gaussian_blur, tiling_extras, upsample_map
from core.models.contract import Capabilities, PredictContext, Supervision
from core.models.memory_bank import MemoryBank
from core.models.mias_sam.settings import MiasSamSettings
from core.models.pages import VOLUME_NOTE, PageOutput, combine_pages, image_pages
from core.models.tiling import resize_map


def patchify_embedding(emb, patch_size: int = 5, stride: int = 2, feature_dim: int = 1024):
    """(C, 64, 64) embedding -> ((n_h * n_w), feature_dim) patch features and the patch grid."""
    import torch
    import torch.nn.functional as F

    t = torch.as_tensor(emb)[None]
    pad = (patch_size - 1) // 2
    unfolded = F.unfold(t, kernel_size=patch_size, stride=stride, padding=pad)  # (1, C*k*k, L)
    side_h = (t.shape[-2] + 2 * pad - patch_size) // stride + 1
    side_w = (t.shape[-1] + 2 * pad - patch_size) // stride + 1
    patches = unfolded[0].T.contiguous()  # (L, C*k*k)
    if patches.shape[1] != feature_dim:
        patches = F.adaptive_avg_pool1d(patches[:, None, :], feature_dim)[:, 0]
    return patches, (side_h, side_w)


def centre_of_gravity(amap: np.ndarray, gamma: float = 5.0) -> tuple[float, float] | None:
    """(x, y) of sum(I^gamma * pos) / sum(I^gamma) with I the map scaled to [0, 1]; None when flat."""
    lo, hi = float(np.min(amap)), float(np.max(amap))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return None
    i = ((amap - lo) / (hi - lo)).astype(np.float64) ** gamma
    total = i.sum()
    if total <= 0:
        return None
    ys, xs = np.indices(amap.shape)
    return float((xs * i).sum() / total), float((ys * i).sum() / total)


class MiasSam(MemoryBankModel):
    name = "mias_sam"
    title = "MIAS-SAM (SAM memory bank + centre-of-gravity prompt)"
    paper = "Colussi et al., MIAS-SAM: Medical Image Anomaly Segmentation without Thresholding"
    Settings = MiasSamSettings
    config: MiasSamSettings
    capabilities = Capabilities(Supervision.UNSUPERVISED, ("fundus", "oct", "slice"), segments=True, seconds_per_sample=2.0)
    deviations = (
        "Offline default encoder is LiteMedSAM (TinyViT distilled from MedSAM, 256 px) instead of SAM ViT-B at 1024 px; "
        "both give a 256 x 64 x 64 embedding.",
        "The bank keeps every patch as in the paper until it exceeds max_bank_size (16384), then a greedy coreset bounds "
        "it so search stays a small part of prediction time.",
        "Calibration (the product's, not the paper's) scores every normal image with the deployed bank minus the patches that "
        "image contributed (leave-one-image-out, exact search), so the calibrated model is the deployed one.",
        "The patch score is the distance to the nearest normal patch (knn_k=1): the paper says 'the maximum distance of p from "
        "its nearest neighbor patches' without giving k; the official code uses k=1.",
        "Search is exact (faiss flat L2) for the default bank; index=auto switches to an approximate HNSW graph only above "
        "32 M bank entries x dimensions (e.g. max_bank_size=0 with many normals), where exact search becomes slow.",
        "The anomaly map is scaled to [0, 1] per image before the centre of gravity and the dense prompt (the paper does not say "
        "how I(i, j) is scaled; the official code min-max normalises over the whole test set, which would make a case's prompt "
        "depend on the other cases).",
        VOLUME_NOTE + " Each B-scan gets its own centre-of-gravity prompt and SAM mask (an (N, H, W) mask stack).",
    )
    faithful_config = {"encoder": "sam_vit_b", "image_size": 1024, "coreset_ratio": 1.0, "max_bank_size": 0}

    def __init__(self, settings: MiasSamSettings | None = None, **config):
        super().__init__(settings, **config)
        self._sam = None

    @property
    def sam(self):
        if self._sam is None:
            from core.sam import get_sam_service

            self._sam = get_sam_service(self.config.encoder, self.config.device, self.array_store, backend=self.backend)
        return self._sam

    def attach_store(self, store) -> None:
        super().attach_store(store)
        self._sam = None

    def patch_features(self, pixels: np.ndarray, sha: str | None = None) -> PatchGrid:
        emb = self.sam.embedding(pixels, sha)
        c = self.config
        feats, grid = patchify_embedding(emb, c.patch_size, c.patch_stride, c.feature_dim)
        size = self.sam.net.img_size
        return PatchGrid(feats.numpy().astype(np.float32), grid, (size, size), pixels.shape[:2])

    def part_map(self, patch: np.ndarray, part: PatchGrid) -> tuple[float, np.ndarray, np.ndarray]:
        """Patch scores of one page or tile -> (raw score, map on its pixel grid, map on the part of
        the SAM frame the pixels fill: the segmentation prompt is made from it)."""
        import torch
        import torch.nn.functional as F

        size = self.sam.net.img_size
        h, w = part.image_hw
        nh, nw = self.sam.resized_hw((h, w))
        patch = np.ascontiguousarray(patch, np.float32)
        t = torch.from_numpy(patch)[None, None]
        frame = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()
        frame = gaussian_blur(frame, self.config.smooth_sigma)
        valid = np.ascontiguousarray(frame[:nh, :nw])
        full = upsample_map(valid, (h, w))
        # raw score: the largest patch distance among patches whose centre lies on the pixels (not the padding)
        stride = size / part.grid[0]
        rows, cols = int(np.ceil(nh / stride)), int(np.ceil(nw / stride))
        return float(patch[:rows, :cols].max()), full.astype(np.float32), valid

    def _page_map(self, pixels: np.ndarray, pg: PatchGrid, patch: np.ndarray, bank: MemoryBank) -> PageOutput:
        """Raw score and map of one 2-D page from its patch distances; extras carry the model-frame
        map the segmentation prompt is made from (a tiled page's stitched map brought to the SAM frame)."""
        raw_score, full, frames = self.page_maps(pg, patch)
        nh, nw = self.sam.resized_hw(pixels.shape[:2])
        tiled = isinstance(pg, TiledGrid)
        frame = resize_map(full, (nh, nw)) if tiled else frames[0]
        extras: dict = {"bank_size": len(bank), "encoder": self.config.encoder, **(tiling_extras(pg) if tiled else {})}
        return raw_score, full, {**extras, "frame_map": frame, "frame_hw": (nh, nw)}

    def _raw_map(self, image: LoadedImage, bank: MemoryBank, ctx: PredictContext | None = None) -> PageOutput:
        """(raw score, raw map, extras) of ``image`` against ``bank`` (calibration: no segmentation)."""
        pages, grids = image_pages(image), self._features(image, ctx)
        outputs = []
        for pixels, pg, patch in zip(pages, grids, self.page_distances(grids, bank), strict=True):
            raw, full, extras = self._page_map(pixels, pg, patch, bank)
            extras.pop("frame_map"), extras.pop("frame_hw")
            outputs.append((raw, full, extras))
        return combine_pages(outputs, image.record.is_stack)

    def _predict_raw(self, image: LoadedImage, ctx: PredictContext) -> PageOutput:
        """Map, score and SAM mask of every page (B-scan by B-scan: the page's embedding is still in
        the SAM service's memory when its mask is decoded)."""
        pages, bank = image_pages(image), self.memory_bank
        outputs = []
        for i, pixels in enumerate(pages):
            ctx.cancel.raise_if_cancelled()
            if len(pages) > 1:
                ctx.progress(i, len(pages), f"B-scan {i + 1}/{len(pages)}")
            sha = array_sha256(pixels) if image.record.is_stack else image.sha256
            pg = self.page_features(pixels, sha, fundus=image.modality.value == "fundus")
            (patch,) = self.page_distances([pg], bank)
            raw, full, extras = self._page_map(pixels, pg, patch, bank)
            frame_map, frame_hw = extras.pop("frame_map"), extras.pop("frame_hw")
            extras.update(self._segment(pixels, sha, frame_map, frame_hw))
            outputs.append((raw, full, extras))
        return combine_pages(outputs, image.record.is_stack)

    def _segment(self, pixels: np.ndarray, sha: str, frame_map: np.ndarray, frame_hw: tuple[int, int]) -> dict:
        h, w = pixels.shape[:2]
        cog = centre_of_gravity(frame_map, self.config.gamma)
        if cog is None:
            return {"mask": np.zeros((h, w), bool), "prompt_point": None, "note": "flat anomaly map: no prompt, empty mask"}
        scale = frame_hw[1] / w
        x, y = (cog[0] + 0.5) / scale - 0.5, (cog[1] + 0.5) / scale - 0.5
        dense = None
        if self.config.dense_prompt:
            lo, hi = float(frame_map.min()), float(frame_map.max())
            norm = (frame_map - lo) / (hi - lo)
            dense = self.sam.mask_prompt_from_map(norm, self.config.logit_scale)  # already in the model frame
        emb = self.sam.embedding(pixels, sha)
        pred = self.sam.predict(emb, (h, w), points=np.array([[x, y]], np.float32), labels=np.array([1]), mask_input=dense, multimask=True)
        idx = self.config.mask_index
        return {
            "mask": pred.masks[idx],
            "prompt_point": [float(x), float(y)],
            "mask_scores": [float(s) for s in pred.scores],
            "mask_index": idx,
            "mask_areas": [int(m.sum()) for m in pred.masks],
        }

    def _update_card(self) -> None:
        super()._update_card()
        self.card.backbone = f"{self.config.encoder} image encoder"
        self.card.weights = {self.sam.net.weights_file.rsplit("/", 1)[-1]: self.sam.net.weights_sha256}
