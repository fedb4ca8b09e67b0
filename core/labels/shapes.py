"""Shape helpers for editing: pixel regions of LabelMe shapes, translation, mask <-> polygon.

Shapes are treated as immutable values while editing: every operation returns new ``Shape``
objects, so undo snapshots can share the unchanged ones.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from core.io.labelme import Shape
from core.labels.raster import Region, mask_to_polygons, polygon_region

AREA_TYPES = ("polygon", "rectangle", "circle", "mask")
PIXEL_CENTRE = 0.5  # a LabelMe point p is drawn at view position p + 0.5 (pixel j spans [j, j + 1))


def view_to_label(x: float, y: float) -> list[float]:
    return [float(x) - PIXEL_CENTRE, float(y) - PIXEL_CENTRE]


def label_to_view(points) -> np.ndarray:
    return np.asarray(points, dtype=np.float64).reshape(-1, 2) + PIXEL_CENTRE


def shape_region(shape: Shape, height: int, width: int) -> Region | None:
    """The pixels a shape covers on an ``height`` x ``width`` image, as a tight crop."""
    if shape.shape_type == "mask":
        if shape.mask is None:
            return None
        x0, y0 = (int(round(v)) for v in shape.points[0])
        region = Region(np.asarray(shape.mask, bool), x0, y0).tight()
        if region is not None and height > 0 and width > 0:
            region = clip_region(region, height, width)
        return region
    if shape.shape_type == "polygon":
        return polygon_region(shape.points, height, width)
    return Region(shape.rasterize(height, width), 0, 0).tight()


def region_to_shape(label: str, region: Region, like: Shape | None = None) -> Shape:
    """A mask shape holding ``region``; keeps group id, description, flags and unknown keys of ``like``."""
    pts = [[float(region.x0), float(region.y0)], [float(region.x1 - 1), float(region.y1 - 1)]]
    if like is None:
        return Shape(label=label, points=pts, shape_type="mask", mask=region.mask.copy())
    return Shape(
        label=label,
        points=pts,
        shape_type="mask",
        mask=region.mask.copy(),
        group_id=like.group_id,
        description=like.description,
        flags=dict(like.flags),
        extra=copy.deepcopy(like.extra),
    )


def clip_region(region: Region, height: int, width: int) -> Region | None:
    x0, y0, x1, y1 = max(region.x0, 0), max(region.y0, 0), min(region.x1, width), min(region.y1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return Region(region.window(x0, y0, x1, y1), x0, y0).tight()


def translated(shape: Shape, dx: float, dy: float, height: int | None = None, width: int | None = None) -> Shape:
    """The shape moved by ``(dx, dy)``. Masks move by whole pixels and are clipped to the image."""
    if shape.shape_type == "mask":
        region = shape_region(shape, height or 0, width or 0)
        if region is None:
            return shape
        moved = Region(region.mask, region.x0 + int(round(dx)), region.y0 + int(round(dy)))
        if height is not None and width is not None:
            moved = clip_region(moved, height, width) or moved
        out = region_to_shape(shape.label, moved, like=shape)
        return out
    return replace(
        shape, points=[[float(x + dx), float(y + dy)] for x, y in shape.points], flags=dict(shape.flags), extra=copy.deepcopy(shape.extra)
    )


def relabelled(shape: Shape, label: str) -> Shape:
    return replace(shape, label=label, points=[list(p) for p in shape.points], flags=dict(shape.flags), extra=copy.deepcopy(shape.extra))


def mask_to_shapes(
    label: str,
    mask: np.ndarray,
    *,
    as_polygon: bool = False,
    tolerance: float = 0.75,
    min_area: int = 4,
    description: str = "",
    x0: int = 0,
    y0: int = 0,
    flags: dict | None = None,
) -> list[Shape]:
    """Turn a boolean mask (full image, or a crop placed at ``x0, y0``) into editable shapes.

    ``as_polygon`` gives one polygon per connected component; components with holes stay masks
    (a single polygon cannot hold a hole). Otherwise one mask shape holds all the pixels."""
    m = np.asarray(mask, bool)
    if not m.any():
        return []
    if not as_polygon:
        region = Region(m, x0, y0).tight()
        if region is None:
            return []
        shape = region_to_shape(label, region)
        shape.description = description
        shape.flags = dict(flags or {})
        return [shape]
    polygons, kept = mask_to_polygons(m, tolerance=tolerance, min_area=min_area, x0=x0, y0=y0)
    out = [Shape(label=label, points=p, shape_type="polygon", description=description, flags=dict(flags or {})) for p in polygons]
    for comp in kept:
        region = Region(comp, x0, y0).tight()
        if region is None:
            continue
        s = region_to_shape(label, region)
        s.description = description
        s.flags = dict(flags or {})
        out.append(s)
    return out


def shape_to_polygons(shape: Shape, height: int, width: int, tolerance: float = 0.75) -> list[Shape]:
    """Convert an area shape (a mask, rectangle, circle) to polygon shapes keeping its attributes."""
    region = shape_region(shape, height, width)
    if region is None:
        return []
    out = mask_to_shapes(
        shape.label,
        region.mask,
        as_polygon=True,
        tolerance=tolerance,
        min_area=1,
        description=shape.description,
        x0=region.x0,
        y0=region.y0,
        flags=shape.flags,
    )
    for s in out:
        s.group_id = shape.group_id
        s.extra = copy.deepcopy(shape.extra)
    return out


def shape_to_mask_shape(shape: Shape, height: int, width: int) -> Shape | None:
    region = shape_region(shape, height, width)
    return None if region is None else region_to_shape(shape.label, region, like=shape)


def contains(shape: Shape, x: float, y: float, height: int, width: int, tolerance: float = 3.0) -> bool:
    """Is the view point ``(x, y)`` on the shape? View coordinates put pixel ``j`` on ``[j, j + 1)``,
    LabelMe points put its centre at ``j`` (PIL's convention). Lines and points: within ``tolerance``."""
    if shape.shape_type in ("line", "linestrip", "point"):
        pts = np.asarray(shape.points, float) + 0.5
        if shape.shape_type == "point":
            return bool(np.hypot(*(pts[0] - [x, y])) <= tolerance)
        for a, b in zip(pts[:-1], pts[1:]):
            d = b - a
            t = 0.0 if not d.any() else float(np.clip(np.dot([x, y] - a, d) / np.dot(d, d), 0, 1))
            if np.hypot(*(a + t * d - [x, y])) <= tolerance:
                return True
        return False
    region = shape_region(shape, height, width)
    if region is None:
        return False
    j, i = int(np.floor(x)) - region.x0, int(np.floor(y)) - region.y0
    return 0 <= i < region.mask.shape[0] and 0 <= j < region.mask.shape[1] and bool(region.mask[i, j])
