"""The labelling view driven with real mouse and key events (pytest-qt, offscreen)."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.app.editing.label_helpers import click, drag, image_pos


@pytest.fixture
def labelling(window, qtbot):
    window.label_mode.set_active(True)
    return window


def _open(window, qtbot, case_id):
    window.open_case_now(case_id)
    view = window.label_mode.view2d
    assert window.viewers.currentWidget() is view
    qtbot.waitUntil(lambda: view.current is not None and view.current.target.image.case_id == case_id)
    return view


def _key(qtbot, view, key, mod=Qt.NoModifier):
    view.canvas.panel.graphics.setFocus()
    qtbot.keyClick(view.canvas.panel.graphics, key, mod)


def test_polygon_brush_erase_undo_redo_and_restart(labelling, qtbot, small_demo):
    window = labelling
    view = _open(window, qtbot, "FUN-N01")
    ed = view.current.editor
    assert len(ed.shapes) == 0
    view.set_active_label("retinal hemorrhage")
    panel = view.canvas.panel

    # polygon: four clicks and a click on the first point close it
    _key(qtbot, view, Qt.Key_P)
    assert view.canvas.tool.name == "polygon"
    corners = [(300, 300), (600, 300), (600, 600), (300, 600)]
    for x, y in corners:
        click(panel, x, y)
    click(panel, *corners[0])
    assert [s.shape_type for s in ed.shapes] == ["polygon"] and ed.shapes[0].label == "retinal hemorrhage"
    poly_px = ed.class_mask("retinal hemorrhage").sum()
    assert abs(poly_px - 300 * 300) < 3000

    # brush stroke in another class, size set with ] and [
    view.set_active_label("cotton-wool spots")
    _key(qtbot, view, Qt.Key_B)
    r0 = view.canvas.brush_radius
    _key(qtbot, view, Qt.Key_BracketRight)
    assert view.canvas.brush_radius > r0
    _key(qtbot, view, Qt.Key_BracketLeft)
    assert view.canvas.brush_radius == pytest.approx(r0, abs=1)
    drag(panel, [(800 + 8 * i, 900) for i in range(30)])
    brush = ed.class_mask("cotton-wool spots")
    assert brush.sum() > 200 * 2 * r0 * 0.8 and brush[900, 900]
    assert ed.shapes[-1].shape_type == "mask"

    # eraser across the polygon (active class only)
    view.set_active_label("retinal hemorrhage")
    _key(qtbot, view, Qt.Key_E)
    drag(panel, [(450, 250), (450, 650)])
    after = ed.class_mask("retinal hemorrhage")
    assert after.sum() < poly_px and not after[450, 450] and after[450, 320]
    assert ed.class_mask("cotton-wool spots").sum() == brush.sum()

    # undo / redo with the keyboard
    states = [s for s in ed.shapes]
    _key(qtbot, view, Qt.Key_Z, Qt.ControlModifier)
    assert ed.class_mask("retinal hemorrhage").sum() == poly_px
    _key(qtbot, view, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert list(ed.shapes) == states
    view.undo()
    view.undo()
    assert [s.shape_type for s in ed.shapes] == ["polygon"]
    view.redo()
    assert len(ed.shapes) == 2

    # autosave writes within 2 s; a restarted window finds the labels
    saver = view.current.saver
    qtbot.waitUntil(lambda: not saver.dirty, timeout=2000)
    expected = {lab: ed.class_mask(lab).copy() for lab in ("retinal hemorrhage", "cotton-wool spots")}
    window.close()

    from app.main_window import MainWindow
    from app.state.session import Session
    from core.workspace import Workspace

    w2 = MainWindow(Session(workspace=Workspace.open(small_demo), user="tester"))
    qtbot.addWidget(w2)
    w2.show()
    w2.label_mode.set_active(True)
    v2 = _open(w2, qtbot, "FUN-N01")
    for lab, m in expected.items():
        assert np.array_equal(v2.current.editor.class_mask(lab), m)
    w2.close()


def test_select_move_relabel_delete_flags_and_classes(labelling, qtbot, small_demo):
    view = _open(labelling, qtbot, "FUN-L01")
    ed = view.current.editor
    n0 = len(ed.shapes)
    assert n0 > 0 and view.panel.shapes.count() == n0
    view.set_active_label("cherry-red spot")
    view.set_tool("rectangle")
    drag(view.canvas.panel, [(100, 100), (160, 150), (200, 180)])
    assert ed.shapes[-1].shape_type == "rectangle"
    view.set_tool("select")
    click(view.canvas.panel, 150, 140)
    assert view.canvas.selected == {n0}
    (x0, y0), _ = ed.shapes[n0].points
    drag(view.canvas.panel, [(150, 140), (180, 160), (200, 170)])
    (x1, y1), _ = ed.shapes[n0].points
    # moved by (50, 30) image pixels as the mouse saw them (screen pixels are rounded to integers)
    dx, dy = np.subtract(image_pos(view.canvas.panel, 200, 170), image_pos(view.canvas.panel, 150, 140))
    assert (x1 - x0, y1 - y0) == pytest.approx((dx, dy), abs=0.6) and (dx, dy) == pytest.approx((50, 30), abs=5)
    view.canvas.relabel_selection("retinal embolus")
    assert ed.shapes[n0].label == "retinal embolus"
    _key(qtbot, view, Qt.Key_Delete)
    assert len(ed.shapes) == n0
    # image flags: a symptom flag implies abnormal
    view.panel.flag_normal.setChecked(True)
    assert ed.flags["normal"] and not ed.flags["abnormal"]
    view.panel.class_flag_changed.emit("retinal embolus", True)
    assert ed.flags["retinal embolus"] and ed.flags["abnormal"] and not ed.flags["normal"]
    # workspace classes: add and rename, stored in the workspace
    view.add_class("drusen")
    assert "drusen" in view.panel.class_names() and view.active_label() == "drusen"
    view.rename_class("drusen", "soft drusen")
    from core.labels.classes import workspace_class_set

    assert workspace_class_set(labelling.session.workspace, "fundus").by_name("soft drusen").id == 10


def test_failed_save_is_shown_and_stays_unsaved(labelling, qtbot):
    import os
    import shutil

    view = _open(labelling, qtbot, "FUN-N02")
    target = labelling.session.workspace.label_path(view.current.target.image)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # root ignores permissions: block the file name instead
        folder.chmod(0o700)
        target.mkdir()
        (target / "x").write_text("x")
    view.set_active_label("neovascularization")
    view.set_tool("brush")
    drag(view.canvas.panel, [(500, 500), (600, 520)])
    saver = view.current.saver
    qtbot.waitUntil(lambda: saver.last_error is not None, timeout=3000)
    assert saver.dirty
    assert view.panel.save_state.objectName() == "saveerror" and "NOT saved" in view.panel.save_state.text()
    folder.chmod(0o700)
    if target.is_dir():
        shutil.rmtree(target)
    saver.save_now()
    qtbot.waitUntil(lambda: not saver.dirty, timeout=5000)
    assert view.panel.save_state.objectName() == "saveok" and target.is_file()


@pytest.mark.slow
def test_sam_clicks_on_the_demo_fundus(labelling, qtbot):
    """Clicks inside a synthetic lesion give a SAM mask from the cached embedding; Enter accepts it
    into the active class; a negative click refines."""
    from core.io.labelme import Shape

    view = _open(labelling, qtbot, "FUN-L01")
    ed = view.current.editor
    truth: Shape = next(s for s in ed.shapes if s.label == "retinal whitening")
    gt = truth.rasterize(ed.height, ed.width)
    from scipy import ndimage

    dist = ndimage.distance_transform_edt(gt)
    iy, ix = np.unravel_index(np.argmax(dist), dist.shape)
    view.set_active_label("retinal whitening")
    _key(qtbot, view, Qt.Key_S)
    assert view.canvas.tool.name == "sam"
    qtbot.waitUntil(view.sam.has_embedding, timeout=420_000)  # the first use exports the encoder to ONNX (once per session)
    click(view.canvas.panel, ix + 0.5, iy + 0.5)
    qtbot.waitUntil(lambda: view.sam.result is not None, timeout=60000)
    m = view.sam.result.mask
    iou = (m & gt).sum() / (m | gt).sum()
    assert iou > 0.7, iou
    # refine: a negative click just outside the lesion keeps the lesion and excludes that point
    ys, xs = np.nonzero(gt)
    nx, ny = float(xs.max()) + 25.0, float(ys[np.argmax(xs)])
    first = view.sam.result
    click(view.canvas.panel, nx, ny, button=Qt.RightButton)
    qtbot.waitUntil(lambda: view.sam.result is not first and not view.sam.busy(), timeout=60000)
    assert view.sam.prompts.labels == [1, 0]
    m2 = view.sam.result.mask
    assert not m2[int(ny), int(nx)] and (m2 & gt).sum() / (m2 | gt).sum() > 0.6
    n = len(ed.shapes)
    _key(qtbot, view, Qt.Key_Return)
    assert len(ed.shapes) == n + 1 and ed.shapes[-1].label == "retinal whitening" and ed.shapes[-1].shape_type == "mask"
    assert view.sam.prompts.empty()
    assert view.sam.last_decode_ms is not None


def test_mri_slice_labelling_in_volume_space(labelling, qtbot):
    from core.labels.planes import display_to_voxel

    window = labelling
    mri = next(c for c in window.session.cases if c.id.startswith("MRI-L"))
    window.open_case_now(mri.id)
    view = window.label_mode.view3d
    assert window.viewers.currentWidget() is view
    vol = view.volume
    ed = view.current.editor
    assert ed.labels.shape == tuple(mri.images[0].shape[:3])
    before = ed.labels.copy()
    view.panel.set_active("peritumoural edema")
    assert vol.active_id == 2
    view.set_tool("brush")
    vol.set_brush_radius(2)
    # drag in the coronal plane (view units are mm)
    panel = vol.panels["coronal"]
    sx, sy, sz = vol.spacing
    rows = [60, 60, 60]
    cols = [80, 90, 100]
    drag(panel, [((c + 0.5) * sx, (r + 0.5) * sz) for r, c in zip(rows, cols)])
    k = vol.pos[1]
    for r, c in zip(rows, cols):
        v = display_to_voxel("coronal", k, r, c, ed.ornt, ed.shape)
        assert ed.labels[v] == 2
    changed = ed.labels != before
    assert changed.any() and (ed.labels[changed] == 2).all()
    # the same voxels show in the axial plane through them
    v = display_to_voxel("coronal", k, rows[1], cols[1], ed.ornt, ed.shape)
    from core.labels.planes import voxel_plane_index

    assert (ed.plane_labels("axial", voxel_plane_index("axial", v, ed.ornt, ed.shape)) == 2).any()
    # undo restores, redo repaints; autosave writes the NIfTI on the scan grid
    view.undo()
    assert np.array_equal(ed.labels, before)
    view.redo()
    saver = view.current.saver
    qtbot.waitUntil(lambda: not saver.dirty, timeout=10000)
    stored, legend = window.session.workspace.read_label_volume(view.current.target.image)
    assert np.array_equal(stored, ed.labels) and legend["peritumoural edema"] == 2
    # navigation tool: a click moves the crosshair instead of painting
    view.set_tool("select")
    n = int((ed.labels == 2).sum())
    click(vol.panels["axial"], 50.0, 60.0)
    assert int((ed.labels == 2).sum()) == n


def test_model_result_becomes_an_editable_label(labelling, qtbot):
    import json

    from core.workspace.catalog import now_iso

    ws = labelling.session.workspace
    case = ws.case("FUN-N03")
    im = case.images[0]
    h, w = im.shape[:2]
    heat = np.zeros((h, w), np.float32)
    heat[200:260, 300:380] = 6.0
    mask = np.zeros((h, w), bool)
    mask[210:250, 310:370] = True
    key = f"results/mias_sam/v1/{im.sha256}"
    ws.arrays.put(key + "/heatmap", heat)
    ws.arrays.put(key + "/mask", mask)
    with ws.catalog.transaction() as c:
        c.execute(
            "INSERT INTO model_versions(name, version, path, created, active, status, card) VALUES(?,?,?,?,?,?,?)",
            ("mias_sam", "v1", "models/mias_sam/v1", now_iso(), 1, "ready", json.dumps({"pixel_threshold": 3.0})),
        )
        c.execute(
            "INSERT INTO results(model, version, case_id, image, score, raw_score, threshold, maps, extras, created)"
            " VALUES(?,?,?,?,?,?,?,?,?,?)",
            (
                "mias_sam",
                "v1",
                case.id,
                im.name,
                5.0,
                1.0,
                3.0,
                json.dumps({im.name: {"heatmap": key + "/heatmap", "mask": key + "/mask"}}),
                "{}",
                now_iso(),
            ),
        )
    view = _open(labelling, qtbot, case.id)
    ed = view.current.editor
    assert view.panel.result_combo.count() == 1 and view.panel.result_box.isEnabled()
    view.set_active_label("retinal hemorrhage")
    view.panel.result_btn.click()  # the MIAS-SAM mask, as a mask shape
    assert np.array_equal(ed.class_mask("retinal hemorrhage"), mask)
    view.panel.result_use.setCurrentIndex(1)  # heatmap above the pixel threshold, as polygons
    view.panel.result_poly.setChecked(True)
    view.panel.result_btn.click()
    assert ed.shapes[-1].shape_type == "polygon"
    assert ed.class_mask("retinal hemorrhage").sum() >= (heat > 3).sum() * 0.97
    view.undo()
    assert np.array_equal(ed.class_mask("retinal hemorrhage"), mask)


def test_label_keys_win_over_review_keys_in_label_mode(labelling, qtbot):
    """1, F, R and Enter pick classes and tools while labelling; back in review they decide again."""
    view = _open(labelling, qtbot, "FUN-N02")
    _key(qtbot, view, Qt.Key_2)
    assert view.active_label() == view.panel.class_names()[1]
    _key(qtbot, view, Qt.Key_F)
    assert view.canvas.tool.name == "fill"
    assert labelling.session.workspace.case("FUN-N02").decision is None
    labelling.label_mode.set_active(False)
    labelling.case_view.setFocus()
    qtbot.keyClick(labelling.case_view, Qt.Key_2)
    assert labelling.session.workspace.case("FUN-N02").decision.value == "abnormal"
