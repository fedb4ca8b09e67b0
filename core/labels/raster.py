"""Pixel operations of label editing: brush strokes, flood fill of closed contours, crops, and
mask <-> polygon conversion.

Coordinates are image coordinates as drawn on screen: pixel ``(row i, column j)`` covers
``[j, j + 1) x [i, i + 1)``, so its centre is at ``(j + 0.5, i + 0.5)``. A brush disc of radius
``r`` centred at ``(x, y)`` covers the pixels whose centres lie within ``r`` of it (at least the
pixel under the cursor). Regions are returned as a boolean crop plus its top-left corner
``(x0, y0)``, so work stays proportional to the stroke, not to the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Region:
    """A boolean crop placed at column ``x0``, row ``y0`` of an image."""

    mask: np.ndarray
    x0: int
    y0: int

    @property
    def x1(self) -> int:
        return self.x0 + self.mask.shape[1]

    @property
    def y1(self) -> int:
        return self.y0 + self.mask.shape[0]

    def empty(self) -> bool:
        return not self.mask.any()

    def full(self, height: int, width: int) -> np.ndarray:
        out = np.zeros((height, width), dtype=bool)
        ys, xs = slice(max(self.y0, 0), min(self.y1, height)), slice(max(self.x0, 0), min(self.x1, width))
        if ys.stop > ys.start and xs.stop > xs.start:
            out[ys, xs] = self.mask[ys.start - self.y0 : ys.stop - self.y0, xs.start - self.x0 : xs.stop - self.x0]
        return out

    def window(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """This region's pixels inside the window ``[x0, x1) x [y0, y1)`` (zeros outside the crop)."""
        out = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        ix0, iy0, ix1, iy1 = max(x0, self.x0), max(y0, self.y0), min(x1, self.x1), min(y1, self.y1)
        if ix1 > ix0 and iy1 > iy0:
            out[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = self.mask[iy0 - self.y0 : iy1 - self.y0, ix0 - self.x0 : ix1 - self.x0]
        return out

    def tight(self) -> Region | None:
        """The same pixels cropped to their bounding box; None when empty."""
        ys, xs = np.nonzero(self.mask)
        if ys.size == 0:
            return None
        r0, r1, c0, c1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        return Region(np.ascontiguousarray(self.mask[r0:r1, c0:c1]), self.x0 + c0, self.y0 + r0)


def union_bbox(regions: list[Region]) -> tuple[int, int, int, int]:
    return (min(r.x0 for r in regions), min(r.y0 for r in regions), max(r.x1 for r in regions), max(r.y1 for r in regions))


def combine(regions: list[Region], subtract: Sequence[Region] = ()) -> Region | None:
    """Union of ``regions`` minus ``subtract``, cropped tight."""
    if not regions:
        return None
    x0, y0, x1, y1 = union_bbox(regions)
    acc = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    for r in regions:
        acc |= r.window(x0, y0, x1, y1)
    for r in subtract:
        acc &= ~r.window(x0, y0, x1, y1)
    return Region(acc, x0, y0).tight()


def overlaps(a: Region, b: Region, touch: bool = False) -> bool:
    """Do two regions share a pixel (or, with ``touch``, lie side by side)?"""
    pad = 1 if touch else 0
    x0, y0 = max(a.x0, b.x0 - pad), max(a.y0, b.y0 - pad)
    x1, y1 = min(a.x1, b.x1 + pad), min(a.y1, b.y1 + pad)
    if x1 <= x0 or y1 <= y0:
        return False
    wa = a.window(x0, y0, x1, y1)
    if not touch:
        return bool((wa & b.window(x0, y0, x1, y1)).any())
    from scipy import ndimage

    wb = b.window(x0 - 1, y0 - 1, x1 + 1, y1 + 1)
    wb = ndimage.binary_dilation(wb, structure=np.ones((3, 3), bool))[1:-1, 1:-1]
    return bool((wa & wb).any())


def stroke_region(points, radius: float, height: int, width: int) -> Region | None:
    """Pixels covered by a round brush of ``radius`` dragged through ``points`` ((x, y) image
    coordinates), clipped to the image. None when the stroke lies outside the image."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.size == 0:
        return None
    r = max(float(radius), 0.5)
    pad = int(np.ceil(r)) + 2
    x0 = max(int(np.floor(pts[:, 0].min())) - pad, 0)
    y0 = max(int(np.floor(pts[:, 1].min())) - pad, 0)
    x1 = min(int(np.ceil(pts[:, 0].max())) + pad, width)
    y1 = min(int(np.ceil(pts[:, 1].max())) + pad, height)
    if x1 <= x0 or y1 <= y0:
        return None
    canvas = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    segments = list(zip(pts[:-1], pts[1:])) if len(pts) > 1 else [(pts[0], pts[0])]
    for a, b in segments:
        # window of this segment, then the distance of each pixel centre to the segment
        wx0 = max(int(np.floor(min(a[0], b[0]) - r)) - 1, x0)
        wy0 = max(int(np.floor(min(a[1], b[1]) - r)) - 1, y0)
        wx1 = min(int(np.ceil(max(a[0], b[0]) + r)) + 1, x1)
        wy1 = min(int(np.ceil(max(a[1], b[1]) + r)) + 1, y1)
        if wx1 <= wx0 or wy1 <= wy0:
            continue
        cy, cx = np.mgrid[wy0:wy1, wx0:wx1].astype(np.float64) + 0.5
        d = b - a
        dd = float(d @ d)
        t = np.zeros_like(cx) if dd == 0 else np.clip(((cx - a[0]) * d[0] + (cy - a[1]) * d[1]) / dd, 0.0, 1.0)
        dist2 = (cx - a[0] - t * d[0]) ** 2 + (cy - a[1] - t * d[1]) ** 2
        canvas[wy0 - y0 : wy1 - y0, wx0 - x0 : wx1 - x0] |= dist2 <= r * r
    # the pixel under each sample is always painted, even for a tiny radius
    for px, py in pts:
        j, i = int(np.floor(px)) - x0, int(np.floor(py)) - y0
        if 0 <= i < canvas.shape[0] and 0 <= j < canvas.shape[1]:
            canvas[i, j] = True
    return Region(canvas, x0, y0).tight()


def enclosed_region(occupied: np.ndarray, x: float, y: float) -> np.ndarray | None:
    """The connected free area (4-connected) around ``(x, y)`` enclosed by ``occupied`` pixels.

    Returns None when the point is on an occupied pixel, outside the image, or the area reaches
    the image border (the contour is not closed)."""
    from scipy import ndimage

    h, w = occupied.shape
    j, i = int(np.floor(x)), int(np.floor(y))
    if not (0 <= i < h and 0 <= j < w) or occupied[i, j]:
        return None
    labels, _ = ndimage.label(~occupied, structure=np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool))
    comp = labels == labels[i, j]
    if comp[0, :].any() or comp[-1, :].any() or comp[:, 0].any() or comp[:, -1].any():
        return None
    return comp


def mask_to_polygons(
    mask: np.ndarray, tolerance: float = 0.75, min_area: int = 4, x0: int = 0, y0: int = 0
) -> tuple[list[list[list[float]]], list[np.ndarray]]:
    """Outline each connected component of ``mask`` as a polygon (LabelMe points: pixel indices).

    Returns ``(polygons, kept_as_masks)``: components with holes cannot be one polygon and come back
    as their own full-crop boolean masks, so converting never silently drops pixels. Components
    smaller than ``min_area`` pixels are dropped."""
    import cv2
    from scipy import ndimage

    m = np.ascontiguousarray(mask, dtype=np.uint8)
    polygons: list[list[list[float]]] = []
    kept: list[np.ndarray] = []
    labels, n = ndimage.label(m, structure=np.ones((3, 3), bool))
    for k in range(1, n + 1):
        comp = labels == k
        area = int(comp.sum())
        if area < min_area:
            continue
        if ndimage.binary_fill_holes(comp).sum() > area:
            kept.append(comp)
            continue
        contours, _ = cv2.findContours(comp.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if not contours:
            continue
        c = max(contours, key=len)
        approx = cv2.approxPolyDP(c, tolerance, True).reshape(-1, 2) if tolerance > 0 else c.reshape(-1, 2)
        if len(approx) < 3:
            approx = c.reshape(-1, 2)
        if len(approx) < 3:  # a one- or two-pixel-wide sliver: keep the pixels
            kept.append(comp)
            continue
        polygons.append([[float(px + x0), float(py + y0)] for px, py in approx])
    return polygons, kept


def polygon_region(points, height: int, width: int) -> Region | None:
    """Rasterise a polygon the way LabelMe does (PIL, outline included), cropped to its box."""
    from PIL import Image, ImageDraw

    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return None
    x0 = max(int(np.floor(pts[:, 0].min())) - 1, 0)
    y0 = max(int(np.floor(pts[:, 1].min())) - 1, 0)
    x1 = min(int(np.ceil(pts[:, 0].max())) + 2, width)
    y1 = min(int(np.ceil(pts[:, 1].max())) + 2, height)
    if x1 <= x0 or y1 <= y0:
        return None
    canvas = Image.new("1", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(canvas).polygon([(float(px - x0), float(py - y0)) for px, py in pts], outline=1, fill=1)
    return Region(np.asarray(canvas, dtype=bool), x0, y0).tight()
