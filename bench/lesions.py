"""An independent lesion generator for benchmarks only.

No training path may see these lesions: ``core`` and ``app`` never import ``bench`` (an
import-linter contract in pyproject.toml forbids it), so a method can learn neither the shapes nor
the colours below. They differ on purpose from everything a method or the demo builder draws:

* ``core/data/anomaly_synthesis`` pastes Perlin-shaped, augmented crops of other normal images
  (ReSynthDetect) or albumentations-shifted star polygons (MMRAD);
* ``core/data/synthetic`` (the demo builder) paints blobs whose outline wobbles with smoothed
  Gaussian noise, multiplies a fixed colour into the image under a soft alpha, clusters small blobs
  into exudates, draws OCT lesions into the reflectivity map before speckle, and paints MRI
  tumours as a necrotic core, an enhancing rim and an edema shell.

Here instead:

* **outline**: a radius perturbed by a short random Fourier series,
  ``r(theta) = R * (1 + sum_k a_k cos(k theta + phi_k))`` with ``a_k`` falling as ``k^-1.3``
  (lobed, flame-like or nearly round), optionally stretched along a random direction;
* **texture**: fine granular noise (white noise filtered at sub-pixel scale) or sparse speckles,
  never a smooth low-frequency field; cotton-wool-like lesions have a fibrous, angularly striated
  edge;
* **intensity**: every lesion shifts the image towards a colour defined from the lesion's own
  surroundings (the median of a ring around it), by ``contrast`` (``faint`` = 0.35, ``strong`` = 1)
  times the lesion's opacity and texture, so the underlying anatomy stays partly visible.

Fundus kinds: haemorrhage-like (dark red, granular, darker core, flame-shaped or blot), exudate-like
(yellow-white, sharp edge, speckled), cotton-wool-like (pale, fluffy fibrous edge),
microaneurysm-like (small round dark-red dot, sharp edge). OCT kinds: a hypo-reflective fluid
pocket (flattened, residual speckle) and a hyper-reflective focus. MRI: a rotated ellipsoid with
granular texture, brighter (T2/FLAIR-like) or darker than the brain around it.

``radius`` is the lesion's mean outline radius in pixels (voxels for MRI), so a lesion-size
benchmark can place radii 3, 6, 10, 20, 40 px. Every function is deterministic for a given seed
and returns the new image (same shape and dtype) and the exact mask: no pixel outside the mask
changes; on a fundus photo the mask lies inside the camera's field of view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

CONTRASTS = {"faint": 0.35, "strong": 1.0}
FUNDUS_KINDS = ("haemorrhage", "exudate", "cotton_wool", "microaneurysm")
OCT_KINDS = ("fluid", "focus")
MRI_POLARITIES = ("bright", "dark")
FOV_MARGIN = 3  # px kept free between a fundus lesion and the edge of the field of view
_MIN_ALPHA = 0.15  # opacity below this is cut to zero, so every masked pixel visibly changes


@dataclass(frozen=True)
class Lesion:
    image: np.ndarray  # same shape and dtype as the input
    mask: np.ndarray  # bool, the image grid (volume grid for MRI); nothing outside it changed
    kind: str
    centre: tuple[float, ...]  # (x, y) for 2-D images; (i, j, k) voxel indices for volumes
    radius: float
    contrast: float


def contrast_value(contrast: str | float) -> float:
    """'faint' / 'strong' or a number in (0, 1.5]."""
    if isinstance(contrast, str):
        if contrast not in CONTRASTS:
            raise ValueError(f"unknown contrast '{contrast}'; use {', '.join(CONTRASTS)} or a number")
        return CONTRASTS[contrast]
    value = float(contrast)
    if not 0 < value <= 1.5:
        raise ValueError(f"contrast {value} outside (0, 1.5]")
    return value


# -- shapes and textures ---------------------------------------------------------------------------
def fourier_radius(rng: np.random.Generator, roughness: float, harmonics: int = 6):
    """``theta -> r(theta) / R``: 1 plus a random Fourier series (harmonics 2..harmonics+1), kept above 0.45."""
    k = np.arange(2, 2 + harmonics, dtype=np.float64)
    amp = roughness * k**-1.3 * rng.uniform(0.3, 1.0, harmonics)
    if amp.sum() > 0.55:
        amp *= 0.55 / amp.sum()
    phase = rng.uniform(0.0, 2 * np.pi, harmonics)

    def radius(theta: np.ndarray) -> np.ndarray:
        return 1.0 + np.sum(amp[:, None] * np.cos(k[:, None] * theta.ravel()[None] + phase[:, None]), axis=0).reshape(theta.shape)

    return radius, 1.0 + float(amp.sum())


def granular(rng: np.random.Generator, shape: tuple[int, ...], strength: float, grain: float = 0.7) -> np.ndarray:
    """Multiplicative granular texture around 1 (white noise filtered at ~``grain`` px)."""
    g = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), grain)
    g /= max(float(g.std()), 1e-6)
    return np.clip(1.0 + strength * g, 0.5, 1.5).astype(np.float32)


def speckles(rng: np.random.Generator, shape: tuple[int, int], density: float) -> np.ndarray:
    """Sparse bright granules (1-2 px) on a slightly darker base, around 1."""
    seeds = rng.random(shape) < density
    grains = ndimage.binary_dilation(seeds, iterations=1) if min(shape) > 4 else seeds
    return np.where(grains, 1.25, 0.85).astype(np.float32)


def _polar_frame(shape: tuple[int, int], centre_yx: tuple[float, float], angle: float, stretch: float):
    """(rho, theta) of each pixel in a frame rotated by ``angle`` and stretched ``stretch`` times along it."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    dy, dx = yy - centre_yx[0], xx - centre_yx[1]
    u = (dx * np.cos(angle) + dy * np.sin(angle)) / stretch
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    return np.hypot(u, v), np.arctan2(v, u)


