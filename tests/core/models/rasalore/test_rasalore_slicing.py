"""The RASALoRE volume <-> slice mapping and its exact inverse."""

import numpy as np
import pytest

from core.models.rasalore.slicing import geometry_from_json, normalise_volume, plan_slices

LPS_SWAPPED = np.array(
    [
        [0.0, -1.2, 0.0, 10.0],  # array axis 1 -> -x (L), 1.2 mm
        [-1.0, 0.0, 0.0, 5.0],  # array axis 0 -> -y (P)
        [0.0, 0.0, 2.0, -3.0],  # array axis 2 -> +z (S), 2 mm
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def _phantom(shape=(30, 26, 40), seed=0):
    rng = np.random.default_rng(seed)
    data = np.zeros(shape, np.float32)
    c = np.array(shape) / 2
    g = np.indices(shape).astype(np.float32)
    r = np.sqrt(sum(((g[i] - c[i]) / (0.35 * shape[i])) ** 2 for i in range(3)))
    data[r < 1] = rng.uniform(100, 200, int((r < 1).sum()))
    return data


@pytest.mark.parametrize("affine", [None, np.diag([1.0, 1.0, 1.0, 1.0]), LPS_SWAPPED])
def test_round_trip_is_exact_without_resize(affine):
    data = _phantom()
    geo = plan_slices(data, affine, size=8, skip=3, margin=2)
    side = geo.box[2]
    slices = geo.extract(data, size=side)
    assert slices.shape == (geo.n, side, side)
    back = geo.to_volume(slices, fill=-1.0)
    assert back.shape == data.shape
    covered = back != -1.0
    # every voxel inside the box of a kept slice comes back bit for bit
    np.testing.assert_array_equal(back[covered], data[covered])
    # and every brain voxel of a kept slice is covered by the box
    kept = np.zeros(data.shape, bool)
    idx = [slice(None)] * 3
    idx[geo.array_axis] = geo.array_indices()
    kept[tuple(idx)] = True
    assert covered[kept & (data > 0)].all()
    assert not covered[~kept].any()


def test_skip_and_array_indices_follow_the_affine():
    data = _phantom()
    geo = plan_slices(data, LPS_SWAPPED, size=16, skip=5)
    assert geo.array_axis == 2 and geo.n == data.shape[2] - 10
    assert geo.array_indices() == list(range(5, data.shape[2] - 5))
    flipped = LPS_SWAPPED.copy()
    flipped[2, 2] = -2.0  # array axis 2 now runs inferior
    geo2 = plan_slices(data, flipped, size=16, skip=5)
    assert geo2.array_indices() == [data.shape[2] - 1 - z for z in range(5, data.shape[2] - 5)]
    # a slice of the stack is the array slice it claims to be
    marker = np.zeros_like(data)
    k = 7
    marker[:, :, geo2.array_index(k)] = data[:, :, geo2.array_index(k)]
    counts = geo2.slice_counts(marker)
    assert counts[k] == np.count_nonzero(data[:, :, geo2.array_index(k)]) and counts.sum() == counts[k]


def test_tiny_volume_keeps_a_slice_and_json_round_trip():
    data = _phantom((12, 12, 5))
    geo = plan_slices(data, None, size=8, skip=15)
    assert geo.n >= 1
    assert geometry_from_json(geo.to_json()) == geo


def test_resized_map_lands_on_the_right_voxels():
    data = _phantom((40, 36, 24))
    geo = plan_slices(data, LPS_SWAPPED, size=64, skip=2)
    target = np.zeros(data.shape, np.float32)
    target[14:22, 10:18, 9:13] = 1.0  # a block lesion in array coordinates
    slices = geo.extract(target)  # upsampled to 64 px
    back = geo.to_volume(slices)
    assert ((back >= 0.5) == (target >= 0.5)).mean() > 0.995
    assert ((back >= 0.5) & (target > 0)).sum() >= 0.9 * target.sum()


def test_normalise_volume_gamma():
    data = np.linspace(0, 100, 1000, dtype=np.float32).reshape(10, 10, 10)
    out = normalise_volume(data, gamma=2.0, percentile=100)
    assert out.min() == 0 and abs(out.max() - 1.0) < 1e-6
    np.testing.assert_allclose(out, (data / 100) ** 2, atol=1e-6)
