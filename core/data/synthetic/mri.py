"""Derived normal brain volumes from the MNI152 template and synthetic tumours with BraTS labels.

The real volume is nilearn's skull-stripped ICBM152 2009 T1 template (197 x 233 x 189, 1 mm,
RAS). Derived normals add a smooth bias field, a gamma change, Rician-like noise and a small
translation, as different scanners would. Tumours follow the BraTS label convention:
1 = necrotic / non-enhancing core, 2 = peritumoural edema, 3 = enhancing tumour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from core.data.synthetic.blobs import smooth_noise

MNI_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


def mni152_path() -> str:
    """nilearn's bundled template file, found without importing nilearn (its import pulls in
    pandas and scikit-learn)."""
    import importlib.util
    import os
    import sys
    from pathlib import Path

    candidates = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "nilearn" / "datasets" / "data" / MNI_FILE)
    spec = importlib.util.find_spec("nilearn")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(loc) / "datasets" / "data" / MNI_FILE)
    for c in candidates:
        if os.path.isfile(c):
            return str(c)
    raise FileNotFoundError(f"{MNI_FILE}: nilearn's MNI152 template is missing (is nilearn installed?)")


def load_mni152():
    """The template as a :class:`core.io.volume.Volume` (uint8 intensities as float32)."""
    from core.io.nifti import read_nifti

    return read_nifti(mni152_path())


def brain_mask(data: np.ndarray) -> np.ndarray:
    return data > 0.05 * float(data.max())


@dataclass
class VolumeVariation:
    shift_vox: tuple[int, int, int] = (0, 0, 0)
    gamma: float = 1.0
    bias_strength: float = 0.0
    noise_std: float = 0.0  # relative to the white-matter intensity
    scale_to: float = 1000.0  # output intensity of white matter, int16 scanner-like range
    description: str = ""


def random_variation(rng: np.random.Generator) -> VolumeVariation:
    dz, dy, dx = (int(s) for s in rng.integers(-4, 5, 3))
    v = VolumeVariation(
        shift_vox=(dz, dy, dx),
        gamma=float(rng.uniform(0.85, 1.2)),
        bias_strength=float(rng.uniform(0.05, 0.15)),
        noise_std=float(rng.uniform(0.01, 0.03)),
        scale_to=float(rng.uniform(800, 1400)),
    )
    v.description = (
        f"shift {v.shift_vox} vox, gamma {v.gamma:.2f}, bias field {v.bias_strength:.2f}, "
        f"noise {v.noise_std:.3f}, white matter ~{v.scale_to:.0f}"
    )
    return v


def smooth_bias_field(rng: np.random.Generator, shape: tuple[int, ...], terms: int = 4) -> np.ndarray:
    """Low-frequency multiplicative field in [-1, 1]: a sum of separable cosine products."""
    coords = [np.linspace(0, np.pi, n, dtype=np.float32) for n in shape]
    field = np.zeros(shape, np.float32)
    for _ in range(terms):
        part = np.ones((1,) * len(shape), np.float32)
        for axis, c in enumerate(coords):
            wave = np.cos(c * rng.uniform(0.3, 1.5) + rng.uniform(0, np.pi)).astype(np.float32)
            part = part * wave.reshape([-1 if i == axis else 1 for i in range(len(shape))])
        field += rng.uniform(-1, 1) * part
    return field / (np.abs(field).max() + 1e-6)


def apply_variation(rng: np.random.Generator, data: np.ndarray, v: VolumeVariation) -> np.ndarray:
    """Return an int16 volume of the same shape (voxel grid and affine unchanged)."""
    src = data.astype(np.float32) / max(float(np.percentile(data[data > 0], 99)), 1e-6)
    out = ndimage.shift(src, v.shift_vox, order=0, mode="constant", cval=0.0) if any(v.shift_vox) else src
    mask = out > 0.02
    out = np.clip(out, 0, None) ** v.gamma
    if v.bias_strength:
        out = out * (1.0 + v.bias_strength * smooth_bias_field(rng, out.shape))
    if v.noise_std:
        n1 = rng.normal(0, v.noise_std, out.shape).astype(np.float32)
        n2 = rng.normal(0, v.noise_std, out.shape).astype(np.float32)
        out = np.sqrt((out + n1) ** 2 + n2**2)  # Rician magnitude noise
        out[~mask] *= 0.3
    return np.clip(out * v.scale_to, 0, 32767).astype(np.int16)


def paint_tumour(
    rng: np.random.Generator, data: np.ndarray, center: tuple[int, int, int] | None = None, radius_vox: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Paint a glioma-like lesion into a T1 volume. Returns (new volume, uint8 BraTS label volume).

    T1 appearance: hypointense necrotic core, slightly hyperintense irregular rim, mildly
    hypointense edema spreading along white matter. Voxels with label 0 are unchanged.
    """
    shape = data.shape
    brain = brain_mask(data)
    r = float(radius_vox or rng.uniform(9, 16))
    if center is None:
        coarse = brain[::2, ::2, ::2]
        dist = ndimage.distance_transform_edt(coarse) * 2.0  # half resolution is plenty for placement
        candidates = np.argwhere(dist > r * 1.8) * 2
        if len(candidates) == 0:
            candidates = np.argwhere(brain)
        cz, cy, cx = (int(c) for c in candidates[rng.integers(len(candidates))])
        center = (cz, cy, cx)
    pad = int(r * 2.2) + 3
    lo = [max(c - pad, 0) for c in center]
    hi = [min(c + pad, s) for c, s in zip(center, shape)]
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    grids = np.meshgrid(*[np.arange(a, b, dtype=np.float32) - c for a, b, c in zip(lo, hi, center)], indexing="ij")
    axes = rng.uniform(0.75, 1.3, 3)
    rr = np.sqrt(sum((g / a) ** 2 for g, a in zip(grids, axes)))
    wobble = 1.0 + 0.22 * smooth_noise(rng, rr.shape, sigma=max(r / 3.0, 2.0))
    rel = rr / (r * wobble)
    local_brain = brain[sl]
    labels = np.zeros(shape, np.uint8)
    lab = np.zeros(rr.shape, np.uint8)
    lab[(rel < 1.7) & local_brain] = 2  # edema
    lab[(rel < 1.0) & local_brain] = 3  # enhancing rim
    lab[(rel < 0.6) & local_brain] = 1  # necrotic core
    labels[sl] = lab

    out = data.astype(np.float32).copy()
    ref = float(np.percentile(data[brain], 75))  # ~ white matter
    seg = out[sl]
    texture = 1.0 + 0.08 * smooth_noise(rng, seg.shape, 1.0)
    target = np.where(lab == 2, seg * 0.78, seg)
    target = np.where(lab == 3, ref * 1.05 * texture, target)
    target = np.where(lab == 1, ref * 0.3 * texture, target)
    # partial-volume blending at the tissue borders, confined to the labelled voxels
    soft = ndimage.gaussian_filter(target, 0.8)
    out[sl] = np.where(lab > 0, soft, seg)
    out = np.where(labels > 0, out, data)
    return out.astype(data.dtype), labels
