"""Display planes of a volume and the exact way back to the scan's own voxel grid.

The viewer reorients a volume to RAS for display only (``to_ras``) and shows each plane in the
radiological convention (``plane_image``: patient right on the screen's left, anterior / superior
at the top). Labels always live in the scan's voxel grid, so every painted display pixel must map
back to exactly one original voxel: ``plane_voxel_index`` gives, for a whole display plane, the
original voxel index of each display pixel, such that

    data[plane_voxel_index(plane, k, ornt, data.shape)] == plane_image(to_ras(data, affine)[0], plane, k)

with no interpolation (the reorientation is only axis permutations and flips).
"""

from __future__ import annotations

import numpy as np

PLANES = ("axial", "coronal", "sagittal")
PLANE_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}  # RAS axis held fixed by each plane


def orientation(affine: np.ndarray) -> np.ndarray:
    import nibabel as nib

    return np.asarray(nib.orientations.io_orientation(np.asarray(affine, float)))


def to_ras(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reorient voxel data to RAS. Returns (data, orientation transform, permuted spacing)."""
    import nibabel as nib

    ornt = orientation(affine)
    ras = nib.orientations.apply_orientation(data, ornt)
    zooms = np.sqrt((np.asarray(affine, float)[:3, :3] ** 2).sum(axis=0))
    spacing = np.empty(3)
    for src_axis, (dst_axis, _flip) in enumerate(ornt):
        spacing[int(dst_axis)] = zooms[src_axis]
    return ras, ornt, spacing


def ras_shape(shape: tuple[int, int, int], ornt: np.ndarray) -> tuple[int, int, int]:
    out = [0, 0, 0]
    for k, (d, _f) in enumerate(ornt):
        out[int(d)] = int(shape[k])
    return out[0], out[1], out[2]


def plane_image(ras: np.ndarray, plane: str, index: int) -> np.ndarray:
    """2-D display image of one plane: rows top->bottom anterior->posterior (axial) or
    superior->inferior; columns patient right -> left (radiological)."""
    if plane == "axial":
        a = ras[:, :, index]  # (x, y)
    elif plane == "coronal":
        a = ras[:, index, :]  # (x, z)
    elif plane == "sagittal":
        a = ras[index, :, :]  # (y, z)
    else:
        raise ValueError(f"unknown plane '{plane}'; use one of {PLANES}")
    return a[::-1, ::-1].T


def plane_shape(rshape: tuple[int, int, int], plane: str) -> tuple[int, int]:
    nx, ny, nz = rshape
    return {"axial": (ny, nx), "coronal": (nz, nx), "sagittal": (nz, ny)}[plane]


def display_to_ras(plane: str, index: int, row, col, rshape: tuple[int, int, int]):
    """RAS voxel index (x, y, z) of display pixel (row, col) of a plane (arrays broadcast)."""
    nx, ny, nz = rshape
    row, col = np.asarray(row), np.asarray(col)
    if plane == "axial":
        return nx - 1 - col, ny - 1 - row, np.full_like(row, index)
    if plane == "coronal":
        return nx - 1 - col, np.full_like(row, index), nz - 1 - row
    if plane == "sagittal":
        return np.full_like(row, index), ny - 1 - col, nz - 1 - row
    raise ValueError(f"unknown plane '{plane}'; use one of {PLANES}")


def ras_to_voxel(ras_index, ornt: np.ndarray, shape: tuple[int, int, int]):
    """Original voxel index of a RAS voxel index: the inverse of ``apply_orientation``."""
    out = []
    for k, (d, f) in enumerate(ornt):
        r = np.asarray(ras_index[int(d)])
        out.append(r if f > 0 else shape[k] - 1 - r)
    return tuple(out)


def voxel_to_ras(voxel, ornt: np.ndarray, shape: tuple[int, int, int]):
    r: list[np.ndarray | None] = [None, None, None]
    for k, (d, f) in enumerate(ornt):
        v = np.asarray(voxel[k])
        r[int(d)] = v if f > 0 else shape[k] - 1 - v
    return tuple(r)


def display_to_voxel(plane: str, index: int, row: int, col: int, ornt: np.ndarray, shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """Original voxel (i, j, k) shown at display pixel (row, col) of slice ``index`` of ``plane``."""
    rs = ras_shape(shape, ornt)
    v = ras_to_voxel(display_to_ras(plane, index, row, col, rs), ornt, shape)
    return int(v[0]), int(v[1]), int(v[2])


def plane_voxel_index(plane: str, index: int, ornt: np.ndarray, shape: tuple[int, int, int]):
    """Index arrays (i, j, k), each of the display plane's shape, into the original volume."""
    rs = ras_shape(shape, ornt)
    rows, cols = np.indices(plane_shape(rs, plane))
    return ras_to_voxel(display_to_ras(plane, index, rows, cols, rs), ornt, shape)


def voxel_plane_index(plane: str, voxel: tuple[int, int, int], ornt: np.ndarray, shape: tuple[int, int, int]) -> int:
    """Slice index of ``plane`` that shows the original voxel ``voxel``."""
    r = voxel_to_ras(voxel, ornt, shape)
    return int(r[PLANE_AXIS[plane]])
