"""LabelMe JSON documents: read, validate, write atomically, rasterise.

Keys we do not know (top level and per shape) are kept and written back unchanged. Mask shapes
follow LabelMe 5: ``points`` hold the inclusive bounding box ``[[x1, y1], [x2, y2]]`` and ``mask``
a base64 PNG of that crop.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import LabelFileError
from core.io.atomic import atomic_write_json
from core.io.limits import DEFLATE_MAX_RATIO, max_pixels
from core.io.safejson import read_json

MAX_COORDINATE = 1e6  # pixels; anything further out is not a label of an image we can hold
MAX_SIDE = 1_000_000

LABELME_VERSION = "5.5.0"
SHAPE_TYPES = ("polygon", "rectangle", "point", "line", "linestrip", "circle", "mask")
_TOP_KEYS = ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth")
_SHAPE_KEYS = ("label", "points", "group_id", "description", "shape_type", "flags", "mask")


def mask_to_b64(mask: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(mask, dtype=bool)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def b64_to_mask(text: str) -> np.ndarray:
    from PIL import Image

    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64 ({exc})") from None
    with Image.open(io.BytesIO(data)) as im:
        w, h = im.size
        if w * h > max_pixels() or w * h > len(data) * DEFLATE_MAX_RATIO + 65536:
            raise ValueError(f"mask claims {w}x{h} pixels from {len(data)} bytes")
        arr = np.asarray(im)
    if arr.ndim == 3:
        arr = arr[..., 0]
    return arr > 0


@dataclass
class Shape:
    label: str
    points: list[list[float]]
    shape_type: str = "polygon"
    group_id: int | None = None
    description: str = ""
    flags: dict = field(default_factory=dict)
    mask: np.ndarray | None = None  # bool crop for shape_type "mask"
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_mask(cls, label: str, full_mask: np.ndarray, **kwargs) -> Shape:
        """Make a mask shape from a full-image boolean mask (cropped to its bounding box)."""
        ys, xs = np.nonzero(full_mask)
        if ys.size == 0:
            raise ValueError("empty mask")
        y1, y2, x1, x2 = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
        crop = np.asarray(full_mask[y1 : y2 + 1, x1 : x2 + 1], dtype=bool).copy()
        return cls(label=label, points=[[float(x1), float(y1)], [float(x2), float(y2)]], shape_type="mask", mask=crop, **kwargs)

    def to_json(self) -> dict:
        out = dict(self.extra)
        out.update(
            label=self.label,
            points=[[float(x), float(y)] for x, y in self.points],
            group_id=self.group_id,
            description=self.description,
            shape_type=self.shape_type,
            flags=dict(self.flags),
            mask=mask_to_b64(self.mask) if self.mask is not None else None,
        )
        return out

    @classmethod
    def from_json(cls, obj: Any, where: str) -> Shape:
        if not isinstance(obj, dict):
            raise ValueError(f"{where} is not an object")
        label = obj.get("label")
        if not isinstance(label, str) or not label:
            raise ValueError(f"{where} has no label")
        shape_type = obj.get("shape_type") or "polygon"
        if shape_type not in SHAPE_TYPES:
            raise ValueError(f"{where} has unknown shape_type '{shape_type}'")
        pts: Any = obj.get("points")  # untrusted JSON: checked by the conversion below
        try:
            points = [[float(p[0]), float(p[1])] for p in pts]
        except (TypeError, ValueError, IndexError, KeyError):
            raise ValueError(f"{where} has malformed points") from None
        if points and not np.all(np.isfinite(points)):
            raise ValueError(f"{where} has non-finite points")
        if points and float(np.max(np.abs(points))) > MAX_COORDINATE:
            raise ValueError(f"{where} has points more than {MAX_COORDINATE:.0e} pixels away")
        minimum = {"polygon": 3, "rectangle": 2, "circle": 2, "line": 2, "linestrip": 2, "point": 1, "mask": 2}[shape_type]
        if len(points) < minimum:
            raise ValueError(f"{where}: a {shape_type} needs at least {minimum} points, got {len(points)}")
        mask = None
        if shape_type == "mask":
            if not isinstance(obj.get("mask"), str):
                raise ValueError(f"{where}: mask shape without mask data")
            try:
                mask = b64_to_mask(obj["mask"])
            except Exception as exc:  # noqa: BLE001 - base64/PNG decoding raises many types
                raise ValueError(f"{where}: mask data is not a base64 PNG ({exc})") from None
        flags = obj.get("flags") or {}
        if not isinstance(flags, dict):
            raise ValueError(f"{where}: 'flags' is not an object")
        description = obj.get("description") or ""
        if not isinstance(description, str):
            raise ValueError(f"{where}: 'description' is not text")
        return cls(
            label=label,
            points=points,
            shape_type=shape_type,
            group_id=_group_id(obj.get("group_id"), where),
            description=description,
            flags=dict(flags),
            mask=mask,
            extra={k: v for k, v in obj.items() if k not in _SHAPE_KEYS},
        )

    def rasterize(self, height: int, width: int, line_width: int = 3, point_radius: int = 3) -> np.ndarray:
        """Boolean mask of this shape on an image grid (LabelMe's conventions)."""
        from PIL import Image, ImageDraw

        if self.shape_type == "mask":
            out = np.zeros((height, width), dtype=bool)
            x1, y1 = (int(round(v)) for v in self.points[0])
            crop = self.mask if self.mask is not None else np.zeros((0, 0), bool)
            h, w = crop.shape
            ys, xs = slice(max(y1, 0), min(y1 + h, height)), slice(max(x1, 0), min(x1 + w, width))
            out[ys, xs] = crop[ys.start - y1 : ys.stop - y1, xs.start - x1 : xs.stop - x1]
            return out
        canvas = Image.new("1", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        pts = [tuple(p) for p in self.points]
        if self.shape_type == "polygon":
            draw.polygon(pts, outline=1, fill=1)
        elif self.shape_type == "rectangle":
            (rx1, ry1), (rx2, ry2) = pts[0], pts[1]
            draw.rectangle([min(rx1, rx2), min(ry1, ry2), max(rx1, rx2), max(ry1, ry2)], outline=1, fill=1)
        elif self.shape_type == "circle":
            (cx, cy), (px, py) = pts[0], pts[1]
            r = float(np.hypot(cx - px, cy - py))
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=1, fill=1)
        elif self.shape_type in ("line", "linestrip"):
            draw.line(pts, fill=1, width=line_width)
        elif self.shape_type == "point":
            (cx, cy) = pts[0]
            draw.ellipse([cx - point_radius, cy - point_radius, cx + point_radius, cy + point_radius], outline=1, fill=1)
        return np.asarray(canvas, dtype=bool)


@dataclass
class LabelDocument:
    image_path: str
    image_height: int
    image_width: int
    shapes: list[Shape] = field(default_factory=list)
    flags: dict = field(default_factory=dict)
    version: str = LABELME_VERSION
    image_data: str | None = None
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = dict(self.extra)
        out.update(
            version=self.version,
            flags=dict(self.flags),
            shapes=[s.to_json() for s in self.shapes],
            imagePath=self.image_path,
            imageData=self.image_data,
            imageHeight=int(self.image_height),
            imageWidth=int(self.image_width),
        )
        return out

    @classmethod
    def from_json(cls, obj: Any, path: str | Path = "<memory>") -> LabelDocument:
        if not isinstance(obj, dict):
            raise LabelFileError(path, "top level is not a JSON object")
        for key in ("shapes", "imagePath"):
            if key not in obj:
                raise LabelFileError(path, f"missing key '{key}'")
        if not isinstance(obj["shapes"], list):
            raise LabelFileError(path, "'shapes' is not a list")
        if not isinstance(obj["imagePath"], str):
            raise LabelFileError(path, "'imagePath' is not a string")
        shapes = []
        for i, s in enumerate(obj["shapes"]):
            try:
                shapes.append(Shape.from_json(s, f"shape {i}"))
            except ValueError as exc:
                raise LabelFileError(path, str(exc)) from None
        height, width = _side(obj.get("imageHeight"), path), _side(obj.get("imageWidth"), path)
        if height * width > max_pixels():
            raise LabelFileError(path, f"imageWidth x imageHeight ({width}x{height}) is larger than any image we read")
        flags = obj.get("flags") or {}
        if not isinstance(flags, dict):
            raise LabelFileError(path, "'flags' is not an object")
        return cls(
            image_path=obj["imagePath"],
            image_height=height,
            image_width=width,
            shapes=shapes,
            flags=dict(flags),
            version=str(obj.get("version") or LABELME_VERSION),
            image_data=obj.get("imageData"),
            extra={k: v for k, v in obj.items() if k not in _TOP_KEYS},
        )

    def rasterize(self, class_ids: dict[str, int], dtype=np.uint8) -> np.ndarray:
        """Index mask: each pixel holds the id of the last shape (in file order) covering it."""
        out = np.zeros((self.image_height, self.image_width), dtype=dtype)
        for shape in self.shapes:
            if shape.label not in class_ids:
                continue
            out[shape.rasterize(self.image_height, self.image_width)] = class_ids[shape.label]
        return out

    def class_mask(self, label: str) -> np.ndarray:
        out = np.zeros((self.image_height, self.image_width), dtype=bool)
        for shape in self.shapes:
            if shape.label == label:
                out |= shape.rasterize(self.image_height, self.image_width)
        return out

    def union_mask(self) -> np.ndarray:
        out = np.zeros((self.image_height, self.image_width), dtype=bool)
        for shape in self.shapes:
            out |= shape.rasterize(self.image_height, self.image_width)
        return out


def _group_id(value, where: str) -> int | None:
    """LabelMe writes an integer or null; integral floats are accepted, anything else is refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: group_id {str(value)[:20]!r} is not an integer")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise ValueError(f"{where}: group_id {value!r} is not an integer")
    if abs(value) > 2**31:
        raise ValueError(f"{where}: group_id {value!r} is out of range")
    return int(value)


def _side(value, path) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or isinstance(value, float) and not value.is_integer():
        raise LabelFileError(path, "imageHeight/imageWidth are not integers")
    if not 0 <= value <= MAX_SIDE:
        raise LabelFileError(path, f"imageHeight/imageWidth {value!r} is out of range")
    return int(value)


def read_labelme(path: str | Path) -> LabelDocument:
    """Read and validate a LabelMe file (size-limited, UTF-8, bounded nesting)."""
    path = Path(path)
    return LabelDocument.from_json(read_json(path, error=LabelFileError), path)


def write_labelme(path: str | Path, doc: LabelDocument) -> None:
    atomic_write_json(path, doc.to_json())


def resolve_image_path(label_path: str | Path, image_path: str, root: str | Path) -> Path:
    """Resolve ``imagePath`` relative to the label file, refusing anything outside ``root``."""
    from core.io.paths import inside

    label_path = Path(label_path)
    if not isinstance(image_path, str) or not image_path:
        raise LabelFileError(label_path, "imagePath is empty")
    shown = repr(image_path[:80])
    if "\x00" in image_path:
        raise LabelFileError(label_path, f"imagePath {shown} contains a NUL byte")
    candidate = Path(image_path)
    if candidate.is_absolute() or image_path.startswith(("/", "\\")) or candidate.drive:
        raise LabelFileError(label_path, f"imagePath {shown} is absolute; it must be relative to the label file")
    joined = label_path.parent / candidate
    if not inside(root, joined):
        raise LabelFileError(label_path, f"imagePath {shown} points outside the workspace ({root})")
    return joined.resolve()
