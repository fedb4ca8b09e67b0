import numpy as np
import pytest

from core.labels.raster import Region, combine, enclosed_region, mask_to_polygons, overlaps, polygon_region, stroke_region


def test_brush_disc_covers_pixel_centres_within_radius():
    r = stroke_region([(50.5, 50.5)], 10, 200, 200)
    full = r.full(200, 200)
    yy, xx = np.mgrid[:200, :200] + 0.5
    expected = (xx - 50.5) ** 2 + (yy - 50.5) ** 2 <= 100
    assert np.array_equal(full, expected)


def test_stroke_is_continuous_and_clipped_to_the_image():
    r = stroke_region([(-20, 10), (60, 10)], 3, 40, 50)
    full = r.full(40, 50)
    assert full[10, :].all()  # no gaps along the drag, clipped at both borders
    assert full.shape == (40, 50) and r.x0 == 0
    assert stroke_region([(-100, -100)], 3, 40, 50) is None
    tiny = stroke_region([(5.2, 7.9)], 0.1, 40, 50)
    assert tiny.full(40, 50)[7, 5] and tiny.mask.sum() == 1


def test_enclosed_region_fills_only_closed_contours():
    ring = np.zeros((60, 60), bool)
    ring[10:40, 10] = ring[10:40, 39] = ring[10, 10:40] = ring[39, 10:40] = True
    inside = enclosed_region(ring, 20, 20)
    assert inside.sum() == 28 * 28 and not inside[ring].any()
    assert enclosed_region(ring, 5, 5) is None  # outside: reaches the border
    assert enclosed_region(ring, 10.5, 20) is None  # on the contour
    ring[20, 39] = False  # open the contour
    assert enclosed_region(ring, 20, 20) is None


def test_mask_polygon_round_trip_and_holes_are_kept():
    from skimage.draw import disk

    m = np.zeros((120, 160), bool)
    m[disk((60, 50), 30)] = True
    m[20:50, 100:150] = True
    polys, kept = mask_to_polygons(m)
    assert len(polys) == 2 and not kept
    back = np.zeros_like(m)
    for p in polys:
        back |= polygon_region(p, 120, 160).full(120, 160)
    iou = (back & m).sum() / (back | m).sum()
    assert iou > 0.95
    donut = np.zeros((80, 80), bool)
    donut[disk((40, 40), 30)] = True
    donut[disk((40, 40), 10)] = False
    polys, kept = mask_to_polygons(donut)
    assert not polys and len(kept) == 1 and np.array_equal(kept[0], donut)


def test_region_algebra():
    a = Region(np.ones((4, 4), bool), 0, 0)
    b = Region(np.ones((4, 4), bool), 4, 0)
    assert not overlaps(a, b) and overlaps(a, b, touch=True)
    u = combine([a, b])
    assert (u.x0, u.y0, u.mask.shape) == (0, 0, (4, 8)) and u.mask.all()
    d = combine([u], [Region(np.ones((4, 2), bool), 3, 0)])
    assert d.mask.sum() == 32 - 8 and not d.full(4, 8)[:, 3:5].any()
    assert combine([a], [a]) is None


@pytest.mark.parametrize("n", [1, 2])
def test_polygon_region_matches_labelme_rasterisation(n):
    from core.io.labelme import Shape

    pts = [[3.0, 4.0], [30.0, 6.0], [25.0, 28.0], [5.0, 20.0]][: 4 if n == 1 else 3]
    expected = Shape("x", pts).rasterize(40, 40)
    assert np.array_equal(polygon_region(pts, 40, 40).full(40, 40), expected)
