"""Derived normal fundus photos (geometric and photometric variations of a real photo) and
synthetic lesions painted onto them with exact masks.

The real photo is ``skimage.data.retina()`` (1411 x 1411, CC0, a left eye). Its optic disc centre
and fovea were located by eye and are carried through every geometric transform, so a derived
image still knows where its fovea is (needed to place the OCT scan line).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.data.synthetic.blobs import irregular_blob, smooth_noise

RETINA_FOVEA_XY = (703.0, 703.0)  # in skimage.data.retina() pixels
RETINA_DISC_XY = (206.0, 634.0)
RETINA_LATERALITY = "L"
PX_PER_MM = 110.0  # disc-fovea distance (~4.5 mm) is ~500 px in this photo

FUNDUS_LESIONS = ("retinal hemorrhage", "retinal hard exudates", "cotton-wool spots", "retinal whitening")


def load_retina() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.retina())


def fov_mask(image: np.ndarray, threshold: int = 20) -> np.ndarray:
    """The camera's circular field of view (pixels brighter than the black surround)."""
    from scipy import ndimage

    mask = image.max(axis=-1) > threshold if image.ndim == 3 else image > threshold
    mask = ndimage.binary_opening(mask, iterations=3)
    return ndimage.binary_fill_holes(mask)


@dataclass
class Derivation:
    """One geometric + photometric variation. Geometry is a 2x3 affine on (x, y) pixel coordinates."""

    flip: bool = False
    angle_deg: float = 0.0
    zoom: float = 1.0
    shift_xy: tuple[float, float] = (0.0, 0.0)
    gamma: float = 1.0
    gain: float = 1.0
    warmth: float = 0.0  # > 0 warmer (more red, less blue)
    blur: float = 0.0
    out_size: int | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)

    def matrix(self, size: tuple[int, int]) -> np.ndarray:
        h, w = size
        out = self.out_size or w
        s = out / w
        cx, cy = w / 2.0, h / 2.0
        a = np.deg2rad(self.angle_deg)
        # source -> destination: flip about the centre, rotate + zoom about the centre, shift, resize
        f = np.array([[-1.0 if self.flip else 1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
        t0 = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
        r = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]) * np.array([[self.zoom], [self.zoom], [1]])
        t1 = np.array([[1, 0, cx + self.shift_xy[0]], [0, 1, cy + self.shift_xy[1]], [0, 0, 1]])
        sc = np.diag([s, s, 1.0])
        m = sc @ t1 @ r @ f @ t0
        return m[:2]

    def map_point(self, xy: tuple[float, float], size: tuple[int, int]) -> tuple[float, float]:
        m = self.matrix(size)
        x, y = xy
        return (float(m[0, 0] * x + m[0, 1] * y + m[0, 2]), float(m[1, 0] * x + m[1, 1] * y + m[1, 2]))

    def apply(self, image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        out = self.out_size or w
        warped = cv2.warpAffine(
            image, self.matrix((h, w)), (out, out * h // w), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        f: np.ndarray = warped.astype(np.float32) / 255.0
        if self.blur > 0:
            f = cv2.GaussianBlur(f, (0, 0), self.blur)
        f = np.clip(f * self.gain, 0, 1) ** self.gamma
        if self.warmth:
            f[..., 0] *= 1 + self.warmth
            f[..., 2] *= 1 - self.warmth
        return np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def laterality(self, base: str = RETINA_LATERALITY) -> str:
        return ({"L": "R", "R": "L"}[base]) if self.flip else base


def random_derivation(rng: np.random.Generator, allow_flip: bool = True) -> Derivation:
    d = Derivation(
        flip=bool(allow_flip and rng.random() < 0.5),
        angle_deg=float(rng.uniform(-12, 12)),
        zoom=float(rng.uniform(0.92, 1.12)),
        shift_xy=(float(rng.uniform(-40, 40)), float(rng.uniform(-40, 40))),
        gamma=float(rng.uniform(0.8, 1.25)),
        gain=float(rng.uniform(0.9, 1.1)),
        warmth=float(rng.uniform(-0.08, 0.08)),
        blur=float(rng.choice([0.0, 0.0, 1.0, 1.8])),
    )
    parts = []
    if d.flip:
        parts.append("mirrored (fellow-eye appearance)")
    parts.append(f"rotated {d.angle_deg:+.1f} deg, zoom {d.zoom:.2f}, gamma {d.gamma:.2f}, gain {d.gain:.2f}, warmth {d.warmth:+.2f}")
    if d.blur:
        parts.append(f"defocus blur {d.blur:.1f} px")
    d.description = "; ".join(parts)
    return d


def paint_lesion(
    rng: np.random.Generator, image: np.ndarray, kind: str, center_xy: tuple[float, float], size_px: float, fov: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Paint one lesion of ``kind`` centred at ``center_xy``. Returns (new image, bool mask).

    Pixels outside the returned mask are left unchanged.
    """
    h, w = image.shape[:2]
    f = image.astype(np.float32)
    cy, cx = center_xy[1], center_xy[0]
    if kind == "retinal hemorrhage":
        alpha = irregular_blob(rng, (h, w), (cy, cx), size_px, roughness=0.5, elongation=1.8)
        target = f * np.array([0.5, 0.26, 0.26], np.float32)
        strength = 0.8
    elif kind == "retinal hard exudates":
        alpha = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(5, 12))):
            oy, ox = rng.normal(0, size_px * 0.8, 2)
            alpha = np.maximum(alpha, irregular_blob(rng, (h, w), (cy + oy, cx + ox), rng.uniform(0.12, 0.3) * size_px, roughness=0.3))
        target = np.broadcast_to(np.array([250, 235, 120], np.float32), f.shape)
        strength = 0.85
    elif kind == "cotton-wool spots":
        alpha = irregular_blob(rng, (h, w), (cy, cx), size_px, roughness=0.6, elongation=1.6)
        alpha = np.clip(alpha * (0.8 + 0.2 * smooth_noise(rng, (h, w), size_px / 4)), 0, 1) if size_px > 2 else alpha
        target = np.broadcast_to(np.array([240, 225, 205], np.float32), f.shape)
        strength = 0.7
    elif kind == "retinal whitening":
        alpha = irregular_blob(rng, (h, w), (cy, cx), size_px, roughness=0.3, elongation=1.3)
        target = np.minimum(f * 1.35 + 40, 255)
        strength = 0.55
    else:
        raise ValueError(f"unknown fundus lesion '{kind}'; choose from {FUNDUS_LESIONS}")
    inside_fov = fov_mask(image) if fov is None else fov
    alpha = alpha * inside_fov
    a = (alpha * strength)[..., None]
    out = f * (1 - a) + target * a
    new = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    mask = (alpha > 0.35) & inside_fov
    # keep the contract "outside the mask nothing changes": faint halo pixels are reverted
    new[~mask] = image[~mask]
    return new, mask


def random_lesion_site(
    rng: np.random.Generator, image: np.ndarray, fovea_xy: tuple[float, float], margin: float = 120, fov: np.ndarray | None = None
) -> tuple[float, float]:
    """A point inside the field of view, within ~3.5 mm of the fovea."""
    fov = fov_mask(image) if fov is None else fov
    h, w = fov.shape
    for _ in range(200):
        r = rng.uniform(0.3, 3.5) * PX_PER_MM * w / 1411
        t = rng.uniform(0, 2 * np.pi)
        x, y = fovea_xy[0] + r * np.cos(t), fovea_xy[1] + r * np.sin(t)
        if margin <= x < w - margin and margin <= y < h - margin and fov[int(y), int(x)]:
            return float(x), float(y)
    return fovea_xy
