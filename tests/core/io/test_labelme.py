import json

import numpy as np
import pytest

from core.errors import LabelFileError
from core.io.labelme import LabelDocument, Shape, b64_to_mask, mask_to_b64, read_labelme, resolve_image_path, write_labelme

LABELME_FILE = {
    "version": "5.4.1",
    "flags": {"abnormal": True},
    "shapes": [
        {
            "label": "retinal hemorrhage",
            "points": [[10, 10], [30, 12], [25, 30]],
            "group_id": 3,
            "description": "dark",
            "shape_type": "polygon",
            "flags": {"checked": True},
            "mask": None,
            "other_tool_key": {"score": 0.9},
        },
        {
            "label": "cotton-wool spots",
            "points": [[5, 5], [15, 20]],
            "group_id": None,
            "description": "",
            "shape_type": "rectangle",
            "flags": {},
            "mask": None,
        },
        {"label": "a", "points": [[40, 40], [44, 40]], "shape_type": "circle", "flags": {}},
        {"label": "b", "points": [[1, 1], [20, 40]], "shape_type": "line"},
        {"label": "c", "points": [[1, 1], [20, 40], [30, 5]], "shape_type": "linestrip"},
        {"label": "d", "points": [[50, 50]], "shape_type": "point"},
    ],
    "imagePath": "../../images/C1/fundus.png",
    "imageData": None,
    "imageHeight": 64,
    "imageWidth": 80,
    "lineColor": [0, 255, 0, 128],
    "customTopKey": {"nested": [1, 2, 3]},
}


def test_round_trip_keeps_unknown_keys(tmp_path):
    path = tmp_path / "l.json"
    path.write_text(json.dumps(LABELME_FILE))
    doc = read_labelme(path)
    write_labelme(tmp_path / "out.json", doc)
    again = json.loads((tmp_path / "out.json").read_text())
    assert again["customTopKey"] == {"nested": [1, 2, 3]}
    assert again["lineColor"] == [0, 255, 0, 128]
    assert again["shapes"][0]["other_tool_key"] == {"score": 0.9}
    assert again["shapes"][0]["group_id"] == 3 and again["shapes"][0]["flags"] == {"checked": True}
    assert [s["shape_type"] for s in again["shapes"]] == ["polygon", "rectangle", "circle", "line", "linestrip", "point"]
    assert again["imagePath"] == LABELME_FILE["imagePath"]
    assert again["flags"] == {"abnormal": True}
    # a second round trip is a fixed point
    write_labelme(tmp_path / "out2.json", read_labelme(tmp_path / "out.json"))
    assert json.loads((tmp_path / "out2.json").read_text()) == again


def test_mask_shape_round_trip():
    full = np.zeros((40, 50), bool)
    full[10:20, 5:9] = True
    full[15, 30] = True
    shape = Shape.from_mask("x", full)
    assert shape.points == [[5.0, 10.0], [30.0, 19.0]]
    doc = LabelDocument(image_path="a.png", image_height=40, image_width=50, shapes=[shape])
    again = LabelDocument.from_json(json.loads(json.dumps(doc.to_json())))
    np.testing.assert_array_equal(again.shapes[0].rasterize(40, 50), full)
    assert np.array_equal(b64_to_mask(mask_to_b64(full)), full)


def test_rasterize_polygon_and_rectangle():
    doc = LabelDocument.from_json(LABELME_FILE)
    idx = doc.rasterize({"retinal hemorrhage": 4, "cotton-wool spots": 5})
    assert idx.shape == (64, 80)
    assert idx[15, 20] == 4  # inside the triangle
    assert idx[7, 10] == 5  # inside the rectangle
    assert idx[60, 70] == 0
    assert doc.class_mask("a")[40, 42]  # circle of radius 4 around (40, 40)


@pytest.mark.parametrize(
    "content,needle",
    [
        ("", "empty"),
        ("{not json", "broken JSON at line 1"),
        ("[1, 2]", "not a JSON object"),
        ('{"shapes": []}', "imagePath"),
        ('{"shapes": [{"label": "x", "points": [[1, 2]], "shape_type": "polygon"}], "imagePath": "a.png"}', "at least 3 points"),
        ('{"shapes": [{"label": "x", "points": [[1, 2], [3, 4]], "shape_type": "hexagon"}], "imagePath": "a.png"}', "unknown shape_type"),
        ('{"shapes": [{"label": "x", "points": [[0, 0], [3, 4]], "shape_type": "mask", "mask": "!!"}], "imagePath": "a.png"}', "base64"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(LabelFileError) as err:
        read_labelme(path)
    assert "bad.json" in str(err.value) and needle in str(err.value)


def test_image_path_may_not_escape_the_workspace(tmp_path):
    root = tmp_path / "ws"
    label = root / "labels" / "C1" / "fundus.json"
    assert resolve_image_path(label, "../../images/C1/fundus.png", root) == (root / "images" / "C1" / "fundus.png").resolve()
    with pytest.raises(LabelFileError, match="outside the workspace"):
        resolve_image_path(label, "../../../../etc/passwd", root)
    with pytest.raises(LabelFileError, match="absolute"):
        resolve_image_path(label, "/etc/passwd", root)


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "l.json"
    write_labelme(path, LabelDocument.from_json(LABELME_FILE))
    before = path.read_text()

    import core.io.atomic as atomic

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", boom)
    doc = LabelDocument.from_json(LABELME_FILE)
    doc.shapes = []
    with pytest.raises(OSError):
        write_labelme(path, doc)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["l.json"]  # no temp files left behind
