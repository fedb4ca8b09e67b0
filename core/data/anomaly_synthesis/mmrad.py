"""MMRAD's anomaly simulation (Li et al., section 4.3.1 and Fig. 3), the same for fundus and OCT.

With probability ``p_anomaly`` (0.7 in the paper; otherwise the sample stays a pure normal):

* pi — choose the anomaly generation area: an irregular polygon in a box of random size whose
  centre lies on the retina (fundus field of view / OCT tissue band);
* phi — shift the area's distribution with a random composition of albumentations transforms:
  pixel-level (ColorJitter, ChannelShuffle, RGBShift; two of the three) and spatial-level
  (Rotate), as the paper's best "Composition" setting;
* twist the area with a random affine transform (rotation, shear, anisotropic scale), applied to
  both the transformed content and the area's mask, then paste it back.

The mask is exactly the set of pixels that were replaced; every other pixel is unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from core.data.anomaly_synthesis.common import as_hwc_uint8, box_around, foreground_mask, random_point_in, restore_layout


@dataclass
class SimulatedSample:
    image: np.ndarray
    mask: np.ndarray
    info: dict = field(default_factory=dict)


def random_polygon(size: tuple[int, int], rng: np.random.Generator, vertices: tuple[int, int] = (5, 10)) -> np.ndarray:
    """Filled star-shaped polygon with random radii inside a (h, w) box."""
    import cv2

    h, w = size
    k = int(rng.integers(vertices[0], vertices[1] + 1))
    angles = np.sort(rng.uniform(0, 2 * np.pi, size=k))
    radii = rng.uniform(0.45, 1.0, size=k)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    pts = np.stack([cx + radii * np.cos(angles) * (w / 2.0), cy + radii * np.sin(angles) * (h / 2.0)], axis=1)
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    return canvas.astype(bool)


class MMRADSimulator:
    """``simulator(image, rng)`` -> ``(image, mask)``; the same layout and dtype (uint8) come back."""

    def __init__(
        self,
        modality: str = "fundus",
        *,
        p_anomaly: float = 0.7,
        size_fraction: tuple[float, float] = (0.08, 0.35),
        affine_rotate: float = 45.0,
        affine_shear: float = 25.0,
        affine_scale: tuple[float, float] = (0.7, 1.3),
        pixel_transforms: tuple[str, ...] = ("color_jitter", "channel_shuffle", "rgb_shift"),
        n_pixel: int = 2,
        rotate: bool = True,
        min_change: float = 2.0,
    ):
        self.modality = modality
        self.p_anomaly = float(p_anomaly)
        self.size_fraction = (float(size_fraction[0]), float(size_fraction[1]))
        self.affine_rotate = float(affine_rotate)
        self.affine_shear = float(affine_shear)
        self.affine_scale = (float(affine_scale[0]), float(affine_scale[1]))
        self.pixel_transforms = tuple(pixel_transforms)
        self.n_pixel = max(1, min(int(n_pixel), len(self.pixel_transforms))) if self.pixel_transforms else 0
        self.rotate = bool(rotate)
        self.min_change = float(min_change)
        self._compose = None

    # -- phi: the albumentations composition ------------------------------------------------------
    @property
    def compose(self):
        if self._compose is None:
            os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
            import albumentations as A
            import cv2

            pool = {
                "color_jitter": A.ColorJitter(brightness=(0.5, 1.5), contrast=(0.5, 1.5), saturation=(0.5, 1.5), hue=(-0.15, 0.15), p=1.0),
                "channel_shuffle": A.ChannelShuffle(p=1.0),
                "rgb_shift": A.RGBShift(r_shift_limit=(-50, 50), g_shift_limit=(-50, 50), b_shift_limit=(-50, 50), p=1.0),
            }
            unknown = set(self.pixel_transforms) - set(pool)
            if unknown:
                raise ValueError(f"unknown pixel transform(s) {sorted(unknown)}; known: {sorted(pool)}")
            steps = []
            if self.pixel_transforms:
                steps.append(A.SomeOf([pool[n] for n in self.pixel_transforms], n=self.n_pixel, replace=False, p=1.0))
            if self.rotate:
                steps.append(A.Rotate(limit=(-180, 180), border_mode=cv2.BORDER_REFLECT_101, p=0.5))
            self._compose = A.Compose(steps, seed=0)
        return self._compose

    def transform(self, patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.compose
        c.set_random_seed(int(rng.integers(0, 2**31 - 1)))
        return c(image=patch)["image"]

    # -- the workflow ------------------------------------------------------------------------------
    def __call__(self, image: np.ndarray, rng: np.random.Generator, foreground: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        s = self.sample(image, rng, foreground)
        return s.image, s.mask

    def sample(
        self, image: np.ndarray, rng: np.random.Generator, foreground: np.ndarray | None = None, force: bool | None = None
    ) -> SimulatedSample:
        """One simulated sample. ``force`` True/False overrides the p_anomaly draw (gallery, tests)."""
        import cv2

        rgb, grey = as_hwc_uint8(image)
        h, w = rgb.shape[:2]
        apply = (rng.random() < self.p_anomaly) if force is None else bool(force)
        if not apply:
            return SimulatedSample(restore_layout(rgb.copy(), grey), np.zeros((h, w), bool), {"anomaly": False})
        fg = foreground if foreground is not None else foreground_mask(rgb, self.modality)
        side = min(h, w)
        bh = max(6, min(h, int(round(side * rng.uniform(*self.size_fraction)))))
        bw = max(6, min(w, int(round(side * rng.uniform(*self.size_fraction)))))
        y0, x0 = box_around(random_point_in(fg, rng), (bh, bw), (h, w))
        # pi: the area (irregular polygon) and its content
        area = random_polygon((bh, bw), rng)
        patch = rgb[y0 : y0 + bh, x0 : x0 + bw].copy()
        # phi: distribution shift of the area
        changed = self.transform(patch, rng)
        # affine twist of content + area about the box centre
        angle = rng.uniform(-self.affine_rotate, self.affine_rotate)
        shear = np.deg2rad(rng.uniform(-self.affine_shear, self.affine_shear))
        sy, sx = rng.uniform(*self.affine_scale), rng.uniform(*self.affine_scale)
        cy, cx = (bh - 1) / 2.0, (bw - 1) / 2.0
        rot = cv2.getRotationMatrix2D((0.0, 0.0), angle, 1.0)[:, :2]
        lin = rot @ np.array([[1.0, np.tan(shear)], [0.0, 1.0]]) @ np.diag([sx, sy])
        # warp into a canvas large enough for the twisted area, then crop what lies on the image
        corners = np.array([[-cx, -cy], [cx, -cy], [-cx, cy], [cx, cy]]) @ lin.T
        half = np.ceil(np.abs(corners).max(axis=0)).astype(int) + 1  # (x, y)
        ow, oh = 2 * half[0] + 1, 2 * half[1] + 1
        m = np.hstack([lin, (np.array([half[0], half[1]]) - lin @ np.array([cx, cy]))[:, None]]).astype(np.float32)
        warped = cv2.warpAffine(changed, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        warped_area = cv2.warpAffine(area.astype(np.uint8), m, (ow, oh), flags=cv2.INTER_NEAREST, borderValue=0).astype(bool)
        # place the canvas centred on the box centre
        gy0, gx0 = int(round(y0 + cy)) - half[1], int(round(x0 + cx)) - half[0]
        iy0, ix0 = max(gy0, 0), max(gx0, 0)
        iy1, ix1 = min(gy0 + oh, h), min(gx0 + ow, w)
        mask = np.zeros((h, w), bool)
        out = rgb.copy()
        if iy1 > iy0 and ix1 > ix0:
            sub_area = warped_area[iy0 - gy0 : iy1 - gy0, ix0 - gx0 : ix1 - gx0] & fg[iy0:iy1, ix0:ix1]
            sub = warped[iy0 - gy0 : iy1 - gy0, ix0 - gx0 : ix1 - gx0]
            region = out[iy0:iy1, ix0:ix1]
            region[sub_area] = sub[sub_area]
            mask[iy0:iy1, ix0:ix1] = sub_area
        result = restore_layout(out, grey)
        original = restore_layout(rgb, grey)
        if mask.any():
            diff = np.abs(result.astype(np.int16) - original.astype(np.int16))
            diff = diff.max(axis=-1) if diff.ndim == 3 else diff
            if float(diff[mask].mean()) < self.min_change:
                # the transforms left the area (nearly) as it was, e.g. ChannelShuffle on a grey
                # OCT: this is no anomaly, so the sample stays a pure normal
                return SimulatedSample(original, np.zeros((h, w), bool), {"anomaly": False, "note": "no visible change"})
        info = {
            "anomaly": bool(mask.any()),
            "box": [int(y0), int(x0), int(bh), int(bw)],
            "angle": float(angle),
            "shear_deg": float(np.rad2deg(shear)),
            "scale": [float(sy), float(sx)],
        }
        return SimulatedSample(result, mask, info)
