"""Volume <-> network slices with an exact inverse (RASALoRE data path).

Forward, for one volume in its own voxel order:

1. reorient to RAS (a permutation and flips of the array: exact, no resampling);
2. take the planes of the chosen orientation (axial by default) in the display convention of the
   GUI's volume view (radiological: patient right on the left);
3. drop the first and last ``skip`` planes (paper: 15), as the paper does;
4. crop every kept plane to one square box around the brain's bounding box (union over the kept
   planes, so the scale is the same for every slice of a volume), zero-padding where the square
   leaves the plane;
5. resize the box to ``size`` x ``size`` (bilinear; identity when the box already has that side).

:meth:`SliceGeometry.to_volume` runs the same steps backwards for per-slice outputs: resize the
``size`` x ``size`` map to the box, paste it into the plane (what fell outside the plane is
dropped), put the plane back at its index, undo the reorientation. Pixels outside the box and
skipped planes get ``fill``. With ``size`` equal to the box side the round trip is exact for
every voxel inside the box of a kept plane.

Intensities: :func:`normalise_volume` scales by the 99.5th percentile of the brain voxels, clips
to [0, 1] and applies the paper's gamma (squaring), per volume, so slices of one scan stay
comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import InputError

PLANE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}  # through-plane axis in RAS


def _orientation(affine: np.ndarray | None) -> np.ndarray:
    import nibabel as nib

    if affine is None:
        return np.array([[0, 1], [1, 1], [2, 1]], dtype=float)
    return nib.orientations.io_orientation(np.asarray(affine, float))


def _to_ras(data: np.ndarray, ornt: np.ndarray) -> np.ndarray:
    import nibabel as nib

    return nib.orientations.apply_orientation(data, ornt)


def _from_ras(ras: np.ndarray, ornt: np.ndarray) -> np.ndarray:
    import nibabel as nib

    ras_ornt = np.array([[0, 1], [1, 1], [2, 1]], dtype=float)
    return nib.orientations.apply_orientation(ras, nib.orientations.ornt_transform(ras_ornt, ornt))


def planes_of(ras: np.ndarray, through: int) -> np.ndarray:
    """(n, rows, cols) display planes; rows/cols follow the GUI's ``plane_image`` convention."""
    stack = np.moveaxis(ras, through, 0)
    return stack[:, ::-1, ::-1].transpose(0, 2, 1)


def ras_of(planes: np.ndarray, through: int) -> np.ndarray:
    """Inverse of :func:`planes_of`."""
    stack = planes.transpose(0, 2, 1)[:, ::-1, ::-1]
    return np.moveaxis(stack, 0, through)


def normalise_volume(data: np.ndarray, gamma: float = 2.0, percentile: float = 99.5) -> np.ndarray:
    """float32 in [0, 1]: robust max of the positive voxels -> clip -> ``x ** gamma``."""
    a = np.asarray(data, dtype=np.float32)
    pos = a[a > 0]
    hi = float(np.percentile(pos, percentile)) if pos.size else float(a.max())
    if not np.isfinite(hi) or hi <= 0:
        return np.zeros(a.shape, np.float32)
    out = np.clip(a / hi, 0.0, 1.0)
    return (out ** float(gamma)).astype(np.float32) if gamma != 1 else out.astype(np.float32)


def _resize(stack: np.ndarray, size: tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    """Resize (n, h, w) maps: bilinear (pixel centres aligned), nearest, or area averaging."""
    import torch
    import torch.nn.functional as F

    if stack.shape[-2:] == tuple(size):
        return np.ascontiguousarray(stack, dtype=np.float32)
    t = torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float32))[:, None]
    if mode == "area":
        out = F.adaptive_avg_pool2d(t, size)
    elif mode == "nearest":
        out = F.interpolate(t, size=size, mode="nearest")
    else:
        out = F.interpolate(t, size=size, mode="bilinear", align_corners=False)
    return out[:, 0].numpy()


