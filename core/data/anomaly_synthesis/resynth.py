"""ReSynthDetect's consistent anomaly generator (Niu et al., section 3.3).

1. Draw a source image I_s and a target image I_t from the normal training images.
2. Apply three augmentations drawn without replacement from {sharpen, solarize, gamma contrast,
   hue change, colour temperature, autocontrast, random colour shift} to I_s.
3. Cut a crop C_s of random size at a random location of the augmented source.
4. Perlin noise of the crop's size, thresholded, gives the binary shape P.
5. Self-mix paste: D = Euclidean distance transform of P, W = (1 - alpha) * norm(D) + alpha
   (alpha = 0.7), C = (P * W) * C_s + (1 - P * W) * C_t at a random target location; the mask is P.

Lesions are placed where the images have retina (fundus field of view, OCT tissue band), so no
crop of black surround is pasted and nothing is pasted into the surround. Pixels outside the mask
are never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.data.anomaly_synthesis.common import as_hwc_uint8, box_around, foreground_mask, random_point_in, restore_layout
from core.data.anomaly_synthesis.perlin import perlin_mask

# -- the augmentation pool (uint8 RGB in, uint8 RGB out) -----------------------------------------


def _sharpen(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    alpha, lightness = rng.uniform(0.3, 1.0), rng.uniform(0.75, 1.5)
    k = np.array([[-1, -1, -1], [-1, 8 + lightness, -1], [-1, -1, -1]], np.float32)
    ident = np.zeros((3, 3), np.float32)
    ident[1, 1] = 1
    kernel = (1 - alpha) * ident + alpha * k
    return np.clip(cv2.filter2D(img.astype(np.float32), -1, kernel), 0, 255).astype(np.uint8)


def _solarize(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    t = int(rng.integers(32, 129))
    return np.where(img >= t, 255 - img, img).astype(np.uint8)


def _gamma(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    g = rng.uniform(0.5, 2.0, size=3).astype(np.float32)  # per channel
    return np.clip(255.0 * (img.astype(np.float32) / 255.0) ** g + 0.5, 0, 255).astype(np.uint8)


def _hue(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.int16)
    shift = int(rng.integers(-50, 51)) // 2  # degrees -> OpenCV's 0..179 hue
    hsv[..., 0] = (hsv[..., 0] + shift) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.7, 1.5), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def kelvin_to_rgb(kelvin: float) -> np.ndarray:
    """Approximate colour of a black body (Tanner Helland's fit), RGB in 0..1."""
    t = kelvin / 100.0
    r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    g = 99.4708025861 * np.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * np.log(t - 10) - 305.0447927307)
    return np.clip(np.array([r, g, b], np.float32), 1.0, 255.0) / 255.0


