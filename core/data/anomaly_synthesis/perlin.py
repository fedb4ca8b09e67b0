"""Perlin gradient noise (Perlin 1985) and thresholded Perlin shapes, numpy only.

The noise follows the lattice-gradient formulation used by DRAEM and ReSynthDetect: random unit
gradients on a ``res`` lattice, dot products with the offsets, quintic fade interpolation.
"""

from __future__ import annotations

import math

import numpy as np


def _fade(t: np.ndarray) -> np.ndarray:
    return 6 * t**5 - 15 * t**4 + 10 * t**3


def perlin_noise(shape: tuple[int, int], res: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """2-D Perlin noise of ``shape`` with ``res`` lattice cells per axis; values roughly in [-0.7, 0.7]."""
    h, w = int(shape[0]), int(shape[1])
    ry, rx = max(1, int(res[0])), max(1, int(res[1]))
    # evaluate on a grid that is a whole number of pixels per cell, then crop
    cy, cx = math.ceil(h / ry), math.ceil(w / rx)
    H, W = cy * ry, cx * rx
    angles = rng.uniform(0, 2 * np.pi, size=(ry + 1, rx + 1))
    grads = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    yy = (np.arange(H) % cy) / cy
    xx = (np.arange(W) % cx) / cx
    fy, fx = np.meshgrid(yy, xx, indexing="ij")
    iy = np.arange(H) // cy
    ix = np.arange(W) // cx
    IY, IX = np.meshgrid(iy, ix, indexing="ij")

    def dot(oy: int, ox: int) -> np.ndarray:
        g = grads[IY + oy, IX + ox]
        return g[..., 0] * (fx - ox) + g[..., 1] * (fy - oy)

    n00, n10, n01, n11 = dot(0, 0), dot(0, 1), dot(1, 0), dot(1, 1)
    ux, uy = _fade(fx), _fade(fy)
    top = n00 + ux * (n10 - n00)
    bottom = n01 + ux * (n11 - n01)
    out = math.sqrt(2) * (top + uy * (bottom - top))
    return out[:h, :w].astype(np.float32)


def perlin_mask(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    min_scale: int = 0,
    max_scale: int = 3,
    threshold: float = 0.5,
    min_fraction: float = 0.02,
    tries: int = 12,
) -> np.ndarray:
    """Binary shape from thresholded Perlin noise: lattice resolution 2**k per axis with k drawn
    from [min_scale, max_scale] (DRAEM's scheme). Never empty: after ``tries`` draws that cover
    less than ``min_fraction`` of the area, the noise is thresholded at its top ``min_fraction``
    quantile instead."""
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"perlin_mask: empty shape {shape}")
    noise = np.zeros((h, w), np.float32)  # replaced on the first try
    for _ in range(max(1, tries)):
        sy = 2 ** int(rng.integers(min_scale, max_scale + 1))
        sx = 2 ** int(rng.integers(min_scale, max_scale + 1))
        noise = perlin_noise((h, w), (min(sy, h), min(sx, w)), rng)
        mask = noise > threshold
        if mask.mean() >= min_fraction:
            return mask
    q = float(np.quantile(noise, 1.0 - max(min_fraction, 1.0 / (h * w))))
    mask = noise >= q
    if not mask.any():
        mask[h // 2, w // 2] = True
    return mask
