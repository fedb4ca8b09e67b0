import itertools

import numpy as np
import pytest

from core.labels.planes import (
    PLANES,
    display_to_voxel,
    plane_image,
    plane_shape,
    plane_voxel_index,
    ras_shape,
    to_ras,
    voxel_plane_index,
)
from core.labels.raster import Region
from core.labels.volume import VolumeLabelEditor


def _affines():
    """RAS, LPS, and an oblique-ish permuted orientation (axes swapped and flipped)."""
    ras = np.diag([1.0, 1.2, 2.0, 1.0])
    lps = np.diag([-0.9, -0.9, 1.5, 1.0])
    perm = np.array([[0.0, 0.0, -1.5, 10.0], [1.1, 0.0, 0.0, -5.0], [0.0, -0.8, 0.0, 3.0], [0, 0, 0, 1]])
    return [ras, lps, perm]


@pytest.mark.parametrize("affine", _affines())
def test_every_display_pixel_maps_back_to_its_voxel(affine):
    rng = np.random.default_rng(1)
    shape = (7, 9, 11)
    data = rng.random(shape).astype(np.float32)
    ras, ornt, _ = to_ras(data, affine)
    assert ras.shape == ras_shape(shape, ornt)
    for plane in PLANES:
        axis = {"axial": 2, "coronal": 1, "sagittal": 0}[plane]
        for index in range(ras.shape[axis]):
            shown = plane_image(ras, plane, index)
            assert shown.shape == plane_shape(ras.shape, plane)
            idx = plane_voxel_index(plane, index, ornt, shape)
            assert np.array_equal(data[idx], shown)
            for row, col in itertools.product(range(0, shown.shape[0], 3), range(0, shown.shape[1], 4)):
                v = display_to_voxel(plane, index, row, col, ornt, shape)
                assert data[v] == shown[row, col]
                assert voxel_plane_index(plane, v, ornt, shape) == index


def test_each_voxel_is_shown_exactly_once_per_plane_stack():
    affine = _affines()[2]
    shape = (5, 6, 7)
    _, ornt, _ = to_ras(np.zeros(shape), affine)
    for plane in PLANES:
        seen = np.zeros(shape, int)
        n = ras_shape(shape, ornt)[{"axial": 2, "coronal": 1, "sagittal": 0}[plane]]
        for k in range(n):
            np.add.at(seen, plane_voxel_index(plane, k, ornt, shape), 1)
        assert (seen == 1).all()


def test_volume_editor_paints_through_planes_and_undoes():
    affine = _affines()[1]
    shape = (12, 10, 8)
    ed = VolumeLabelEditor(np.zeros(shape, np.uint8), affine, {"edema": 2})
    _, ornt, _ = to_ras(np.zeros(shape), affine)
    mask = np.zeros(plane_shape(ras_shape(shape, ornt), "coronal"), bool)
    mask[2:5, 3:7] = True
    assert ed.paint("coronal", 4, Region(mask, 0, 0), 2)
    assert ed.labels.sum() == 2 * mask.sum()
    assert np.array_equal(ed.plane_labels("coronal", 4) == 2, mask)
    r, c = 3, 4
    assert ed.labels[display_to_voxel("coronal", 4, r, c, ornt, shape)] == 2
    # erase one class only, then everything; undo brings each state back
    sq = np.zeros_like(mask)
    sq[2:4, 3:5] = True
    assert not ed.erase("coronal", 4, Region(sq, 0, 0), class_ids=[1])
    assert ed.erase("coronal", 4, Region(sq, 0, 0), class_ids=[2])
    assert ed.labels.astype(bool).sum() == mask.sum() - 4
    ed.undo()
    assert ed.labels.astype(bool).sum() == mask.sum()
    ed.undo()
    assert not ed.labels.any() and ed.undo() is None
    ed.redo()
    assert ed.labels.astype(bool).sum() == mask.sum()


def test_volume_fill_in_a_plane():
    shape = (20, 20, 6)
    ed = VolumeLabelEditor(np.zeros(shape, np.uint8), np.eye(4))
    ring = np.zeros((20, 20), bool)
    ring[4:15, 4] = ring[4:15, 14] = ring[4, 4:15] = ring[14, 4:15] = True
    ed.paint("axial", 3, Region(ring, 0, 0), 1)
    assert ed.fill_at("axial", 3, 1, 9, 9)
    assert (ed.plane_labels("axial", 3) == 1).sum() == 11 * 11
    assert (ed.labels[:, :, 3] == 1).sum() == 121 and ed.labels[:, :, 2].sum() == 0