def _colour_temperature(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mult = kelvin_to_rgb(float(rng.uniform(1100, 10000))) / kelvin_to_rgb(6600.0)
    mult = mult / mult.max()
    return np.clip(img.astype(np.float32) * mult + 0.5, 0, 255).astype(np.uint8)


def _autocontrast(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cut = rng.uniform(0.0, 20.0)
    out = np.empty_like(img)
    for c in range(3):
        ch = img[..., c].astype(np.float32)
        lo, hi = np.percentile(ch, [cut, 100 - cut])
        if hi - lo < 1:
            out[..., c] = img[..., c]
            continue
        out[..., c] = np.clip((ch - lo) / (hi - lo) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


def _colour_shift(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shift = rng.uniform(-40, 40, size=3).astype(np.float32)
    return np.clip(img.astype(np.float32) + shift, 0, 255).astype(np.uint8)


AUGMENTATIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "sharpen": _sharpen,
    "solarize": _solarize,
    "gamma_contrast": _gamma,
    "hue": _hue,
    "colour_temperature": _colour_temperature,
    "autocontrast": _autocontrast,
    "colour_shift": _colour_shift,
}


def self_mix_weights(mask: np.ndarray, alpha: float) -> np.ndarray:
    """Eq. 3: W = (1 - alpha) * (D - min D) / (max D - min D) + alpha with D the Euclidean
    distance of each pixel of the mask to the nearest background pixel."""
    from scipy import ndimage

    d = ndimage.distance_transform_edt(mask).astype(np.float32)
    lo, hi = float(d.min()), float(d.max())
    norm = (d - lo) / (hi - lo) if hi > lo else np.zeros_like(d)
    return ((1.0 - alpha) * norm + alpha).astype(np.float32)


@dataclass
class Sample:
    image: np.ndarray  # same layout and dtype (uint8) as the target image
    mask: np.ndarray  # bool (H, W), True where a lesion was pasted
    info: dict = field(default_factory=dict)


class ConsistentAnomalyGenerator:
    """Synthetic lesions made from the normal images themselves.

    ``images``: normal images (all the same size: the training resolution), grey or RGB.
    ``generator(rng)`` returns ``(image, mask)``; ``generator.sample(rng)`` also says what it did.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        modality: str = "fundus",
        *,
        alpha: float = 0.7,
        n_augmentations: int = 3,
        crop_fraction: tuple[float, float] = (0.08, 0.35),
        perlin_scales: tuple[int, int] = (1, 3),
        threshold: float = 0.3,
        augmentations: Sequence[str] | None = None,
    ):
        if not images:
            raise ValueError("the anomaly generator needs at least one normal image")
        converted = [as_hwc_uint8(im) for im in images]
        shapes = {im.shape for im, _ in converted}
        if len(shapes) != 1:
            raise ValueError(f"all normal images must have the same size, got {sorted(shapes)}")
        self.images = [im for im, _ in converted]
        self.grey = converted[0][1]
        self.modality = modality
        self.foreground = [foreground_mask(im, modality) for im in self.images]
        self.alpha = float(alpha)
        names = list(augmentations) if augmentations else list(AUGMENTATIONS)
        unknown = set(names) - set(AUGMENTATIONS)
        if unknown:
            raise ValueError(f"unknown augmentation(s) {sorted(unknown)}; known: {sorted(AUGMENTATIONS)}")
        self.augmentations = names
        self.n_aug = min(int(n_augmentations), len(names))
        self.crop_fraction = (float(crop_fraction[0]), float(crop_fraction[1]))
        self.perlin_scales = (int(perlin_scales[0]), int(perlin_scales[1]))
        self.threshold = float(threshold)

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        s = self.sample(rng)
        return s.image, s.mask

    def augment(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
        chosen = [str(n) for n in rng.choice(self.augmentations, size=self.n_aug, replace=False)]
        out = image
        for name in chosen:
            out = AUGMENTATIONS[name](out, rng)
        return out, chosen

    def sample(self, rng: np.random.Generator, target: int | None = None) -> Sample:
        n = len(self.images)
        ti = int(rng.integers(0, n)) if target is None else int(target)
        si = int(rng.integers(0, n))
        tgt, src = self.images[ti], self.images[si]
        h, w = tgt.shape[:2]
        side = min(h, w)
        ch = max(4, int(round(side * rng.uniform(*self.crop_fraction))))
        cw = max(4, int(round(side * rng.uniform(*self.crop_fraction))))
        ch, cw = min(ch, h), min(cw, w)
        aug, chosen = self.augment(src, rng)
        sy, sx = box_around(random_point_in(self.foreground[si], rng), (ch, cw), (h, w))
        ty, tx = box_around(random_point_in(self.foreground[ti], rng), (ch, cw), (h, w))
        p = perlin_mask((ch, cw), rng, min_scale=self.perlin_scales[0], max_scale=self.perlin_scales[1], threshold=self.threshold)
        p &= self.foreground[si][sy : sy + ch, sx : sx + cw] & self.foreground[ti][ty : ty + ch, tx : tx + cw]
        out = tgt.copy()
        mask = np.zeros((h, w), bool)
        if p.any():
            weights = self_mix_weights(p, self.alpha) * p
            cs = aug[sy : sy + ch, sx : sx + cw].astype(np.float32)
            ct = tgt[ty : ty + ch, tx : tx + cw].astype(np.float32)
            mixed = weights[..., None] * cs + (1.0 - weights[..., None]) * ct
            region = out[ty : ty + ch, tx : tx + cw]
            region[p] = np.clip(mixed[p] + 0.5, 0, 255).astype(np.uint8)
            mask[ty : ty + ch, tx : tx + cw] = p
        info = {"target": ti, "source": si, "augmentations": chosen, "crop": [ch, cw], "source_box": [sy, sx], "target_box": [ty, tx]}
        return Sample(restore_layout(out, self.grey), mask, info)
