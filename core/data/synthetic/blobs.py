"""Random smooth shapes shared by the lesion painters (2-D and 3-D)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std low-frequency noise."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma=sigma)
    std = float(field.std())
    return field / std if std > 0 else field


def irregular_blob(
    rng: np.random.Generator,
    shape: tuple[int, int],
    center: tuple[float, float],
    radius: float,
    roughness: float = 0.35,
    elongation: float = 1.4,
) -> np.ndarray:
    """Soft blob in [0, 1] (1 inside) with a wobbly, slightly elongated outline. ``center`` is (y, x)."""
    h, w = shape
    pad = int(radius * 2.2) + 4
    y0, y1 = max(int(center[0]) - pad, 0), min(int(center[0]) + pad, h)
    x0, x1 = max(int(center[1]) - pad, 0), min(int(center[1]) + pad, w)
    out = np.zeros(shape, np.float32)
    if y1 <= y0 or x1 <= x0:
        return out
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    e = rng.uniform(1.0, elongation)
    dy, dx = yy - center[0], xx - center[1]
    u = (dx * np.cos(angle) + dy * np.sin(angle)) / e
    v = (-dx * np.sin(angle) + dy * np.cos(angle)) * e**0.5
    r = np.sqrt(u * u + v * v)
    wobble = 1.0 + roughness * smooth_noise(rng, r.shape, sigma=max(radius / 3.0, 1.0)) * 0.5
    edge = max(radius * 0.15, 1.0)
    out[y0:y1, x0:x1] = np.clip((radius * wobble - r) / edge + 0.5, 0.0, 1.0)
    return out
