"""Tiled, native-resolution inference: a grid of overlapping tiles over an image, the tiles that
lie in a fundus photo's field of view, and heatmaps stitched back with overlap blending.

With ``tiles = n`` the image is cut into n x n tiles per side that overlap by ``overlap`` of a
tile's side, so an encoder with a fixed input (256 px for LiteMedSAM) sees each part of a 1411 px
photo n times less shrunk. ``tiles = 1`` is a single tile: the whole image, today's behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_FOV_SHARE = 0.02  # a tile with less of the field of view than this is skipped


@dataclass(frozen=True)
class Tile:
    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    def crop(self, a: np.ndarray) -> np.ndarray:
        return a[self.y0 : self.y1, self.x0 : self.x1]

    def as_list(self) -> list[int]:
        return [self.y0, self.y1, self.x0, self.x1]


def _starts(length: int, n: int, overlap: float) -> tuple[list[int], int]:
    """Start offsets and side of ``n`` tiles overlapping by ``overlap`` that cover ``length``."""
    if n <= 1 or length <= 1:
        return [0], length
    side = min(length, int(np.ceil(length / (n - (n - 1) * overlap))))
    starts = np.round(np.linspace(0, length - side, n)).astype(int)
    return sorted({int(s) for s in starts}), side


def tile_grid(h: int, w: int, tiles: int, overlap: float = 0.25) -> list[Tile]:
    """``tiles`` x ``tiles`` tiles (row-major) covering an ``h`` x ``w`` image, neighbours
    overlapping by ``overlap`` of a tile's side; ``tiles = 1`` gives the whole image."""
    if tiles < 1:
        raise ValueError(f"tiles must be >= 1, got {tiles}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must lie in [0, 1), got {overlap}")
    ys, th = _starts(h, tiles, overlap)
    xs, tw = _starts(w, tiles, overlap)
    return [Tile(y, y + th, x, x + tw) for y in ys for x in xs]


def field_of_view(pixels: np.ndarray, threshold: int = 20, max_side: int = 512) -> np.ndarray:
    """The camera's field of view of a fundus photo: pixels brighter than the black surround (the
    largest such region, holes filled). An image without a dark surround is all field of view.

    Found on a copy subsampled to at most ``max_side`` px (the boundary is then exact to the
    subsampling step, 3 px on a 1411 px photo) and brought back to full size: it runs beside the
    window on every prediction, and the full-size labelling took 0.2-0.3 s of the interpreter."""
    from scipy import ndimage

    a = np.asarray(pixels)
    h, w = a.shape[:2]
    step = max(1, int(np.ceil(max(h, w) / max_side)))
    a = a[::step, ::step]
    if a.ndim == 3:  # the brightest channel; np.maximum is many times faster than a.max(axis=-1)
        grey = a[..., 0]
        for c in range(1, a.shape[-1]):
            grey = np.maximum(grey, a[..., c])
    else:
        grey = a
    if grey.dtype != np.uint8:
        lo, hi = float(grey.min()), float(grey.max())
        grey = (grey - lo) / max(hi - lo, 1e-6) * 255.0
    mask = grey > threshold
    labels, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum(mask, labels, index=range(1, n + 1))
        mask = labels == (1 + int(np.argmax(sizes)))
    mask = ndimage.binary_fill_holes(mask)
    if not mask.any():
        return np.ones((h, w), bool)
    if step > 1:
        mask = np.repeat(np.repeat(mask, step, axis=0), step, axis=1)[:h, :w]
    return mask


def tiles_in_view(grid: list[Tile], fov: np.ndarray | None, min_share: float = MIN_FOV_SHARE) -> list[Tile]:
    """The tiles of ``grid`` holding at least ``min_share`` of field of view (all when ``fov`` is
    None, or when no tile would be kept)."""
    if fov is None or len(grid) == 1:
        return list(grid)
    kept = [t for t in grid if float(t.crop(fov).mean()) >= min_share]
    return kept or list(grid)


def page_tiles(pixels: np.ndarray, tiles: int, overlap: float, fundus: bool) -> list[Tile] | None:
    """The tiles one page (a photo or one B-scan) is encoded in, or None for the whole page
    (``tiles = 1``); on a fundus photo the tiles outside the camera's field of view are left out."""
    if tiles <= 1:
        return None
    grid = tile_grid(pixels.shape[0], pixels.shape[1], tiles, overlap)
    return tiles_in_view(grid, field_of_view(pixels) if fundus else None)


def resize_map(a: np.ndarray, hw: tuple[int, int], antialias: bool = True) -> np.ndarray:
    """A map resized (bilinear; ``antialias`` matters only when shrinking) to ``hw``."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(a, np.float32))[None, None]
    out = F.interpolate(t, size=hw, mode="bilinear", align_corners=False, antialias=antialias)
    return out[0, 0].numpy().astype(np.float32)


def blend_weight(shape: tuple[int, int], ramp: int) -> np.ndarray:
    """A tile's blending weight: 1 inside, falling linearly towards its edges over ``ramp`` pixels
    (never to zero, so every covered pixel has a weight)."""
    h, w = shape

    def axis(n: int) -> np.ndarray:
        d = np.minimum(np.arange(n), np.arange(n)[::-1]).astype(np.float32) + 1.0
        return np.clip(d / max(ramp, 1), 1e-3, 1.0)

    return np.outer(axis(h), axis(w)).astype(np.float32)


def stitch(maps: list[np.ndarray], tiles: list[Tile], shape: tuple[int, int], fill: float | None = None) -> np.ndarray:
    """Maps of ``tiles`` (each the tile's shape) blended into one ``shape`` map: a weighted mean
    where tiles overlap (weights ramp down towards tile edges). Pixels no tile covers get ``fill``
    (by default the lowest stitched value: they lie outside the field of view)."""
    if len(maps) != len(tiles) or not tiles:
        raise ValueError("stitch needs one map per tile and at least one tile")
    if len(tiles) == 1 and tiles[0].shape == tuple(shape):
        return np.asarray(maps[0], np.float32)
    acc = np.zeros(shape, np.float64)
    wsum = np.zeros(shape, np.float64)
    for m, t in zip(maps, tiles):
        if tuple(m.shape) != t.shape:
            raise ValueError(f"tile map of shape {m.shape} does not fit tile {t.as_list()}")
        ramp = max(1, min(t.shape) // 8)
        wgt = blend_weight(t.shape, ramp)
        acc[t.y0 : t.y1, t.x0 : t.x1] += wgt * m
        wsum[t.y0 : t.y1, t.x0 : t.x1] += wgt
    covered = wsum > 0
    out = np.empty(shape, np.float64)
    out[covered] = acc[covered] / wsum[covered]
    out[~covered] = float(out[covered].min()) if fill is None else fill
    return out.astype(np.float32)
