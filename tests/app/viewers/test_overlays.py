"""Overlay layers, colour legend, window/level and the volume view's 3-D overlays (offscreen Qt)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from app.state.overlays import CaseOverlay, ImageOverlay, OverlaySettings, prepare_image
from app.state.runs import ModelChoice
from app.viewers.image_panel import ImagePanel
from app.viewers.overlays import ColorLegend, OverlayLayers, colormap_lut
from app.viewers.window_level import WindowLevelTool

CHOICE = ModelChoice("demo", "v1", "demo", "fundus", threshold=3.0, pixel_threshold=3.0)


def _blob(h=300, w=400, cx=250, cy=120, peak=9.0, sigma=30.0):
    yy, xx = np.mgrid[0:h, 0:w]
    return (peak * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))).astype(np.float32)


@pytest.fixture
def panel(qtbot):
    p = ImagePanel("test")
    qtbot.addWidget(p)
    p.resize(500, 400)
    p.show()
    qtbot.waitExposed(p)
    return p


def test_heatmap_layers_toggle_independently(panel):
    panel.set_image(np.full((300, 400), 100, np.uint8))
    layers = OverlayLayers(panel.view)
    mask = np.zeros((300, 400), bool)
    mask[100:140, 230:270] = True
    s = OverlaySettings()
    layers.set_data(_blob(), mask, (0, 0, 400, 300), 3.0, s)
    assert layers.heatmap_visible() and layers.contour.isVisible() and layers.mask.isVisible()
    assert tuple(layers.heat.levels) == pytest.approx(s.clamp_for(3.0))
    assert layers.contour_points() > 20
    layers.apply(s.with_(show_heatmap=False))
    assert not layers.heatmap_visible() and layers.contour.isVisible() and layers.mask.isVisible()
    layers.apply(s.with_(show_contour=False, show_mask=False))
    assert layers.heatmap_visible() and not layers.contour.isVisible() and not layers.mask.isVisible()
    layers.apply(s.with_(visible=False))
    assert not any(i.isVisible() for i in (layers.heat, layers.contour, layers.mask, layers.mask_outline))
    layers.apply(s.with_(opacity=0.25, colormap="inferno", clamp=(1.0, 4.0)))
    assert layers.heat.opacity() == pytest.approx(0.25) and tuple(layers.heat.levels) == (1.0, 4.0)
    assert np.array_equal(layers.heat.lut, colormap_lut("inferno"))
    layers.clear()
    assert not layers.has_heatmap and not layers.heatmap_visible()


def test_iso_contour_lies_at_the_pixel_threshold(panel):
    panel.set_image(np.zeros((300, 400), np.uint8))
    layers = OverlayLayers(panel.view)
    heat = _blob()
    layers.set_data(heat, None, (0, 0, 400, 300), 3.0, OverlaySettings())
    x, y = layers.contour.getData()
    ok = np.isfinite(x)
    # sample the map at the contour points: the values are the threshold
    vals = heat[np.clip(np.round(y[ok] - 0.5).astype(int), 0, 299), np.clip(np.round(x[ok] - 0.5).astype(int), 0, 399)]
    assert np.median(np.abs(vals - 3.0)) < 0.3


def test_colormap_lut_is_transparent_at_the_bottom_of_the_range():
    lut = colormap_lut("turbo")
    assert lut.shape == (256, 4) and lut.dtype == np.uint8
    assert lut[0, 3] == 0 and lut[-1, 3] == 255 and lut[64, 3] == 255
    assert np.all(np.diff(lut[:64, 3].astype(int)) >= 0)


def test_colour_legend_draws_the_scale(qtbot):
    legend = ColorLegend()
    qtbot.addWidget(legend)
    legend.resize(90, 400)
    legend.set_scale("turbo", 0.0, 8.0, 3.0)
    legend.show()
    img = legend.grab().toImage()
    top = img.pixelColor(18, 80)
    bottom = img.pixelColor(18, img.height() - 40)
    lut = colormap_lut("turbo", 64, fade=0.0)
    # top of the bar shows the high end of the colormap (dark red), bottom the low end (dark blue/purple)
    assert top.red() > top.blue() and bottom.blue() > bottom.red()
    assert abs(top.red() - int(lut[-4, 0])) < 60


def test_window_level_on_a_16_bit_image(panel, qtbot):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 4096, size=(256, 256)).astype(np.uint16)
    img[100:150, 100:150] = 60000
    panel.set_image(img)
    wl = WindowLevelTool(panel)
    wl.image_changed(img)
    lo, hi = wl.levels()
    assert 0 <= lo < 100 and 3900 < hi <= 60000  # percentile default, not the raw range
    width, centre = wl.window()
    wl.drag_by(wl.SENSITIVITY, 0)  # right: wider window by e
    assert wl.window()[0] == pytest.approx(width * np.e, rel=1e-6)
    w2, c2 = wl.window()
    wl.drag_by(0, wl.SENSITIVITY / 2)  # down: level goes down by half a width
    assert wl.window()[1] == pytest.approx(c2 - w2 / 2, rel=1e-6)
    assert "W " in wl.label.textItem.toPlainText()
    wl.reset()
    assert wl.levels() == pytest.approx((lo, hi))
    # a real right-button drag on the view changes the window; a left drag does not
    vp = panel.graphics.viewport()
    start = QPoint(200, 200)
    qtbot.mousePress(vp, Qt.RightButton, pos=start)
    for dx in range(10, 120, 10):
        qtbot.mouseMove(vp, start + QPoint(dx, 0))
    qtbot.mouseRelease(vp, Qt.RightButton, pos=start + QPoint(120, 0))
    assert wl.window()[0] > (hi - lo) * 1.3


def _volume_case(shape=(20, 30, 40)):
    vol = np.zeros(shape, np.float32)
    vol[2:-2, 2:-2, 2:-2] = 100.0
    heat = np.zeros(shape, np.float32)
    heat[4:7, 10:13, 30:33] = 8.0  # a hot spot at voxel (5, 11, 31)
    return vol, heat


def test_volume_view_shows_a_3d_heatmap_in_the_right_place(qtbot):
    from app.viewers.volume_view import VolumeView

    vv = VolumeView()
    qtbot.addWidget(vv)
    vv.resize(900, 700)
    vv.show()
    vol, heat = _volume_case()
    affine = np.diag([-1.0, 1.0, 2.0, 1.0])  # x flipped (LAS), 2 mm slices
    vv.set_volume(vol, affine, title="t1", case_id="MRI-X")
    ov = CaseOverlay("MRI-X", CHOICE, 5.0, 3.0, 3.0, "t1", images={"t1": prepare_image(heat, heat > 4, heat.shape)})
    vv.set_result(CaseOverlay("OTHER", CHOICE, 5.0, 3.0, 3.0, "t1", images=ov.images))
    assert vv.heat_ras is None  # another case's result is ignored
    vv.set_result(ov)
    assert vv.heat_ras is not None
    # move the crosshair onto the hot spot: RAS x index = 19 - 5 (flipped axis)
    vv.set_position(19 - 5, 11, 31)
    vox, world = vv.world_position()
    assert np.allclose(vox, (5, 11, 31)) and np.allclose(world, (-5, 11, 62))
    assert "Anomaly z" in vv.readout.text() and "8.00" in vv.readout.text()
    for plane in ("axial", "coronal", "sagittal"):
        layers = vv.overlays[plane]
        assert layers.has_heatmap and layers.has_mask and layers.heatmap_visible()
        # the hot pixel of the displayed slice lies under the crosshair lines
        img = layers.heat.image
        r, c = np.unravel_index(np.argmax(img), img.shape)
        x0, y0, w, h = vv.plane_rect(plane)
        col_mm, row_mm = (c + 0.5) * w / img.shape[1], (r + 0.5) * h / img.shape[0]
        v, hline = vv.lines[plane]
        sx = w / img.shape[1]
        sy = h / img.shape[0]
        assert abs(v.value() - col_mm) <= 2 * sx and abs(hline.value() - row_mm) <= 2 * sy
    # away from the spot nothing is drawn in the axial plane
    vv.set_position(19 - 5, 11, 5)
    assert not vv.overlays["axial"].heat.image.max() > 0


def test_case_view_ignores_results_of_other_cases_and_pages(qtbot):
    from app.viewers.case_view import CaseView
    from core.domain import LoadedCase

    cv = CaseView()
    qtbot.addWidget(cv)
    cv.resize(900, 500)
    cv.show()
    stack = np.zeros((5, 64, 80), np.uint8)
    case = LoadedCase.from_arrays("OCT-1", oct=stack)
    case.images["oct"].record.shape = stack.shape
    cv.show_case(case)
    heat = _blob(64, 80, 40, 30, sigma=8.0)
    ov = CaseOverlay("OCT-1", CHOICE, 4.0, 3.0, 3.0, "oct", images={"oct": prepare_image(heat, None, stack.shape, is_stack=True, page=2)})
    cv.set_result(CaseOverlay("OCT-2", CHOICE, 4.0, 3.0, 3.0, "oct", images=ov.images))
    assert cv.result is None
    cv.set_result(ov)
    assert cv.current_page() == 2 and cv.overlays["oct"].has_heatmap
    cv.page_slider.setValue(0)  # the map belongs to the middle B-scan only
    assert not cv.overlays["oct"].has_heatmap
    cv.page_slider.setValue(2)
    assert cv.overlays["oct"].has_heatmap
    assert isinstance(ov.images["oct"], ImageOverlay)
