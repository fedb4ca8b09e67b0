"""PatchCore (Roth et al., CVPR 2022), the baseline of the ReSAD and MIAS-SAM comparisons.

Mid-level features (WideResNet-50 layer2 + layer3 in the paper) with 3x3 local neighbourhood
aggregation, deeper layer upsampled to the first layer's grid, channel pooling to a common
dimension, a 10 % greedy coreset memory bank, nearest-neighbour patch scores, image score = max
patch score, map upsampled and smoothed with a Gaussian (sigma 4).
"""

from __future__ import annotations

import numpy as np

from core.models.bank_model import CnnFeatureBankModel, PatchGrid
from core.models.contract import Capabilities, Supervision
from core.models.pages import VOLUME_NOTE
from core.models.patchcore.settings import PatchCoreSettings


def aggregate_patch_features(maps: list, feature_dim: int):
    """PatchCore's feature processing: 3x3 local average, resize to the first grid, channel pooling."""
    import torch
    import torch.nn.functional as F

    ref = maps[0].shape[-2:]
    out = []
    for m in maps:
        # channels-last pooling: the same numbers, about twice as fast on a CPU as the NCHW kernel
        m = F.avg_pool2d(m.contiguous(memory_format=torch.channels_last), kernel_size=3, stride=1, padding=1, count_include_pad=False)
        if m.shape[-2:] != ref:
            m = F.interpolate(m, size=ref, mode="bilinear", align_corners=False)
        out.append(m)
    total = sum(m.shape[1] for m in out)
    flat = [m[0].permute(1, 2, 0).reshape(-1, m.shape[1]) for m in out]
    if total <= feature_dim:
        return torch.cat(flat, dim=1)
    pooled = [F.adaptive_avg_pool1d(f[:, None, :], feature_dim)[:, 0] for f in flat]
    stacked = torch.stack(pooled, dim=1).reshape(len(pooled[0]), 1, -1)
    return F.adaptive_avg_pool1d(stacked, feature_dim)[:, 0]


class PatchCore(CnnFeatureBankModel):
    name = "patchcore"
    title = "PatchCore (baseline)"
    paper = "Roth et al., Towards Total Recall in Industrial Anomaly Detection, CVPR 2022"
    Settings = PatchCoreSettings
    config: PatchCoreSettings
    capabilities = Capabilities(Supervision.UNSUPERVISED, ("fundus", "oct", "slice"), seconds_per_sample=2.0)
    deviations = (
        "Offline default backbone is the LiteMedSAM TinyViT encoder (stage 2 and stage 4 outputs at 1/4 of a 256 px input) "
        "instead of ImageNet WideResNet-50 layer2+layer3, because no ImageNet weights exist offline.",
        "Calibration (the product's, not the paper's) scores every normal image with the deployed bank minus the patches that "
        "image contributed (leave-one-image-out), so the calibrated model is the deployed one.",
        VOLUME_NOTE,
    )
    faithful_config = {"backbone": "wide_resnet50", "image_size": 224, "coreset_ratio": 0.1}

    def patch_features(self, pixels: np.ndarray, sha: str | None = None) -> PatchGrid:
        maps, input_hw = self.stage_maps(pixels)
        feats = aggregate_patch_features(maps, self.config.feature_dim)
        grid = tuple(maps[0].shape[-2:])
        return PatchGrid(feats.cpu().numpy().astype(np.float32), grid, input_hw, pixels.shape[:2])
