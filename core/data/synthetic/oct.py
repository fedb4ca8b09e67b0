"""Synthetic OCT B-scans with retinal layers, a foveal pit, speckle, and optional lesions.

No real OCT data exists offline; these scans are for demonstration and tests only and are always
marked synthetic. Geometry follows a Spectralis-like macular B-scan (496 x 512 px, ~6 mm wide).
Layers (top to bottom) with relative reflectivity: vitreous, RNFL, GCL, IPL, INL, OPL, ONL, ELM,
ellipsoid zone, interdigitation, RPE, choroid, sclera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from core.data.synthetic.blobs import irregular_blob

# name, thickness in px at 496 px height (away from the fovea), reflectivity, foveal thinning (0..1)
LAYERS = (
    ("rnfl", 14, 0.78, 1.0),
    ("gcl", 16, 0.45, 0.95),
    ("ipl", 12, 0.58, 0.9),
    ("inl", 13, 0.30, 0.85),
    ("opl", 9, 0.55, 0.7),
    ("onl", 32, 0.16, -0.25),  # thickens slightly at the fovea
    ("elm", 3, 0.42, 0.0),
    ("myoid", 5, 0.20, 0.0),
    ("ez", 5, 0.80, 0.0),
    ("iz", 5, 0.40, 0.0),
    ("rpe", 9, 0.95, 0.0),
    ("choroid", 45, 0.50, 0.0),
)

OCT_LESIONS = (
    "subretinal fluid",
    "intraretinal fluid",
    "middle retinal hyperreflectivity",
    "outer retinal and choroidal hyperreflectivity in the macula",
)


@dataclass
class BScan:
    image: np.ndarray  # uint8 (H, W)
    masks: dict[str, np.ndarray]  # class name -> bool (H, W)
    boundaries: np.ndarray  # (n_layers + 1, W) top edge of each layer, then bottom of the last


def _boundaries(rng: np.random.Generator, h: int, w: int, fovea_x: float, pit_scale: float = 1.0) -> np.ndarray:
    """Layer edges built upward from Bruch's membrane, so the foveal pit dips the inner surface only."""
    x = np.arange(w, dtype=np.float32)
    scale = h / 496.0
    curvature = rng.uniform(0.5e-4, 1.4e-4) * (496.0 / h)
    tilt = rng.uniform(-0.04, 0.04)
    bruch = h * rng.uniform(0.52, 0.58) + curvature * (x - fovea_x) ** 2 * scale + tilt * (x - w / 2)
    bruch = bruch + ndimage.gaussian_filter1d(rng.standard_normal(w), sigma=w / 20) * 1.5 * scale
    pit_sigma = w * rng.uniform(0.07, 0.1)
    pit = np.exp(-0.5 * ((x - fovea_x) / pit_sigma) ** 2) * pit_scale
    retina = LAYERS[:-1]  # everything above the choroid
    edges = [bruch]
    for _, thick, _, thinning in reversed(retina):
        t = thick * scale * rng.uniform(0.9, 1.1) * (1.0 - thinning * pit * rng.uniform(0.85, 1.0))
        edges.append(edges[-1] - np.maximum(t, 0.5))
    top_down = edges[::-1]  # ILM ... Bruch
    choroid = LAYERS[-1][1] * scale * rng.uniform(0.85, 1.15)
    top_down.append(bruch + choroid)
    return np.stack(top_down).astype(np.float32)


