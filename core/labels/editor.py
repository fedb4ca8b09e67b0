"""The label document of one image while it is being edited, with undo / redo.

Every user action (add a polygon, one brush stroke, erase, fill, move, delete, change class,
set a flag) becomes one history step holding the shape list and flags before and after. Shapes are
never mutated in place, so a snapshot is a tuple of references and 200 steps cost little memory
even with brush masks on a 1411 px image.

Brush semantics: a stroke of class C merges into the mask shapes of class C that it overlaps or
touches (they become one mask), otherwise it starts a new mask shape. The eraser removes pixels
from the area shapes (polygon, rectangle, circle, mask) of the given classes; a vector shape that
loses pixels becomes a mask shape with the same label, group id, flags and unknown keys.

Positions given to the editor (``shape_at``, ``fill_at``, brush regions) are view coordinates:
pixel ``(row i, column j)`` spans ``[j, j + 1) x [i, i + 1)``. Shape points are LabelMe points
(pixel centre at ``j``), see ``core.labels.shapes.view_to_label``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from core.io.labelme import LabelDocument, Shape
from core.labels.history import DEFAULT_LIMIT, History, Step
from core.labels.raster import Region, combine, enclosed_region, overlaps
from core.labels.shapes import (
    AREA_TYPES,
    clip_region,
    contains,
    region_to_shape,
    relabelled,
    shape_region,
    shape_to_mask_shape,
    shape_to_polygons,
    translated,
)


@dataclass(frozen=True, eq=False)
class Snapshot:
    shapes: tuple[Shape, ...]
    flags: tuple[tuple[str, bool], ...]

    def flag_dict(self) -> dict:
        return dict(self.flags)

    def same_as(self, other: Snapshot) -> bool:
        """Identity of shapes (they are never mutated) and equality of flags."""
        return (
            len(self.shapes) == len(other.shapes) and all(a is b for a, b in zip(self.shapes, other.shapes)) and self.flags == other.flags
        )


def _snap(shapes: Iterable[Shape], flags: dict) -> Snapshot:
    return Snapshot(tuple(shapes), tuple(flags.items()))


class LabelEditor:
    """Editable LabelMe document of one image. ``revision`` grows with every change (undo included)."""

    def __init__(self, doc: LabelDocument, history_limit: int = DEFAULT_LIMIT):
        self._base = doc
        self.height, self.width = int(doc.image_height), int(doc.image_width)
        if self.height <= 0 or self.width <= 0:
            raise ValueError(f"label document for '{doc.image_path}' has no image size")
        self._state = _snap(doc.shapes, dict(doc.flags))
        self.history = History(history_limit)
        self.revision = 0
        self._listeners: list[Callable[[str], None]] = []

    # -- reading --------------------------------------------------------------------------------
    @property
    def shapes(self) -> tuple[Shape, ...]:
        return self._state.shapes

    @property
    def flags(self) -> dict:
        return self._state.flag_dict()

    def labels(self) -> list[str]:
        """Class names used by the shapes, in first-use order."""
        return list(dict.fromkeys(s.label for s in self.shapes))

    def document(self) -> LabelDocument:
        """A LabelDocument of the current state (shares the immutable shapes; safe to save off-thread)."""
        b = self._base
        return LabelDocument(
            image_path=b.image_path,
            image_height=b.image_height,
            image_width=b.image_width,
            shapes=list(self._state.shapes),
            flags=self._state.flag_dict(),
            version=b.version,
            image_data=b.image_data,
            extra=copy.deepcopy(b.extra),
        )

    def save_payload(self) -> LabelDocument:
        return self.document()

    def region(self, index: int) -> Region | None:
        return shape_region(self.shapes[index], self.height, self.width)

    def class_mask(self, label: str) -> np.ndarray:
        out = np.zeros((self.height, self.width), dtype=bool)
        for s in self.shapes:
            if s.label == label:
                r = shape_region(s, self.height, self.width)
                if r is not None:
                    out[r.y0 : r.y1, r.x0 : r.x1] |= r.mask
        return out

    def shape_at(self, x: float, y: float, labels: Iterable[str] | None = None) -> int | None:
        """Index of the topmost shape under ``(x, y)`` (later shapes are drawn on top)."""
        allowed = set(labels) if labels is not None else None
        for i in range(len(self.shapes) - 1, -1, -1):
            s = self.shapes[i]
            if allowed is not None and s.label not in allowed:
                continue
            if contains(s, x, y, self.height, self.width):
                return i
        return None

    # -- change notification ------------------------------------------------------------------
    def subscribe(self, fn: Callable[[str], None]) -> None:
        self._listeners.append(fn)

    def unsubscribe(self, fn: Callable[[str], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _notify(self, text: str) -> None:
        for fn in list(self._listeners):
            fn(text)

    def _commit(self, text: str, shapes: Iterable[Shape], flags: dict | None = None) -> None:
        new = _snap(shapes, self._state.flag_dict() if flags is None else flags)
        if new.same_as(self._state):
            return
        self.history.push(Step(text, self._state, new))
        self._state = new
        self.revision += 1
        self._notify(text)

    # -- undo / redo --------------------------------------------------------------------------
    def undo(self) -> str | None:
        step = self.history.undo()
        if step is None:
            return None
        self._state = step.before
        self.revision += 1
        self._notify(f"Undo {step.text}")
        return step.text

    def redo(self) -> str | None:
        step = self.history.redo()
        if step is None:
            return None
        self._state = step.after
        self.revision += 1
        self._notify(f"Redo {step.text}")
        return step.text

    # -- shape operations -----------------------------------------------------------------------
    def add_shapes(self, shapes: list[Shape], text: str = "Add shape") -> list[int]:
        if not shapes:
            return []
        start = len(self.shapes)
        self._commit(text, self.shapes + tuple(shapes))
        return list(range(start, start + len(shapes)))

    def add_shape(self, shape: Shape, text: str | None = None) -> int:
        return self.add_shapes([shape], text or f"Add {shape.shape_type}")[0]

    def remove(self, indices: Iterable[int], text: str = "Delete shape") -> None:
        drop = set(indices)
        if drop:
            self._commit(text, [s for i, s in enumerate(self.shapes) if i not in drop])

    def move(self, indices: Iterable[int], dx: float, dy: float, text: str = "Move shape") -> None:
        idx = set(indices)
        if not idx or (dx == 0 and dy == 0):
            return
        self._commit(text, [translated(s, dx, dy, self.height, self.width) if i in idx else s for i, s in enumerate(self.shapes)])

    def set_label(self, indices: Iterable[int], label: str, text: str = "Change class") -> None:
        idx = set(indices)
        self._commit(text, [relabelled(s, label) if i in idx and s.label != label else s for i, s in enumerate(self.shapes)])

    def replace(self, index: int, shapes: list[Shape], text: str) -> None:
        new = list(self.shapes)
        new[index : index + 1] = shapes
        self._commit(text, new)

    def convert(self, indices: Iterable[int], to: str, tolerance: float = 0.75) -> None:
        """Convert area shapes to polygons (``to='polygon'``) or to mask shapes (``to='mask'``)."""
        out: list[Shape] = []
        idx = set(indices)
        for i, s in enumerate(self.shapes):
            if i not in idx or s.shape_type not in AREA_TYPES or s.shape_type == to:
                out.append(s)
            elif to == "polygon":
                out.extend(shape_to_polygons(s, self.height, self.width, tolerance) or [s])
            else:
                m = shape_to_mask_shape(s, self.height, self.width)
                out.append(m if m is not None else s)
        self._commit(f"Convert to {to}", out)

    # -- pixel operations -------------------------------------------------------------------------
    def paint(self, label: str, stroke: Region | None, text: str = "Brush stroke") -> int | None:
        """Add the stroke's pixels to class ``label``; returns the index of the mask that holds them."""
        stroke = clip_region(stroke, self.height, self.width) if stroke is not None else None
        if stroke is None:
            return None
        shapes = list(self.shapes)
        hits = []
        for i, s in enumerate(shapes):
            if s.label == label and s.shape_type == "mask":
                r = shape_region(s, self.height, self.width)
                if r is not None and overlaps(r, stroke, touch=True):
                    hits.append((i, r))
        if not hits:
            shapes.append(region_to_shape(label, stroke))
            self._commit(text, shapes)
            return len(shapes) - 1
        merged = combine([r for _, r in hits] + [stroke]) or stroke
        first = hits[0][0]
        shapes[first] = region_to_shape(label, merged, like=shapes[first])
        for i, _ in reversed(hits[1:]):
            del shapes[i]
        self._commit(text, shapes)
        return first

    def erase(self, stroke: Region | None, labels: Iterable[str] | None = None, text: str = "Erase") -> bool:
        """Remove the stroke's pixels from area shapes of ``labels`` (all classes when None)."""
        stroke = clip_region(stroke, self.height, self.width) if stroke is not None else None
        if stroke is None:
            return False
        allowed = set(labels) if labels is not None else None
        out, changed = [], False
        for s in self.shapes:
            if s.shape_type not in AREA_TYPES or (allowed is not None and s.label not in allowed):
                out.append(s)
                continue
            r = shape_region(s, self.height, self.width)
            if r is None or not overlaps(r, stroke):
                out.append(s)
                continue
            changed = True
            rest = combine([r], [stroke])
            if rest is not None:
                out.append(region_to_shape(s.label, rest, like=s))
        if changed:
            self._commit(text, out)
        return changed

    def fill_at(self, label: str, x: float, y: float) -> bool:
        """Fill the area enclosed by class ``label``'s pixels around ``(x, y)``; False if not closed."""
        comp = enclosed_region(self.class_mask(label), x, y)
        if comp is None:
            return False
        region = Region(comp, 0, 0).tight()
        self.paint(label, region, text="Fill")
        return True

    # -- flags and classes --------------------------------------------------------------------------
    def set_flags(self, changes: dict, text: str = "Set flag") -> None:
        flags = self._state.flag_dict()
        flags.update({str(k): bool(v) for k, v in changes.items()})
        self._commit(text, self.shapes, flags)

    def rename_label(self, old: str, new: str) -> int:
        """Rename a class in the current state and in every undo step (a workspace rename, not an
        undoable edit). Returns how many current shapes changed."""
        if old == new:
            return 0

        def fix(state: Snapshot) -> Snapshot:
            shapes = tuple(relabelled(s, new) if s.label == old else s for s in state.shapes)
            flags = tuple((new if k == old else k, v) for k, v in state.flags)
            return Snapshot(shapes, flags)

        count = sum(1 for s in self.shapes if s.label == old)
        new_state = fix(self._state)
        self.history.map_states(fix)
        if not new_state.same_as(self._state):
            self._state = new_state
            self.revision += 1
            self._notify(f"Rename {old} to {new}")
        return count
