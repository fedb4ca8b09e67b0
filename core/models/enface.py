"""En-face anomaly map of an OCT volume: where on the fundus the anomalies are.

Every B-scan's heatmap is reduced to one value per A-scan (column): the maximum over depth. Each
B-scan was acquired along a line on the localizer (IR/SLO image or the paired fundus photo; the
device's coordinates, ``ImageRecord.bscan_positions``, with B-scan column 0 at the line's start),
so column ``c`` of B-scan ``k`` lies at ``start_k + c / (W - 1) * (end_k - start_k)``. A pixel of the
localizer takes the value of the nearest B-scan line (within half the spacing between lines) at
the column it projects onto, linearly interpolated between columns; pixels no B-scan covers are
NaN. A raster scan thus fills the scanned rectangle with one band per B-scan, centred on its line;
a single line (or a radial scan) draws bands of a few pixels.

Qt-free: the GUI draws the map over the localizer as an overlay; it is stored with the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.domain import LoadedCase, ScanLine

MAX_SIDE = 512  # the map's grid has at most this many cells a side and covers the whole localizer image


@dataclass(frozen=True)
class EnFace:
    values: np.ndarray  # float32 (h, w) covering the whole image ``on``; NaN where no B-scan lies
    on: str  # name of the image (in the same case) the map lies on


def ascan_maxima(heat: np.ndarray) -> np.ndarray:
    """(N, H, W) B-scan maps -> (N, W): the maximum of every A-scan (column) over depth."""
    a = np.asarray(heat, np.float32)
    if a.ndim != 3:
        raise ValueError(f"expected an (N, H, W) stack of B-scan maps, got shape {a.shape}")
    return a.max(axis=1)


def line_half_width(positions: Sequence[ScanLine]) -> float:
    """Half the distance between neighbouring B-scan lines (perpendicular, median over the volume),
    at least 1.5 px; a single line (or lines through one point) gets 1 % of its length."""
    lengths = [float(np.hypot(p.end[0] - p.start[0], p.end[1] - p.start[1])) for p in positions]
    gaps = []
    for a, b in zip(positions[:-1], positions[1:], strict=True):
        d = np.subtract(a.end, a.start)
        n = float(np.hypot(*d))
        if n <= 0:
            continue
        mx, my = (b.start[0] + b.end[0]) / 2.0 - a.start[0], (b.start[1] + b.end[1]) / 2.0 - a.start[1]
        gaps.append(abs(float(d[0] * my - d[1] * mx)) / n)
    gap = float(np.median(gaps)) if gaps else 0.0
    if gap < 1.0:
        return max(1.5, 0.01 * max(lengths, default=0.0))
    return max(1.5, gap / 2.0)


def place_on_image(
    profiles: np.ndarray,
    positions: Sequence[ScanLine],
    image_hw: tuple[int, int],
    max_side: int = MAX_SIDE,
    half_width: float | None = None,
) -> np.ndarray:
    """(N, W) A-scan values -> (h, w) float32 map over an image of ``image_hw`` pixels (h, w at most
    ``max_side``; each cell is sampled at its centre in image pixel coordinates). NaN off the scan."""
    prof = np.asarray(profiles, np.float32)
    if prof.ndim != 2 or len(positions) != prof.shape[0]:
        raise ValueError(f"{prof.shape[0] if prof.ndim == 2 else '?'} B-scan profiles for {len(positions)} positions")
    ih, iw = int(image_hw[0]), int(image_hw[1])
    scale = min(1.0, max_side / max(ih, iw))
    gh, gw = max(1, int(round(ih * scale))), max(1, int(round(iw * scale)))
    ys = (np.arange(gh) + 0.5) * (ih / gh) - 0.5
    xs = (np.arange(gw) + 0.5) * (iw / gw) - 0.5
    px, py = np.meshgrid(xs, ys)
    hw = line_half_width(positions) if half_width is None else float(half_width)
    hw = max(hw, 0.5 * ih / gh)  # a line is never thinner than one grid cell
    n_cols = prof.shape[1]
    best = np.full((gh, gw), np.inf)
    out = np.full((gh, gw), np.nan, np.float32)
    for k, line in enumerate(positions):
        (x0, y0), (x1, y1) = line.start, line.end
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        if length2 <= 0:
            continue
        t = ((px - x0) * dx + (py - y0) * dy) / length2
        dist = np.abs((px - x0) * dy - (py - y0) * dx) / np.sqrt(length2)
        slack = 0.5 / max(n_cols - 1, 1)  # half a column beyond either end still belongs to the line
        take = (t >= -slack) & (t <= 1.0 + slack) & (dist <= hw) & (dist < best)
        if not take.any():
            continue
        col = np.clip(t[take], 0.0, 1.0) * (n_cols - 1)
        c0 = np.floor(col).astype(np.int64)
        c1 = np.minimum(c0 + 1, n_cols - 1)
        frac = (col - c0).astype(np.float32)
        out[take] = prof[k, c0] * (1.0 - frac) + prof[k, c1] * frac
        best[take] = dist[take]
    return out


def enface_map(heat: np.ndarray, positions: Sequence[ScanLine], image_hw: tuple[int, int], max_side: int = MAX_SIDE) -> np.ndarray:
    """The en-face map of an (N, H, W) stack of B-scan maps on an image of ``image_hw`` pixels."""
    return place_on_image(ascan_maxima(heat), positions, image_hw, max_side)


def enface_for_case(case: LoadedCase, image_name: str, heat: np.ndarray) -> EnFace | None:
    """The en-face map of ``image_name``'s (N, H, W) heatmap on the image its B-scan positions refer
    to, or None (a single B-scan, no positions, no such image in the case, or counts that differ)."""
    im = case.images.get(image_name)
    heat = np.asarray(heat)
    if im is None or heat.ndim != 3 or not im.record.is_stack:
        return None
    positions = im.record.bscan_positions
    target = case.images.get(im.record.localizer_name or "")
    if not positions or target is None or len(positions) != heat.shape[0]:
        return None
    hw = (int(target.array.shape[0]), int(target.array.shape[1]))
    return EnFace(enface_map(heat, positions, hw), target.record.name)


def nearest_bscan(x: float, y: float, positions: Sequence[ScanLine], tolerance: float) -> int | None:
    """The B-scan whose line passes closest to (x, y) (within ``tolerance`` pixels, between the
    line's ends), or None: what a click on the localizer selects."""
    best, best_d = None, float(tolerance)
    for k, line in enumerate(positions):
        (x0, y0), (x1, y1) = line.start, line.end
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        if length2 <= 0:
            d = float(np.hypot(x - x0, y - y0))
        else:
            t = float(np.clip(((x - x0) * dx + (y - y0) * dy) / length2, 0.0, 1.0))
            d = float(np.hypot(x - (x0 + t * dx), y - (y0 + t * dy)))
        if d <= best_d:
            best, best_d = k, d
    return best
