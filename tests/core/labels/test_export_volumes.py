"""Labels per B-scan of an OCT volume: PNG and LabelMe exports cover every labelled B-scan."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from core.io.labelme import Shape, read_labelme
from core.labels.export import export_labels
from core.workspace import Workspace


def _labelled_pages(ws, rec) -> list[int]:
    return [p for p in range(rec.n_bscans) if ws.read_labels(rec, page=p) is not None]


def test_png_and_labelme_exports_cover_every_labelled_bscan(small_demo, tmp_path):
    ws = Workspace.open(small_demo)
    rec = ws.case("VOL-L01").oct_volume
    volume = ws.read_pixels(rec)
    # a reviewer labels one more B-scan (page 0) by hand: it is exported like the demo's own labels
    doc = ws.new_label_document(rec)
    extra = np.zeros(volume.shape[1:], bool)
    extra[20:40, 30:70] = True
    doc.shapes.append(Shape.from_mask("subretinal fluid", extra, description="by hand"))
    ws.write_labels(rec, doc, page=0, user="tester")
    pages = _labelled_pages(ws, rec)
    assert 0 in pages and len(pages) >= 2

    png = export_labels(ws, "png", tmp_path / "png")
    legend = json.loads((tmp_path / "png" / "legend.json").read_text())
    ids = {c["name"]: c["id"] for c in legend["modalities"]["oct"]["classes"]}
    written = {e["file"] for e in png.written}
    for p in pages:
        rel = f"VOL-L01/oct_p{p:03d}.png"
        assert rel in written and legend["files"][rel]["page"] == p
        index = np.asarray(Image.open(tmp_path / "png" / rel))
        assert index.shape == volume.shape[1:]
        page_doc = ws.read_labels(rec, page=p)
        for s in page_doc.shapes:
            m = s.rasterize(*volume.shape[1:])
            assert m.any() and (index[m] == ids[s.label]).mean() > 0.99
    assert (np.asarray(Image.open(tmp_path / "png" / "VOL-L01/oct_p000.png"))[extra] == ids["subretinal fluid"]).all()

    lm = export_labels(ws, "labelme", tmp_path / "lm")
    files = {e["file"] for e in lm.written}
    for p in pages:
        rel = f"VOL-L01/oct_p{p:03d}.json"
        assert rel in files
        d = read_labelme(tmp_path / "lm" / rel)
        assert (d.image_height, d.image_width) == volume.shape[1:] and d.image_path == f"oct_p{p:03d}.png"
        page_png = np.asarray(Image.open(tmp_path / "lm" / "VOL-L01" / d.image_path))
        assert np.array_equal(page_png, volume[p])  # the exported image is exactly that B-scan
        assert [s.label for s in d.shapes] == [s.label for s in ws.read_labels(rec, page=p).shapes]
    ws.close()


def test_a_volume_result_becomes_shapes_on_its_own_bscan(small_demo):
    import pytest

    from core.errors import StudioError
    from core.labels.convert import result_sources, result_to_shapes
    from core.workspace.cards import ModelCard
    from core.workspace.results import ImageResult, StoredResult, result_key

    ws = Workspace.open(small_demo)
    rec = ws.case("VOL-L01").oct_volume
    n, h, w = rec.shape
    heat = np.zeros((n, h, w), np.float32)
    heat[1, 30:60, 40:80] = 5.0  # a region on B-scan 1 only
    card = ModelCard("patchcore", "", {"modality": "oct"}, calibration={"n": 3}, pixel_threshold=2.0, version="v1")
    ws.versions.register(card, "models/patchcore/v1", "", activate=True, user="tester")
    entry = ImageResult(result_key("patchcore", "v1", rec.sha256, "heatmap"), None, 5.0)
    ws.results.put(StoredResult("patchcore", "v1", "VOL-L01", 5.0, 1.0, 3.0, "oct", {"oct": entry}), {"oct": (heat, None)})
    (source,) = [s for s in result_sources(ws, "VOL-L01") if s.image == "oct"]
    shapes = result_to_shapes(ws, "VOL-L01", source, "subretinal fluid", image_hw=(h, w), page=1)
    assert len(shapes) == 1 and shapes[0].rasterize(h, w)[45, 60]
    assert result_to_shapes(ws, "VOL-L01", source, "subretinal fluid", image_hw=(h, w), page=0) == []
    with pytest.raises(StudioError, match="3-D"):
        result_to_shapes(ws, "VOL-L01", source, "subretinal fluid", image_hw=(h, w))
    ws.close()
