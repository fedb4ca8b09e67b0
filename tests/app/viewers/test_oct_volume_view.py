"""The review view of an OCT volume (issue 22): the localizer with every B-scan's line, the current
B-scan's line highlighted, a click on a line or the wheel over the B-scan moves through the volume,
the cursor on the B-scan marks its point on the localizer, the en-face map is an overlay following
the overlay settings, and the B-scan heatmap shown is the current B-scan's."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent

from app.state.overlays import OUTSIDE_SCAN, CaseOverlay, prepare_image
from app.state.runs import ModelChoice

TINY_WRN = {"backbone": "wide_resnet50", "backbone_weights": "random", "image_size": 64, "coreset_ratio": 0.5}


@pytest.fixture(scope="module")
def volume_demo_master(small_demo_master, tmp_path_factory):
    """The small demo with PatchCore (a small random-weights backbone: the view is tested, not the
    features) fitted on its OCT normals (single B-scans, a stack, the B-scans of VOL-N01) and
    stored predictions of both volume cases. Read-only: copy before writing."""
    import torch

    from core.models import store
    from core.workspace import Workspace

    root = tmp_path_factory.mktemp("volume-master") / "ws"
    shutil.copytree(small_demo_master, root, ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    ws = Workspace.open(root)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny network on a shared 2-core machine
    try:
        model = store.fit_on_workspace(ws, "patchcore", dict(TINY_WRN, device="cpu", modality="oct"))
        store.predict_cases(ws, model, ["VOL-L01", "VOL-N01"])
    finally:
        torch.set_num_threads(threads)
        ws.close()
    return root


@pytest.fixture
def volume_demo(volume_demo_master, tmp_path):
    dst = tmp_path / "vol"
    shutil.copytree(volume_demo_master, dst, ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    return dst


def _click_view_point(qtbot, panel, x: float, y: float) -> None:
    scene = panel.view.mapViewToScene(QPointF(x, y))
    pos = panel.graphics.mapFromScene(scene)
    qtbot.mouseClick(panel.graphics.viewport(), Qt.LeftButton, pos=pos)


def _wheel(widget, up: bool, modifiers=Qt.NoModifier) -> None:
    from PySide6.QtWidgets import QApplication

    centre = QPointF(widget.width() / 2, widget.height() / 2)
    delta = QPoint(0, 120 if up else -120)
    ev = QWheelEvent(centre, widget.mapToGlobal(centre), QPoint(), delta, Qt.NoButton, modifiers, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)


@pytest.mark.slow
def test_volume_case_shows_localizer_lines_enface_and_moves_through_bscans(open_window, volume_demo, qtbot, tmp_path):
    from core.models import store
    from core.workspace import Workspace

    ws = Workspace.open(volume_demo)
    result = store.load_result(ws, "patchcore", "VOL-L01")
    record = ws.case("VOL-L01")
    ws.close()
    vol = record.oct_volume
    positions = vol.bscan_positions
    assert result is not None and result.slices.plane == "bscan" and result.images["oct"].enface_on == "localizer"

    w = open_window(volume_demo)
    w.open_case_now("VOL-L01")
    cv = w.case_view
    qtbot.waitUntil(lambda: cv.result is not None and cv.result.case_id == "VOL-L01", timeout=30_000)
    assert w.viewers.currentWidget() is cv and cv.fundus.isVisible() and cv.oct.isVisible()
    assert cv.left.record.name == "localizer" and cv.fundus.title.text() == "Localizer"
    # every B-scan's line on the localizer; the current one highlighted
    assert cv.bscan_lines.line_count() == vol.n_bscans == len(positions)
    xs, ys = cv.bscan_lines.item.getData()
    assert np.isfinite(xs).sum() == 2 * len(positions)
    top = result.slices.top
    assert cv.current_page() == top  # opened on the highest-scoring B-scan
    hx, hy = cv.scan_line.getData()
    assert (hx[0], hy[0], hx[1], hy[1]) == pytest.approx((*positions[top].start, *positions[top].end))
    assert f"score {result.slices.scores[top]:.2f}" in cv.page_label.text() and "(highest)" in cv.page_label.text()
    # the en-face map is the localizer's overlay; the B-scan shows the current B-scan's map
    assert cv.enface_shown() and cv.overlays["fundus"].has_heatmap and cv.overlays["fundus"].heatmap_visible()
    assert cv.overlays["oct"].has_heatmap
    heat_stack = cv.result.images["oct"].heatmap
    assert heat_stack.ndim == 3 and heat_stack.shape[0] == vol.n_bscans
    np.testing.assert_array_equal(cv.overlays["oct"].heat.image, heat_stack[top])
    w.grab().save(str(tmp_path / "oct-volume.png"))

    # clicking another B-scan's line on the localizer moves to that B-scan
    other = (top + 1) % len(positions)
    mid = positions[other].point_at(0.5)
    _click_view_point(qtbot, cv.fundus, *mid)
    assert cv.current_page() == other
    np.testing.assert_array_equal(cv.overlays["oct"].heat.image, heat_stack[other])
    hx, hy = cv.scan_line.getData()
    assert (hx[0], hy[0]) == pytest.approx(positions[other].start)
    # the wheel over the B-scan moves through the volume; the cursor marks its point on the localizer
    before = cv.current_page()
    _wheel(cv.oct.graphics.viewport(), up=before == 0)
    assert cv.current_page() == (before + 1 if before == 0 else before - 1)
    page = cv.current_page()
    width = vol.shape[-1]
    cv.oct.mouse_moved.emit(width / 4, 10.0)
    mx, my = cv.scan_marker.getData()
    ex, ey = positions[page].point_at((width / 4) / (width - 1))
    assert (mx[0], my[0]) == pytest.approx((ex, ey))
    # the en-face layer follows the overlay settings; unticking the toggle removes it
    cv.apply_overlay_settings(cv.overlay_settings.with_(show_heatmap=False))
    assert not cv.overlays["fundus"].heatmap_visible()
    cv.apply_overlay_settings(cv.overlay_settings.with_(show_heatmap=True, opacity=0.3, colormap="viridis"))
    assert cv.overlays["fundus"].heatmap_visible() and cv.overlays["fundus"].heat.opacity() == pytest.approx(0.3)
    cv.page_bar.enface.setChecked(False)
    assert not cv.enface_shown() and not cv.overlays["fundus"].has_heatmap
    cv.page_bar.enface.setChecked(True)
    assert cv.overlays["fundus"].has_heatmap


@pytest.mark.slow
def test_fundus_and_volume_pair_draws_lines_and_enface_on_the_photo(open_window, volume_demo, qtbot):
    w = open_window(volume_demo)
    w.open_case_now("VOL-N01")
    cv = w.case_view
    qtbot.waitUntil(lambda: cv.result is not None and cv.result.case_id == "VOL-N01", timeout=30_000)
    assert cv.left.record.name == "fundus" and cv.bscan_lines.line_count() == cv.case.record.oct_volume.n_bscans
    assert cv.enface_shown() and cv.overlays["fundus"].has_heatmap


def test_prepare_image_reduces_every_bscan_and_keeps_the_enface_map():
    heat = np.random.default_rng(0).normal(size=(4, 496, 512)).astype(np.float32)
    mask = heat > 2.0
    enface = np.full((64, 80), np.nan, np.float32)
    enface[10:20, 5:70] = 4.0
    ov = prepare_image(heat, mask, (4, 496, 512), is_stack=True, score=2.5, enface=enface, enface_on="localizer")
    assert ov.heatmap.shape[0] == 4 and max(ov.heatmap.shape[1:]) <= 384 and ov.mask.shape[0] == 4
    assert ov.per_bscan and ov.hw == (496, 512) and ov.heat_range == (float(heat.min()), float(heat.max()))
    h, m = ov.page_maps(2)
    assert h.ndim == 2 and m.ndim == 2 and ov.page_maps(None) == (None, None)
    assert ov.enface_on == "localizer" and ov.enface[15, 30] == 4.0 and ov.enface[0, 0] == OUTSIDE_SCAN
    choice = ModelChoice("patchcore", "v1", "PatchCore", "oct", 3.0, 3.0)
    from core.workspace.results import SliceScores

    co = CaseOverlay("c", choice, 2.5, 3.0, 3.0, "oct", images={"oct": ov}, slices=SliceScores(0, "bscan", [0.1, 2.5, -1.0, 0.3], top=1))
    assert co.enface()[1] == "localizer" and co.bscan_score(1) == 2.5 and co.bscan_score(9) is None


def test_a_case_with_a_localizer_and_a_photo_chooses_the_en_face_image(qtbot):
    from app.viewers.case_view import CaseView
    from core.domain import ROLE_LOCALIZER, ImageMeta, LoadedCase, ScanLine

    cv = CaseView()
    qtbot.addWidget(cv)
    cv.resize(900, 500)
    cv.show()
    lines = [ScanLine((10.0, 20.0 + 10 * k), (90.0, 20.0 + 10 * k)) for k in range(4)]
    case = LoadedCase.from_arrays(
        "C", fundus=np.full((120, 130, 3), 90, np.uint8), fundus_ir=np.full((100, 100), 60, np.uint8), oct=np.zeros((4, 40, 64), np.uint8)
    )
    case.images["fundus_ir"].record.meta = ImageMeta(role=ROLE_LOCALIZER)
    case.images["oct"].record.meta = ImageMeta(bscan_positions=lines, localizer="fundus_ir")
    enface = np.full((100, 100), np.nan, np.float32)
    enface[15:55, 10:90] = 5.0
    cv.show_case(case)
    assert cv.left.record.name == "fundus_ir" and cv.bscan_lines.line_count() == 4
    assert cv.page_bar.chooser.isVisible() and cv.page_bar.chooser.count() == 2
    heat = np.zeros((4, 40, 64), np.float32)
    heat[2, 10:20, 20:40] = 6.0
    ov = prepare_image(heat, None, (4, 40, 64), is_stack=True, score=6.0, enface=enface, enface_on="fundus_ir")
    from core.workspace.results import SliceScores

    choice = ModelChoice("patchcore", "v1", "PatchCore", "oct", 3.0, 3.0)
    cv.set_result(
        CaseOverlay("C", choice, 6.0, 3.0, 3.0, "oct", images={"oct": ov}, slices=SliceScores(0, "bscan", [0.0, 1.0, 6.0, 0.5], top=2))
    )
    assert cv.current_page() == 2 and cv.enface_shown() and "score 6.00  (highest)" in cv.page_label.text()
    assert cv.overlays["oct"].has_heatmap and cv.overlays["oct"].heat.image.max() == pytest.approx(6.0)
    # the photo: no B-scan positions refer to it, so no lines and no en-face map there
    cv.page_bar.chooser.setCurrentIndex(1)
    cv.page_bar.chooser.activated.emit(1)
    assert cv.left.record.name == "fundus" and cv.bscan_lines.line_count() == 0 and not cv.enface_shown()
    assert cv.scan_line.getData()[0] is None or len(cv.scan_line.getData()[0]) == 0
    assert not cv.page_bar.enface.isVisible()
    cv.page_bar.chooser.setCurrentIndex(0)
    cv.page_bar.chooser.activated.emit(0)
    assert cv.left.record.name == "fundus_ir" and cv.enface_shown() and cv.bscan_lines.line_count() == 4
    # a click in a B-scan's band selects it; Ctrl+wheel zooms instead of moving
    _click_view_point(qtbot, cv.fundus, 50.0, 31.0)
    assert cv.current_page() == 1
    _wheel(cv.oct.graphics.viewport(), up=True)
    assert cv.current_page() == 2
    zoom = cv.oct.view.viewRange()
    _wheel(cv.oct.graphics.viewport(), up=True, modifiers=Qt.ControlModifier)
    assert cv.current_page() == 2 and cv.oct.view.viewRange() != zoom
