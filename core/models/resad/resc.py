"""ReSC: Region-and-Spatial-aware feature Combination (ReSAD, section 3.2).

R = psi_r(F): a fixed region filter whose weights decay linearly with distance from the centre
(radius r), applied per channel. P = softmax(F F^T) F: spatial self-attention over all positions
(rows of the softmax sum to one). C = P + R.
"""

from __future__ import annotations

import numpy as np


def region_kernel(radius: int) -> np.ndarray:
    """(2r+1, 2r+1) weights max(0, 1 - d / (r + 1)), normalised to sum to one."""
    r = int(radius)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    d = np.sqrt(yy**2 + xx**2)
    k = np.clip(1.0 - d / (r + 1.0), 0.0, None)
    return (k / k.sum()).astype(np.float32)


def region_aware(features, radius: int):
    """Depthwise convolution of (1, C, H, W) features with :func:`region_kernel`; at the borders
    the weights are renormalised over the positions inside the map (no zero-padding bias)."""
    import torch
    import torch.nn.functional as F

    c = features.shape[1]
    k = torch.from_numpy(region_kernel(radius)).to(features.device)
    weight = k[None, None].expand(c, 1, *k.shape).contiguous()
    pad = int(radius)
    num = F.conv2d(features, weight, padding=pad, groups=c)
    ones = torch.ones_like(features[:, :1])
    den = F.conv2d(ones, k[None, None], padding=pad)
    return num / den


def spatial_aware(features, temperature: float = 1.0, chunk: int = 2048):
    """P = softmax(F F^T / temperature) F for (1, C, H, W) features, computed in row blocks so
    memory stays bounded for large maps. ``temperature`` 1 is the paper's formula."""
    import torch

    _, c, h, w = features.shape
    flat = features[0].reshape(c, h * w).T.contiguous()  # (N, C)
    out = torch.empty_like(flat)
    for start in range(0, flat.shape[0], chunk):
        rows = flat[start : start + chunk]
        attn = torch.softmax((rows @ flat.T) / temperature, dim=1)  # (n, N)
        out[start : start + chunk] = attn @ flat
    return out.T.reshape(1, c, h, w)


def resc(features, radius: int, temperature: float = 1.0, use_region: bool = True, use_spatial: bool = True):
    parts = []
    if use_spatial:
        parts.append(spatial_aware(features, temperature))
    if use_region:
        parts.append(region_aware(features, radius))
    if not parts:
        return features
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]