def _alpha_2d(
    rng: np.random.Generator, shape, centre_yx, radius: float, roughness: float, stretch: float, feather: float
) -> tuple[np.ndarray, float]:
    """Opacity in [0, 1] of a Fourier-outlined lesion (0 outside). ``feather`` is the width of the
    soft edge as a fraction of the radius (0: an anti-aliased sharp edge)."""
    r_of, r_max = fourier_radius(rng, roughness)
    angle = float(rng.uniform(0, np.pi))
    s = float(stretch)
    # the stretched frame keeps the area of the circle of ``radius``
    rho, theta = _polar_frame(shape, centre_yx, angle, s)
    edge = radius * r_of(theta) / np.sqrt(s)
    if feather > 0:
        width = max(feather * radius, 1.0)
        alpha = np.clip((edge - rho) / width, 0.0, 1.0) ** 0.7
    else:
        alpha = np.clip(edge - rho + 0.5, 0.0, 1.0)
    return alpha.astype(np.float32), r_max * radius * np.sqrt(s)


def _finish(alpha: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    alpha = np.where(alpha >= _MIN_ALPHA, alpha, 0.0).astype(np.float32)
    if allowed is not None:
        alpha = alpha * allowed
    return alpha


def _to_dtype(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    if np.issubdtype(like.dtype, np.integer):
        info = np.iinfo(like.dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(like.dtype)
    return values.astype(like.dtype)


# -- fundus ------------------------------------------------------------------------------------------
def fundus_fov(image: np.ndarray, threshold: int = 15) -> np.ndarray:
    """The camera's field of view: the largest bright connected region, holes filled."""
    grey = image.max(axis=-1) if image.ndim == 3 else image
    mask = ndimage.binary_opening(grey > threshold, iterations=2)
    labels, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum(mask, labels, index=range(1, n + 1))
        mask = labels == (1 + int(np.argmax(sizes)))
    return ndimage.binary_fill_holes(mask)


def _pick_centre(rng: np.random.Generator, room: np.ndarray, need: float) -> tuple[int, int]:
    """(y, x) uniformly among pixels whose ``room`` (distance to the forbidden area) is >= ``need``;
    the roomiest pixel when none has enough."""
    ys, xs = np.nonzero(room >= need)
    if len(ys) == 0:
        y, x = np.unravel_index(int(np.argmax(room)), room.shape)
        return int(y), int(x)
    i = int(rng.integers(len(ys)))
    return int(ys[i]), int(xs[i])


FUNDUS_STYLE = {
    # kind: roughness of the outline, largest stretch, feather (soft-edge width / radius), texture
    "haemorrhage": (0.35, 2.0, 0.25, "granular"),
    "exudate": (0.45, 1.4, 0.0, "speckled"),
    "cotton_wool": (0.3, 1.6, 0.55, "fibrous"),
    "microaneurysm": (0.06, 1.1, 0.0, "granular"),
}


def _fundus_target(kind: str, bg: np.ndarray) -> np.ndarray:
    """The colour a lesion of ``kind`` moves towards, from the local background colour ``bg`` (RGB)."""
    if kind == "haemorrhage":
        return bg * np.array([0.55, 0.26, 0.28], np.float32)
    if kind == "microaneurysm":
        return bg * np.array([0.48, 0.2, 0.22], np.float32)
    if kind == "exudate":
        return np.maximum(bg, np.array([255.0, 240.0, 165.0], np.float32))
    if kind == "cotton_wool":
        return bg + (np.array([236.0, 232.0, 226.0], np.float32) - bg) * 0.75
    raise ValueError(f"unknown fundus lesion kind '{kind}'; use {', '.join(FUNDUS_KINDS)}")


def fundus_lesion(
    image: np.ndarray,
    radius: float,
    contrast: str | float = "strong",
    seed: int = 0,
    kind: str | None = None,
    centre: tuple[float, float] | None = None,
    fov: np.ndarray | None = None,
) -> Lesion:
    """One lesion on an RGB fundus photo (uint8, full resolution), inside its field of view.
    ``centre`` is (x, y); by default a random point with room for the whole lesion. ``fov`` (from
    :func:`fundus_fov`) saves recomputing the field of view when one photo gets many lesions."""
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an RGB fundus photo (H, W, 3), got {image.shape}")
    if radius <= 0:
        raise ValueError("radius must be positive")
    rng = np.random.default_rng(seed)
    kind = kind or str(rng.choice(FUNDUS_KINDS))
    if kind not in FUNDUS_STYLE:
        raise ValueError(f"unknown fundus lesion kind '{kind}'; use {', '.join(FUNDUS_KINDS)}")
    c = contrast_value(contrast)
    roughness, max_stretch, feather, texture = FUNDUS_STYLE[kind]
    stretch = float(rng.uniform(1.0, max_stretch))
    fov = fundus_fov(image) if fov is None else fov
    reach = radius * (1.6 + max_stretch) + 4  # upper bound of the outline's extent, for placement
    if centre is None:
        # room to the rim on a 4x coarser grid (conservative by one cell), then a pixel in the chosen cell
        room = ndimage.distance_transform_edt(fov[::4, ::4]) * 4.0 - 4.0
        gy, gx = _pick_centre(rng, room, reach + FOV_MARGIN)
        cy, cx = gy * 4 + int(rng.integers(0, 4)), gx * 4 + int(rng.integers(0, 4))
    else:
        cx, cy = int(round(centre[0])), int(round(centre[1]))
    h, w = image.shape[:2]
    pad = int(np.ceil(reach)) + 2
    y0, y1, x0, x1 = max(cy - pad, 0), min(cy + pad + 1, h), max(cx - pad, 0), min(cx + pad + 1, w)
    # the field of view less a FOV_MARGIN rim, eroded in the lesion's window only (the lesion stays far
    # from the window's inner edges; beyond an image edge counts as outside the field of view)
    inner = ndimage.binary_erosion(fov[y0:y1, x0:x1], iterations=FOV_MARGIN, border_value=1) & _interior(y0, y1, x0, x1, h, w)
    win = (y1 - y0, x1 - x0)
    alpha, _ = _alpha_2d(rng, win, (cy - y0, cx - x0), radius, roughness, stretch, feather)
    if kind == "haemorrhage":  # darker core
        rho = np.hypot(*np.mgrid[: win[0], : win[1]] - np.array([cy - y0, cx - x0])[:, None, None])
        alpha = alpha * (0.8 + 0.2 * np.clip(1 - rho / (radius * 1.2), 0, 1))
    if texture == "fibrous":  # cotton wool: angular striations on the soft edge
        theta = np.arctan2(*(np.mgrid[: win[0], : win[1]] - np.array([cy - y0, cx - x0])[:, None, None]))
        k = rng.integers(9, 17)
        striae = 0.75 + 0.25 * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) * np.cos((k + 5) * theta)
        alpha = np.where(alpha < 0.999, alpha * striae, alpha)
    alpha = _finish(alpha, inner)
    if texture == "speckled":
        tex = speckles(rng, win, density=0.08)
    else:
        tex = granular(rng, win, {"haemorrhage": 0.15, "microaneurysm": 0.08, "cotton_wool": 0.12}[kind])
    patch = image[y0:y1, x0:x1].astype(np.float32)
    ring = _ring(win, (cy - y0, cx - x0), radius * 1.6 + 2, radius * 2.6 + 6) & fov[y0:y1, x0:x1]
    bg = np.median(patch[ring], axis=0) if ring.any() else patch.reshape(-1, 3).mean(axis=0)
    target = _fundus_target(kind, bg.astype(np.float32))
    a = (alpha * c)[..., None]
    new = patch + a * tex[..., None] * (target[None, None, :] - patch)
    mask_win = alpha > 0
    out = image.copy()
    region = out[y0:y1, x0:x1]
    region[mask_win] = _to_dtype(np.clip(new, 0, 255), image)[mask_win]
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = mask_win
    return Lesion(out, mask, kind, (float(cx), float(cy)), float(radius), c)


def _interior(y0: int, y1: int, x0: int, x1: int, h: int, w: int) -> np.ndarray:
    """Window pixels at least FOV_MARGIN away from every window edge that is an image edge."""
    out = np.ones((y1 - y0, x1 - x0), bool)
    m = FOV_MARGIN
    if y0 == 0:
        out[:m] = False
    if x0 == 0:
        out[:, :m] = False
    if y1 == h:
        out[-m:] = False
    if x1 == w:
        out[:, -m:] = False
    return out


def _ring(shape, centre_yx, r0: float, r1: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    d = np.hypot(yy - centre_yx[0], xx - centre_yx[1])
    return (d >= r0) & (d <= r1)


# -- OCT B-scans ---------------------------------------------------------------------------------------
def retina_band(bscan: np.ndarray) -> np.ndarray:
    """Rows of each column that hold retina: smoothed intensity above half the scan's bright level."""
    grey = bscan.astype(np.float32) if bscan.ndim == 2 else bscan.astype(np.float32).mean(axis=-1)
    smooth = ndimage.gaussian_filter(grey, sigma=(3, 6))
    level = 0.5 * float(np.percentile(smooth, 97))
    band = smooth > level
    return ndimage.binary_fill_holes(ndimage.binary_closing(band, iterations=3))


def oct_lesion(
    bscan: np.ndarray,
    radius: float,
    contrast: str | float = "strong",
    seed: int = 0,
    kind: str | None = None,
    centre: tuple[float, float] | None = None,
) -> Lesion:
    """A hypo-reflective fluid pocket (``fluid``) or a hyper-reflective focus (``focus``) inside the
    retina of a grey B-scan (H, W). ``centre`` is (x, y)."""
    if bscan.ndim != 2:
        raise ValueError(f"expected a grey B-scan (H, W), got {bscan.shape}")
    rng = np.random.default_rng(seed)
    kind = kind or str(rng.choice(OCT_KINDS))
    if kind not in OCT_KINDS:
        raise ValueError(f"unknown OCT lesion kind '{kind}'; use {', '.join(OCT_KINDS)}")
    c = contrast_value(contrast)
    stretch = float(rng.uniform(1.4, 2.4)) if kind == "fluid" else float(rng.uniform(1.0, 1.3))
    band = retina_band(bscan)
    h, w = bscan.shape
    if centre is None:
        room = ndimage.distance_transform_edt(band)
        room[:, : int(w * 0.08)] = 0
        room[:, w - int(w * 0.08) :] = 0
        cy, cx = _pick_centre(rng, room, min(radius, 0.9 * float(room.max())))
    else:
        cx, cy = int(round(centre[0])), int(round(centre[1]))
    pad = int(np.ceil(radius * 1.6 * stretch)) + 3
    y0, y1, x0, x1 = max(cy - pad, 0), min(cy + pad + 1, h), max(cx - pad, 0), min(cx + pad + 1, w)
    win = (y1 - y0, x1 - x0)
    # fluid pockets lie flat: stretch along the B-scan's width (angle near 0)
    r_of, _ = fourier_radius(rng, 0.3 if kind == "fluid" else 0.12)
    angle = float(rng.normal(0.0, 0.12)) if kind == "fluid" else float(rng.uniform(0, np.pi))
    rho, theta = _polar_frame(win, (cy - y0, cx - x0), angle, stretch)
    edge = radius * r_of(theta) / np.sqrt(stretch)
    alpha = _finish(np.clip(edge - rho + 0.5, 0.0, 1.0))
    patch = bscan[y0:y1, x0:x1].astype(np.float32)
    if kind == "fluid":
        residual = rng.gamma(1.2, 1 / 1.2, win).astype(np.float32)  # faint residual speckle inside the pocket
        target = np.float32(0.06) * float(np.median(patch[band[y0:y1, x0:x1]])) * residual if band[y0:y1, x0:x1].any() else 0 * patch
        new = patch + alpha * c * 0.92 * (target - patch)
    else:
        target = np.float32(min(255.0, float(np.percentile(bscan, 99.5)) + 20.0)) * granular(rng, win, 0.15)
        new = patch + alpha * c * (target - patch)
    mask_win = alpha > 0
    out = bscan.copy()
    out[y0:y1, x0:x1][mask_win] = _to_dtype(np.clip(new, 0, 255), bscan)[mask_win]
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = mask_win
    return Lesion(out, mask, kind, (float(cx), float(cy)), float(radius), c)


# -- MRI volumes ---------------------------------------------------------------------------------------
def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return q * np.sign(np.diag(r))[None, :]


def mri_lesion(
    volume: np.ndarray,
    radius: float,
    contrast: str | float = "strong",
    seed: int = 0,
    polarity: str = "bright",
    centre: tuple[int, int, int] | None = None,
) -> Lesion:
    """A textured, randomly rotated ellipsoid (axes 0.7-1.3 x ``radius`` voxels, volume of the sphere
    of ``radius``) inside the brain of a 3-D volume; ``bright`` (T2/FLAIR-like) or ``dark``."""
    if volume.ndim != 3:
        raise ValueError(f"expected a 3-D volume, got {volume.shape}")
    if polarity not in MRI_POLARITIES:
        raise ValueError(f"unknown polarity '{polarity}'; use {', '.join(MRI_POLARITIES)}")
    rng = np.random.default_rng(seed)
    c = contrast_value(contrast)
    data = volume.astype(np.float32)
    positive = data[data > 0]
    hi = float(np.percentile(positive, 99)) if positive.size else 1.0
    brain = data > 0.1 * hi
    axes = rng.uniform(0.7, 1.3, 3)
    axes = axes / np.prod(axes) ** (1 / 3) * radius
    if centre is None:
        coarse = brain[::2, ::2, ::2]
        room = ndimage.distance_transform_edt(coarse) * 2.0
        idx = _pick_centre_nd(rng, room, float(axes.max()) + 2)
        centre = tuple(int(min(2 * i, s - 1)) for i, s in zip(idx, volume.shape))
    pad = int(np.ceil(axes.max())) + 2
    lo = [max(ci - pad, 0) for ci in centre]
    hi_ = [min(ci + pad + 1, s) for ci, s in zip(centre, volume.shape)]
    sl = tuple(slice(a, b) for a, b in zip(lo, hi_))
    grid = np.stack(np.meshgrid(*[np.arange(a, b, dtype=np.float32) - ci for a, b, ci in zip(lo, hi_, centre)], indexing="ij"), -1)
    local = grid @ _rotation(rng).astype(np.float32)
    dist = np.sqrt(((local / axes.astype(np.float32)) ** 2).sum(-1))  # 1 on the surface
    alpha = _finish(np.clip((1.0 - dist) * radius + 0.5, 0.0, 1.0), brain[sl])
    seg = data[sl]
    ref = float(np.percentile(data[brain], 90)) if brain.any() else hi
    level = ref * 1.6 if polarity == "bright" else ref * 0.3
    target = level * granular(rng, seg.shape, 0.12, grain=0.6)
    new = seg + alpha * c * (target - seg)
    mask = np.zeros(volume.shape, bool)
    mask[sl] = alpha > 0
    out = volume.copy()
    out[sl][alpha > 0] = _to_dtype(new, volume)[alpha > 0]
    return Lesion(out, mask, f"ellipsoid_{polarity}", tuple(float(x) for x in centre), float(radius), c)


def _pick_centre_nd(rng: np.random.Generator, room: np.ndarray, need: float) -> tuple[int, ...]:
    idx = np.argwhere(room >= need)
    if len(idx) == 0:
        return tuple(int(i) for i in np.unravel_index(int(np.argmax(room)), room.shape))
    return tuple(int(i) for i in idx[int(rng.integers(len(idx)))])
