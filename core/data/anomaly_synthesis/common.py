"""Helpers shared by the anomaly generators: image layout, foreground (where lesions may lie),
random placement."""

from __future__ import annotations

import numpy as np


def as_hwc_uint8(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """(H, W[, C]) image of any dtype -> (H, W, 3) uint8 and whether the input was grey.

    16-bit and float images are scaled by their own range; grey images are repeated to three
    channels (generators work on RGB and convert back with :func:`restore_layout`)."""
    a = np.asarray(image)
    grey = a.ndim == 2 or (a.ndim == 3 and a.shape[-1] == 1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[-1] == 4:
        a = a[..., :3]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3):
        raise ValueError(f"expected a 2-D grey or RGB image, got shape {a.shape}")
    if a.dtype != np.uint8:
        f = a.astype(np.float32)
        lo, hi = float(f.min()), float(f.max())
        if a.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
            f = f * 255.0
        elif hi > 255.0 or lo < 0.0:
            f = (f - lo) / max(hi - lo, 1e-6) * 255.0
        a = np.clip(f + 0.5, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    return np.ascontiguousarray(a), grey


def restore_layout(rgb: np.ndarray, grey: bool) -> np.ndarray:
    """Back to (H, W) for grey inputs (channel mean), unchanged for RGB."""
    if not grey:
        return rgb
    return np.clip(rgb.astype(np.float32).mean(axis=-1) + 0.5, 0, 255).astype(np.uint8)


def foreground_mask(image: np.ndarray, modality: str) -> np.ndarray:
    """Where a lesion may be placed: the camera's field of view on a fundus photo, the retinal
    tissue band (brighter than the image mean after smoothing) on an OCT B-scan."""
    from scipy import ndimage

    a = np.asarray(image)
    grey = a.astype(np.float32).mean(axis=-1) if a.ndim == 3 else a.astype(np.float32)
    if modality == "oct":
        smooth = ndimage.gaussian_filter(grey, sigma=max(1.0, min(grey.shape) / 100))
        mask = smooth > smooth.mean()
    else:
        mask = grey > 20
        mask = ndimage.binary_opening(mask, iterations=2)
        mask = ndimage.binary_fill_holes(mask)
    if mask.mean() < 0.02:  # nothing recognisable: allow the whole image
        mask = np.ones(grey.shape, bool)
    return mask


def random_point_in(mask: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """(y, x) of a uniformly drawn True pixel."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return int(rng.integers(0, mask.shape[0])), int(rng.integers(0, mask.shape[1]))
    i = int(rng.integers(0, len(ys)))
    return int(ys[i]), int(xs[i])


def box_around(center: tuple[int, int], size: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int]:
    """Top-left (y0, x0) of a ``size`` box centred near ``center`` and kept inside ``shape``."""
    h, w = size
    y0 = int(np.clip(center[0] - h // 2, 0, max(shape[0] - h, 0)))
    x0 = int(np.clip(center[1] - w // 2, 0, max(shape[1] - w, 0)))
    return y0, x0
