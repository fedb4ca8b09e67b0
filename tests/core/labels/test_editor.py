import numpy as np
import pytest

from core.io.labelme import LabelDocument, Shape, read_labelme, write_labelme
from core.labels.editor import LabelEditor
from core.labels.raster import stroke_region

H, W = 120, 160


def _editor(shapes=(), flags=None, **kw):
    doc = LabelDocument("../../images/c/x.png", H, W, shapes=list(shapes), flags=dict(flags or {}))
    doc.extra["custom"] = {"keep": 1}
    return LabelEditor(doc, **kw)


def _square(label="a", x=10, y=10, s=40):
    return Shape(label, [[x, y], [x + s, y], [x + s, y + s], [x, y + s]])


def test_brush_strokes_merge_per_class_and_erase_converts_vectors():
    ed = _editor([_square()])
    poly_px = ed.class_mask("a").sum()
    first = ed.paint("a", stroke_region([(80, 80), (120, 80)], 4, H, W))
    assert len(ed.shapes) == 2 and ed.shapes[first].shape_type == "mask"
    # a touching stroke of the same class joins that mask; another class makes its own
    ed.paint("a", stroke_region([(124, 80), (124, 100)], 4, H, W))
    ed.paint("b", stroke_region([(120, 20)], 5, H, W))
    assert [s.label for s in ed.shapes] == ["a", "a", "b"]
    brushed = ed.region(1).mask.sum()
    # erase a band across the polygon: it becomes a mask that lost exactly the band's pixels
    band = stroke_region([(30, 0), (30, 70)], 3, H, W)
    before = ed.class_mask("a")
    assert ed.erase(band, labels={"a"})
    after = ed.class_mask("a")
    assert ed.shapes[0].shape_type == "mask" and ed.shapes[0].label == "a"
    assert np.array_equal(after, before & ~band.full(H, W))
    assert after.sum() < poly_px + brushed
    # erasing only class b leaves class a alone
    assert not ed.erase(stroke_region([(80, 80)], 3, H, W), labels={"b"})


def test_undo_redo_restores_every_state_exactly_over_sixty_steps():
    ed = _editor()
    rng = np.random.default_rng(0)
    states = [ed.class_mask("a").copy()]
    while len(states) < 61:
        x, y = rng.uniform(0, W), rng.uniform(0, H)
        if len(states) % 3 == 2:
            changed = ed.erase(stroke_region([(x, y), (x + 10, y + 5)], 6, H, W))
        else:
            changed = ed.paint("a", stroke_region([(x, y), (x + 15, y + 3)], 3, H, W)) is not None
        if changed:  # an erase that hits nothing is not a step
            states.append(ed.class_mask("a").copy())
    assert len(ed.history) == 60
    for k in range(60, 0, -1):
        assert np.array_equal(ed.class_mask("a"), states[k])
        assert ed.undo() is not None
    assert np.array_equal(ed.class_mask("a"), states[0]) and ed.undo() is None
    for k in range(1, 61):
        ed.redo()
        assert np.array_equal(ed.class_mask("a"), states[k])
    assert ed.redo() is None


def test_history_limit_and_new_edit_clears_redo():
    ed = _editor(history_limit=50)
    for i in range(55):
        ed.add_shape(Shape("a", [[i, 0], [i + 1, 0], [i + 1, 1]]))
    n = 0
    while ed.undo():
        n += 1
    assert n == 50 and len(ed.shapes) == 5
    ed.redo()
    ed.add_shape(_square())
    assert not ed.history.can_redo()


def test_select_move_relabel_delete_and_flags():
    ed = _editor([_square("a"), _square("b", 60, 60, 20)])
    assert ed.shape_at(70, 70) == 1 and ed.shape_at(20, 20) == 0 and ed.shape_at(150, 5) is None
    assert ed.shape_at(70, 70, labels={"a"}) is None
    rev = ed.revision
    ed.move([1], 10, -5)
    assert ed.shapes[1].points[0] == [70.0, 55.0] and ed.revision == rev + 1
    ed.set_label([1], "a")
    assert [s.label for s in ed.shapes] == ["a", "a"]
    m = ed.paint("c", stroke_region([(140, 100)], 5, H, W))
    ed.move([m], 3.4, 2.6)
    assert ed.region(m).x0 == 135 + 3 and ed.region(m).y0 == 95 + 3
    ed.remove([0])
    assert len(ed.shapes) == 2
    ed.set_flags({"abnormal": True, "normal": False, "retinal hemorrhage": True})
    assert ed.flags == {"abnormal": True, "normal": False, "retinal hemorrhage": True}
    ed.undo()
    assert ed.flags == {}
    ed.undo()
    assert len(ed.shapes) == 3


def test_fill_a_closed_brush_contour():
    ed = _editor()
    ring = [(40 + 25 * np.cos(t), 60 + 25 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 60)]
    ed.paint("a", stroke_region(ring, 2, H, W))
    outline = ed.class_mask("a").sum()
    assert not ed.fill_at("a", 5, 5)  # outside the contour: not enclosed
    assert ed.fill_at("a", 40, 60)
    filled = ed.class_mask("a")
    assert filled[60, 40] and filled.sum() > outline + 1000 and len(ed.shapes) == 1


def test_convert_and_document_round_trip_keeps_unknown_keys(tmp_path):
    sq = _square()
    sq.extra["score"] = 0.7
    ed = _editor([sq], flags={"normal": False})
    ed.convert([0], "mask")
    assert ed.shapes[0].shape_type == "mask" and ed.shapes[0].extra["score"] == 0.7
    ed.convert([0], "polygon")
    assert ed.shapes[0].shape_type == "polygon"
    ed.paint("b", stroke_region([(120, 60), (130, 70)], 4, H, W))
    path = tmp_path / "x.json"
    write_labelme(path, ed.document())
    back = read_labelme(path)
    assert back.extra["custom"] == {"keep": 1} and back.shapes[0].extra["score"] == 0.7
    assert np.array_equal(back.class_mask("b"), ed.class_mask("b"))
    assert np.array_equal(back.class_mask("a"), ed.class_mask("a"))
    assert back.flags == {"normal": False}


def test_rename_rewrites_state_and_history():
    ed = _editor([_square("old")])
    ed.set_flags({"old": True})
    ed.paint("old", stroke_region([(100, 100)], 4, H, W))
    ed.rename_label("old", "new")
    assert {s.label for s in ed.shapes} == {"new"} and ed.flags == {"new": True}
    ed.undo()
    ed.undo()
    assert [s.label for s in ed.shapes] == ["new"] and ed.flags == {}


def test_editor_refuses_a_document_without_size():
    with pytest.raises(ValueError, match="no image size"):
        LabelEditor(LabelDocument("x.png", 0, 0))