@dataclass(frozen=True)
class SliceGeometry:
    """Where the network slices of one volume come from; built by :func:`plan_slices`."""

    shape: tuple[int, int, int]  # volume array shape (file voxel order)
    ornt: tuple[tuple[float, float], ...]  # nibabel orientation: array axes -> RAS
    through: int  # RAS axis the planes are perpendicular to
    indices: tuple[int, ...]  # kept plane indices in the RAS stack
    box: tuple[int, int, int]  # (row0, col0, side) of the square crop in plane pixels
    size: int  # network side

    @property
    def n(self) -> int:
        return len(self.indices)

    @property
    def array_axis(self) -> int:
        """The axis of the volume array the planes are perpendicular to."""
        return int(next(i for i, (ax, _f) in enumerate(self.ornt) if int(ax) == self.through))

    def array_index(self, k: int) -> int:
        """Index along :attr:`array_axis` of kept slice ``k``."""
        axis = self.array_axis
        z = self.indices[k]
        flip = self.ornt[axis][1] < 0
        return int(self.shape[axis] - 1 - z) if flip else int(z)

    def array_indices(self) -> list[int]:
        return [self.array_index(k) for k in range(self.n)]

    def plane_shape(self) -> tuple[int, int]:
        ras_shape = [0, 0, 0]
        for i, (ax, _f) in enumerate(self.ornt):
            ras_shape[int(ax)] = self.shape[i]
        rest = [s for a, s in enumerate(ras_shape) if a != self.through]
        return rest[1], rest[0]  # rows, cols after the display transpose

    def planes(self, data: np.ndarray) -> np.ndarray:
        """All display planes of a volume with this geometry's shape (a view, no copy)."""
        if tuple(data.shape) != self.shape:
            raise InputError(None, f"volume of shape {tuple(data.shape)} does not match the slice plan {self.shape}")
        return planes_of(_to_ras(data, np.asarray(self.ornt)), self.through)

    def crop(self, plane_stack: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(n, rows, cols) -> (n, side, side) zero-padded square crop."""
        r0, c0, side = self.box
        n, rows, cols = plane_stack.shape
        out = np.full((n, side, side), fill, dtype=np.float32)
        rs, re = max(r0, 0), min(r0 + side, rows)
        cs, ce = max(c0, 0), min(c0 + side, cols)
        if re > rs and ce > cs:
            out[:, rs - r0 : re - r0, cs - c0 : ce - c0] = plane_stack[:, rs:re, cs:ce]
        return out

    def extract(self, data: np.ndarray, size: int | None = None, mode: str = "bilinear") -> np.ndarray:
        """(n, size, size) float32 network slices of ``data`` (intensities are not changed)."""
        planes = self.planes(data)[list(self.indices)]
        side = int(size or self.size)
        return _resize(self.crop(planes), (side, side), mode)

    def to_volume(self, slices: np.ndarray, fill: float = 0.0, mode: str = "bilinear") -> np.ndarray:
        """(n, s, s) per-slice maps (any side s) -> float32 array on the volume's voxel grid."""
        slices = np.asarray(slices, dtype=np.float32)
        if slices.ndim != 3 or slices.shape[0] != self.n or slices.shape[1] != slices.shape[2]:
            raise InputError(None, f"expected ({self.n}, s, s) slice maps, got {slices.shape}")
        r0, c0, side = self.box
        boxed = _resize(slices, (side, side), mode)
        rows, cols = self.plane_shape()
        ras_shape = [0, 0, 0]
        for i, (ax, _f) in enumerate(self.ornt):
            ras_shape[int(ax)] = self.shape[i]
        n_planes = ras_shape[self.through]
        planes = np.full((n_planes, rows, cols), fill, dtype=np.float32)
        rs, re = max(r0, 0), min(r0 + side, rows)
        cs, ce = max(c0, 0), min(c0 + side, cols)
        if re > rs and ce > cs:
            planes[list(self.indices), rs:re, cs:ce] = boxed[:, rs - r0 : re - r0, cs - c0 : ce - c0]
        return np.ascontiguousarray(_from_ras(ras_of(planes, self.through), np.asarray(self.ornt)), dtype=np.float32)

    def slice_counts(self, labels: np.ndarray) -> np.ndarray:
        """Number of non-zero voxels of a label volume in each kept slice (whole plane, uncropped)."""
        planes = self.planes(labels)
        return np.array([int(np.count_nonzero(planes[z])) for z in self.indices], dtype=np.int64)

    def to_json(self) -> dict:
        return {
            "shape": list(self.shape),
            "ornt": [list(map(float, o)) for o in self.ornt],
            "through": self.through,
            "indices": list(self.indices),
            "box": list(self.box),
            "size": self.size,
        }


def plan_slices(
    data: np.ndarray,
    affine: np.ndarray | None = None,
    *,
    size: int = 256,
    skip: int = 15,
    plane: str = "axial",
    margin: int = 4,
    foreground: float = 0.05,
) -> SliceGeometry:
    """Plan the slices of one volume. ``foreground`` is the fraction of the robust maximum above
    which a voxel counts as brain for the bounding box."""
    a = np.asarray(data)
    if a.ndim != 3:
        raise InputError(None, f"expected a 3-D volume, got shape {a.shape}")
    if plane not in PLANE_AXIS:
        raise InputError(None, f"unknown slice plane '{plane}': use axial, coronal or sagittal")
    ornt = _orientation(affine)
    through = PLANE_AXIS[plane]
    planes = planes_of(_to_ras(a, ornt), through)
    n = planes.shape[0]
    skip = max(0, min(int(skip), (n - 1) // 2))  # tiny volumes keep at least one slice
    indices = tuple(range(skip, n - skip))
    kept = planes[list(indices)]
    pos = kept[kept > 0]
    hi = float(np.percentile(pos, 99.5)) if pos.size else 0.0
    fg = np.asarray((kept > foreground * hi).any(axis=0)) if hi > 0 else np.zeros(kept.shape[1:], bool)
    rows, cols = kept.shape[1:]
    if fg.any():
        rr = np.flatnonzero(fg.any(axis=1))
        cc = np.flatnonzero(fg.any(axis=0))
        r0, r1 = int(rr[0]) - margin, int(rr[-1]) + 1 + margin
        c0, c1 = int(cc[0]) - margin, int(cc[-1]) + 1 + margin
    else:
        r0, r1, c0, c1 = 0, rows, 0, cols
    side = max(r1 - r0, c1 - c0)
    r0 -= (side - (r1 - r0)) // 2
    c0 -= (side - (c1 - c0)) // 2
    return SliceGeometry(
        shape=(int(a.shape[0]), int(a.shape[1]), int(a.shape[2])),
        ornt=tuple((float(x), float(y)) for x, y in ornt),
        through=through,
        indices=indices,
        box=(int(r0), int(c0), int(side)),
        size=int(size),
    )


def geometry_from_json(obj: dict) -> SliceGeometry:
    return SliceGeometry(
        shape=tuple(obj["shape"]),
        ornt=tuple(tuple(o) for o in obj["ornt"]),
        through=int(obj["through"]),
        indices=tuple(obj["indices"]),
        box=tuple(obj["box"]),
        size=int(obj["size"]),
    )