def render_bscan(
    rng: np.random.Generator,
    height: int = 496,
    width: int = 512,
    lesions: tuple[str, ...] = (),
    fovea_x: float | None = None,
    pit_scale: float = 1.0,
) -> BScan:
    """Render one B-scan. ``lesions`` picks from :data:`OCT_LESIONS`; each gets a mask. ``pit_scale``
    (0..1) scales the foveal pit: 1 through the fovea, smaller for B-scans of a volume away from it."""
    h, w = height, width
    fovea_x = w * rng.uniform(0.45, 0.55) if fovea_x is None else fovea_x
    bounds = _boundaries(rng, h, w, fovea_x, pit_scale)
    z = np.arange(h, dtype=np.float32)[:, None]
    refl = np.full((h, w), 0.01, np.float32)  # vitreous
    for i, (_, _, r, _) in enumerate(LAYERS):
        inside = (z >= bounds[i][None]) & (z < bounds[i + 1][None])
        refl[inside] = r
    below = z >= bounds[-1][None]
    refl[below] = 0.12 * np.exp(-(z - bounds[-1][None]) / (h * 0.08))[below]  # sclera fades
    # choroid vessels: dark lumens
    ch_top, ch_bot = bounds[len(LAYERS) - 1], bounds[len(LAYERS)]
    vessels = irregular_blob(rng, (h, w), (float(np.mean(ch_top + ch_bot) / 2), w * 0.3), 6) + irregular_blob(
        rng, (h, w), (float(np.mean(ch_top + ch_bot) / 2 + 8), w * 0.7), 7
    )
    refl *= 1.0 - 0.5 * np.clip(vessels, 0, 1)

    masks: dict[str, np.ndarray] = {}
    layer_index = {name: i for i, (name, *_rest) in enumerate(LAYERS)}
    for lesion in lesions:
        if lesion == "subretinal fluid":
            cx = fovea_x + rng.uniform(-0.12, 0.12) * w
            half = w * rng.uniform(0.07, 0.14)
            depth = h * rng.uniform(0.025, 0.05)
            x = np.arange(w, dtype=np.float32)
            prof = np.clip(1 - ((x - cx) / half) ** 2, 0, None) ** 0.7 * depth
            rpe_top = bounds[layer_index["rpe"]]
            inside = (z < rpe_top[None]) & (z >= (rpe_top - prof)[None]) & (prof[None] > 0.5)
            refl[inside] = 0.02
            masks[lesion] = inside
        elif lesion == "intraretinal fluid":
            m = np.zeros((h, w), bool)
            for _ in range(int(rng.integers(2, 5))):
                cx = fovea_x + rng.uniform(-0.15, 0.15) * w
                layer = layer_index[rng.choice(["inl", "onl"])]
                xi = int(np.clip(cx, 0, w - 1))
                cy = (bounds[layer][xi] + bounds[layer + 1][xi]) / 2
                blob = irregular_blob(rng, (h, w), (cy, cx), rng.uniform(5, 11) * h / 496, roughness=0.2) > 0.5
                m |= blob
            refl[m] = 0.02
            masks[lesion] = m
        elif lesion == "middle retinal hyperreflectivity":
            m = np.zeros((h, w), bool)
            for _ in range(int(rng.integers(4, 9))):
                cx = fovea_x + rng.uniform(-0.25, 0.25) * w
                xi = int(np.clip(cx, 0, w - 1))
                layer = layer_index[rng.choice(["inl", "opl", "onl"])]
                cy = rng.uniform(bounds[layer][xi], bounds[layer + 1][xi])
                m |= irregular_blob(rng, (h, w), (cy, cx), rng.uniform(2.0, 3.5) * h / 496, roughness=0.1) > 0.5
            refl[m] = 0.95
            masks[lesion] = m
        elif lesion == "outer retinal and choroidal hyperreflectivity in the macula":
            cx = fovea_x + rng.uniform(-0.05, 0.05) * w
            xi = int(np.clip(cx, 0, w - 1))
            top = bounds[layer_index["elm"]][xi] - 6 * h / 496
            bot = bounds[layer_index["choroid"]][xi] + 12 * h / 496
            blob = irregular_blob(rng, (h, w), ((top + bot) / 2, cx), (bot - top) / 2.0, roughness=0.3, elongation=2.2)
            m = blob > 0.5
            refl = np.where(m, np.maximum(refl, 0.85 + 0.1 * blob), refl)
            masks[lesion] = m
        else:
            raise ValueError(f"unknown OCT lesion '{lesion}'; choose from {OCT_LESIONS}")

    # axial point-spread blur, speckle, noise floor, log-like display compression
    refl = ndimage.gaussian_filter(refl, sigma=(1.2, 0.8))
    speckle = rng.gamma(shape=1.5, scale=1 / 1.5, size=(h, w)).astype(np.float32)
    speckle = ndimage.gaussian_filter(speckle, sigma=(0.6, 1.2))
    signal = refl * speckle + 0.004 * rng.random((h, w), dtype=np.float32)
    img = np.log1p(60.0 * signal) / np.log1p(60.0 * 1.2)
    img = np.clip((img - 0.12) / 0.88, 0, 1) ** 1.3
    image = np.clip(img * 255.0, 0, 255).astype(np.uint8)
    return BScan(image=image, masks=masks, boundaries=bounds)
