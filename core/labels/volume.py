"""MRI label volume while it is being edited slice by slice, with undo / redo.

The volume stays in the scan's own voxel grid (uint8 class ids, 0 = background). Edits arrive as
2-D regions on a display plane (axial / coronal / sagittal, see ``core.labels.planes``) and are
written through the exact display-pixel -> voxel mapping. A history step stores only the changed
voxels (flat indices, values before and after), so 200 steps of brush strokes stay small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from core.labels.history import DEFAULT_LIMIT, History, Step
from core.labels.planes import PLANES, orientation, plane_voxel_index
from core.labels.raster import Region, enclosed_region


@dataclass(frozen=True, eq=False)
class Patch:
    flat: np.ndarray  # flat voxel indices (C order)
    values: np.ndarray  # uint8 values at those voxels


class VolumeLabelEditor:
    def __init__(self, labels: np.ndarray, affine: np.ndarray, legend: dict[str, int] | None = None, history_limit: int = DEFAULT_LIMIT):
        a = np.asarray(labels)
        if a.ndim != 3:
            raise ValueError(f"label volume must be 3-D, got shape {a.shape}")
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError("label ids must lie in 0..255")
        self.labels = np.ascontiguousarray(a, dtype=np.uint8).copy()
        self.affine = np.asarray(affine, float)
        self.ornt = orientation(self.affine)
        self.legend = dict(legend or {})
        self.history = History(history_limit)
        self.revision = 0
        self._listeners: list[Callable[[str], None]] = []
        self._index_cache: dict[tuple[str, int], tuple[np.ndarray, ...]] = {}

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.labels.shape
        return s[0], s[1], s[2]

    # -- notification --------------------------------------------------------------------------
    def subscribe(self, fn: Callable[[str], None]) -> None:
        self._listeners.append(fn)

    def unsubscribe(self, fn: Callable[[str], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _notify(self, text: str) -> None:
        for fn in list(self._listeners):
            fn(text)

    # -- planes ---------------------------------------------------------------------------------
    def plane_index(self, plane: str, index: int) -> tuple[np.ndarray, ...]:
        key = (plane, int(index))
        if key not in self._index_cache:
            if len(self._index_cache) > 12:
                self._index_cache.clear()
            self._index_cache[key] = plane_voxel_index(plane, int(index), self.ornt, self.shape)
        return self._index_cache[key]

    def plane_labels(self, plane: str, index: int) -> np.ndarray:
        """Class ids of one display plane (rows/cols as the viewer shows them)."""
        return self.labels[self.plane_index(plane, index)]

    # -- edits ------------------------------------------------------------------------------------
    def _apply(self, text: str, flat: np.ndarray, new_values: np.ndarray) -> bool:
        flat_view = self.labels.reshape(-1)
        before = flat_view[flat]
        changed = before != new_values
        if not changed.any():
            return False
        flat, before, after = flat[changed], before[changed], np.asarray(new_values, np.uint8)[changed]
        flat_view[flat] = after
        self.history.push(Step(text, Patch(flat, before), Patch(flat, after)))
        self.revision += 1
        self._notify(text)
        return True

    def _region_flat(self, plane: str, index: int, region: Region) -> np.ndarray:
        ii, jj, kk = self.plane_index(plane, index)
        h, w = ii.shape
        m = region.window(0, 0, w, h)
        return np.ravel_multi_index((ii[m], jj[m], kk[m]), self.shape)

    def paint(self, plane: str, index: int, region: Region | None, class_id: int, text: str = "Brush stroke") -> bool:
        if region is None or not 0 < int(class_id) <= 255:
            return False
        flat = self._region_flat(plane, index, region)
        return self._apply(text, flat, np.full(flat.shape, int(class_id), np.uint8))

    def erase(self, plane: str, index: int, region: Region | None, class_ids: Iterable[int] | None = None, text: str = "Erase") -> bool:
        if region is None:
            return False
        flat = self._region_flat(plane, index, region)
        current = self.labels.reshape(-1)[flat]
        new = current.copy()
        if class_ids is None:
            new[:] = 0
        else:
            new[np.isin(current, np.fromiter(class_ids, dtype=np.int64))] = 0
        return self._apply(text, flat, new)

    def fill_at(self, plane: str, index: int, class_id: int, col: float, row: float) -> bool:
        """Fill the area of the plane enclosed by ``class_id`` voxels around display pixel (col, row)."""
        comp = enclosed_region(self.plane_labels(plane, index) == class_id, col, row)
        if comp is None:
            return False
        return self.paint(plane, index, Region(comp, 0, 0), class_id, text="Fill")

    def apply_mask(self, mask: np.ndarray, class_id: int, text: str = "Add label") -> bool:
        """Set every voxel of a boolean volume on the scan grid to ``class_id`` (model results)."""
        m = np.asarray(mask, bool)
        if m.shape != self.shape:
            raise ValueError(f"mask shape {m.shape} does not match the label volume {self.shape}")
        flat = np.flatnonzero(m)
        return self._apply(text, flat, np.full(flat.shape, int(class_id), np.uint8))

    # -- undo / redo --------------------------------------------------------------------------------
    def undo(self) -> str | None:
        step = self.history.undo()
        if step is None:
            return None
        self.labels.reshape(-1)[step.before.flat] = step.before.values
        self.revision += 1
        self._notify(f"Undo {step.text}")
        return step.text

    def redo(self) -> str | None:
        step = self.history.redo()
        if step is None:
            return None
        self.labels.reshape(-1)[step.after.flat] = step.after.values
        self.revision += 1
        self._notify(f"Redo {step.text}")
        return step.text

    # -- saving -------------------------------------------------------------------------------------
    def save_payload(self) -> tuple[np.ndarray, dict[str, int]]:
        return self.labels.copy(), dict(self.legend)

    def counts(self) -> dict[int, int]:
        ids, n = np.unique(self.labels, return_counts=True)
        return {int(i): int(c) for i, c in zip(ids, n) if i != 0}


__all__ = ["PLANES", "Patch", "VolumeLabelEditor"]
