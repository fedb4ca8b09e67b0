"""En-face geometry: B-scan maps placed on the localizer through the B-scan positions."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import ImageMeta, LoadedCase, ScanLine
from core.models.enface import ascan_maxima, enface_for_case, enface_map, line_half_width, nearest_bscan, place_on_image

N, H, W = 5, 30, 64  # B-scans, rows (depth), A-scans
LOC_HW = (100, 120)  # localizer (h, w)
X0, X1 = 10.0, 90.0  # every line runs from x=10 (column 0) to x=90 (column 63)
YS = [20.0, 35.0, 50.0, 65.0, 80.0]  # B-scan k lies at y = YS[k]


def raster(reverse: bool = False) -> list[ScanLine]:
    return [ScanLine((X1, y), (X0, y)) if reverse else ScanLine((X0, y), (X1, y)) for y in YS]


def x_of(col: float, reverse: bool = False) -> float:
    t = col / (W - 1)
    return X1 - t * (X1 - X0) if reverse else X0 + t * (X1 - X0)


def lesion_volume(k: int = 3, cols: tuple[int, int] = (20, 30)) -> np.ndarray:
    heat = np.zeros((N, H, W), np.float32)
    heat[k, 12:18, cols[0] : cols[1] + 1] = 6.0  # a lesion at depth 12-17, A-scans 20-30 of B-scan k
    return heat


def test_per_ascan_maximum():
    heat = np.zeros((2, 4, 3), np.float32)
    heat[1, 2, 1] = 5.0
    heat[0, :, 2] = [1, -2, 3, 0]
    np.testing.assert_array_equal(ascan_maxima(heat), [[0, 0, 3], [0, 5, 0]])
    with pytest.raises(ValueError):
        ascan_maxima(np.zeros((4, 3)))


@pytest.mark.parametrize("reverse", [False, True])
def test_lesion_on_bscan_k_lands_on_line_k_at_its_columns(reverse):
    m = enface_map(lesion_volume(3), raster(reverse), LOC_HW)
    assert m.shape == LOC_HW and m.dtype == np.float32
    row = int(YS[3])
    lo, hi = sorted((x_of(20, reverse), x_of(30, reverse)))
    hot = np.flatnonzero(m[row] > 3.0)  # above half the lesion's value
    assert hot.size and abs(hot.min() - lo) <= 1.0 and abs(hot.max() - hi) <= 1.0
    assert m[row, int(round((lo + hi) / 2))] == pytest.approx(6.0)
    # every other line (and the band around it) stays at the background value
    for k, y in enumerate(YS):
        if k != 3:
            assert np.nanmax(m[int(y)]) == 0.0
    # the band of B-scan 3 reaches half-way to its neighbours, not further
    hw = line_half_width(raster(reverse))
    assert hw == pytest.approx(7.5)
    col = int(round((lo + hi) / 2))
    assert m[row - 7, col] == pytest.approx(6.0) and m[row + 7, col] == pytest.approx(6.0)
    assert m[row - 8, col] == 0.0 and m[row + 8, col] == 0.0
    # nothing outside the scanned rectangle
    assert np.isnan(m[: int(YS[0] - hw) - 1]).all() and np.isnan(m[int(YS[-1] + hw) + 2 :]).all()
    assert np.isnan(m[:, : int(X0) - 1]).all() and np.isnan(m[:, int(X1) + 2 :]).all()


def test_tilted_lines_and_a_coarser_grid():
    # lines at 30 degrees; the map grid is reduced (max_side) and still covers the whole image
    ang = np.deg2rad(30.0)
    d = np.array([np.cos(ang), np.sin(ang)]) * 60.0
    lines = [ScanLine((20.0 + 0 * k, 10.0 + 12.0 * k), (20.0 + d[0], 10.0 + 12.0 * k + d[1])) for k in range(N)]
    profiles = np.zeros((N, W), np.float32)
    profiles[2, 36:45] = 9.0  # A-scans 36-44 of B-scan 2
    m = place_on_image(profiles, lines, (200, 200), max_side=100)
    assert m.shape == (100, 100)
    t = 40 / (W - 1)
    ex, ey = lines[2].start[0] + t * d[0], lines[2].start[1] + t * d[1]
    assert m[int((ey + 0.5) / 2), int((ex + 0.5) / 2)] == pytest.approx(9.0)  # the cell holding that point
    yy, xx = np.nonzero(m > 4.5)
    x, y = (xx + 0.5) * 2 - 0.5, (yy + 0.5) * 2 - 0.5  # cell centres in image pixels
    u = d / np.linalg.norm(d)
    along = ((x - lines[2].start[0]) * u[0] + (y - lines[2].start[1]) * u[1]) / 60.0 * (W - 1)
    across = np.abs((x - lines[2].start[0]) * u[1] - (y - lines[2].start[1]) * u[0])
    assert along.min() >= 35.0 and along.max() <= 45.0
    assert line_half_width(lines) == pytest.approx(6.0 * np.cos(ang))  # half the perpendicular gap between lines
    assert across.max() <= line_half_width(lines) + 1.5  # within the band (plus half a coarse cell's diagonal)


def test_case_helper_uses_the_image_the_positions_refer_to():
    heat = lesion_volume(1)
    vol = np.zeros((N, H, W), np.uint8)
    loc = np.zeros(LOC_HW, np.uint8)
    case = LoadedCase.from_arrays("c", oct=vol, fundus=loc)
    rec = case.images["oct"].record
    rec.meta = ImageMeta(bscan_positions=raster(), localizer="fundus")
    ef = enface_for_case(case, "oct", heat)
    assert ef is not None and ef.on == "fundus" and ef.values.shape == LOC_HW
    assert np.nanmax(ef.values[int(YS[1])]) == pytest.approx(6.0)
    # no positions, wrong count or a missing localizer: no map
    rec.meta = ImageMeta(bscan_positions=raster()[:3], localizer="fundus")
    assert enface_for_case(case, "oct", heat) is None
    rec.meta = ImageMeta(bscan_positions=raster(), localizer="missing")
    assert enface_for_case(case, "oct", heat) is None
    assert enface_for_case(case, "oct", heat[0]) is None


def test_single_line_and_click_hit_test():
    line = [ScanLine((10.0, 50.0), (90.0, 50.0))]
    assert line_half_width(line) == pytest.approx(1.5)
    m = place_on_image(np.ones((1, W), np.float32), line, LOC_HW)
    assert (m[50, 11:89] == 1.0).all() and np.isnan(m[46]).all()
    assert nearest_bscan(50.0, 36.0, raster(), tolerance=3.0) == 1
    assert nearest_bscan(50.0, 42.0, raster(), tolerance=3.0) is None  # between two lines
    assert nearest_bscan(100.0, 35.0, raster(), tolerance=3.0) is None  # beyond the line's end
    assert nearest_bscan(91.0, 80.5, raster(), tolerance=3.0) == 4
