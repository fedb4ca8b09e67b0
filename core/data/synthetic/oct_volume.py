"""Synthetic OCT raster volumes (always marked synthetic): B-scans of :mod:`core.data.synthetic.oct`
laid on a localizer like a macular cube, with their positions and a device-like segmentation.

B-scan 0 is the most inferior one (largest y on the localizer), as Heidelberg stores a raster;
every B-scan runs left to right. The foveal pit is deepest on the B-scan through the fovea.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.synthetic.oct import render_bscan
from core.io.ophthalmic import OctSpacing

# Heidelberg .vol segmentation rows (eyepy SEG_MAPPING order) -> index into render_bscan's layer edges
VOL_LAYER_EDGES = {0: 0, 1: 11, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6, 8: 6, 11: 12, 14: 8, 15: 9, 16: 10}
N_VOL_LAYERS = 17
FOVEAL_PIT_RADIUS_MM = 0.6


@dataclass
class SyntheticVolume:
    bscans: np.ndarray  # (N, H, W) uint8
    masks: list[dict[str, np.ndarray]]  # per B-scan: lesion class -> bool (H, W)
    positions: np.ndarray  # (N, 2, 2) [[x0, y0], [x1, y1]] on the localizer, pixels
    spacing: OctSpacing
    layers: np.ndarray  # (N, 17, W) float32 segmentation heights in rows (NaN where none)


def render_volume(
    rng: np.random.Generator,
    n: int,
    height: int,
    width: int,
    *,
    fovea_xy: tuple[float, float],
    px_per_mm: float,
    width_mm: float = 6.0,
    height_mm: float = 6.0,
    lesions: dict[int, tuple[str, ...]] | None = None,
) -> SyntheticVolume:
    """A raster of ``n`` B-scans centred on ``fovea_xy`` (localizer pixels, ``px_per_mm`` scale)."""
    lesions = lesions or {}
    fx, fy = fovea_xy
    half_w, half_h = width_mm / 2 * px_per_mm, height_mm / 2 * px_per_mm
    step_mm = height_mm / max(n - 1, 1)
    centre = (n - 1) / 2
    bscans, masks, layers, positions = [], [], [], []
    for i in range(n):
        y = fy + half_h - i * step_mm * px_per_mm if n > 1 else fy
        distance_mm = abs(i - centre) * step_mm
        pit = float(np.exp(-0.5 * (distance_mm / FOVEAL_PIT_RADIUS_MM) ** 2))
        scan = render_bscan(rng, height, width, lesions=lesions.get(i, ()), fovea_x=width / 2 + rng.uniform(-3, 3), pit_scale=pit)
        seg = np.full((N_VOL_LAYERS, width), np.nan, np.float32)
        for row, edge in VOL_LAYER_EDGES.items():
            seg[row] = scan.boundaries[edge]
        bscans.append(scan.image)
        masks.append(scan.masks)
        layers.append(seg)
        positions.append(((fx - half_w, y), (fx + half_w, y)))
    spacing = OctSpacing(
        x_um=width_mm * 1000.0 / (width - 1),
        axial_um=3.87 * 496.0 / height,  # Spectralis: 3.87 µm per row at 496 rows
        between_um=step_mm * 1000.0 if n > 1 else None,
    )
    return SyntheticVolume(np.stack(bscans), masks, np.array(positions, dtype=np.float64), spacing, np.stack(layers))
