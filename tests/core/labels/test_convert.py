import json

import numpy as np
import pytest

from core.errors import StudioError
from core.labels.convert import heatmap_regions, result_sources, result_to_shapes, result_to_volume_mask
from core.workspace import Workspace
from core.workspace.catalog import now_iso


def _store_fake_result(ws, case_id, image, heat, mask=None, pixel_threshold=2.0, model="mias_sam", version="v1"):
    """A result row as core.models.store.store_result writes it (maps in arrays.h5)."""
    sha = ws.case(case_id).images[0].sha256
    entry = {"heatmap": f"results/{model}/{version}/{sha}/heatmap", "score": 5.0}
    ws.arrays.put(entry["heatmap"], heat.astype(np.float32))
    if mask is not None:
        entry["mask"] = f"results/{model}/{version}/{sha}/mask"
        ws.arrays.put(entry["mask"], mask)
    with ws.catalog.transaction() as c:
        c.execute(
            "INSERT INTO model_versions(name, version, path, created, active, status, card) VALUES(?,?,?,?,?,?,?)",
            (model, version, f"models/{model}/{version}", now_iso(), 1, "ready", json.dumps({"pixel_threshold": pixel_threshold})),
        )
        c.execute(
            "INSERT INTO results(model, version, case_id, image, score, raw_score, threshold, maps, extras, created)"
            " VALUES(?,?,?,?,?,?,?,?,?,?)",
            (model, version, case_id, image, 5.0, 1.0, 3.0, json.dumps({image: entry}), "{}", now_iso()),
        )


def test_heatmap_regions_are_connected_components_above_threshold():
    h = np.zeros((50, 60), np.float32)
    h[5:15, 5:15] = 4.0
    h[30:33, 40:43] = 3.0
    h[40, 5] = 9.0  # a lone pixel: below min_area
    h[20, 20] = np.nan
    regions = heatmap_regions(h, 2.5, min_area=4)
    assert [r.sum() for r in regions] == [100, 9]
    assert heatmap_regions(h, 100.0) == []


def test_model_mask_and_heatmap_become_editable_shapes(small_demo):
    ws = Workspace.open(small_demo)
    case = next(c for c in ws.cases() if c.id == "FUN-N01")
    im = case.images[0]
    h, w = im.shape[:2]
    heat = np.zeros((h, w), np.float32)
    heat[100:200, 300:420] = 5.0
    heat[600:650, 600:640] = 2.5
    mask = np.zeros((h, w), bool)
    mask[110:190, 310:400] = True
    _store_fake_result(ws, case.id, im.name, heat, mask, pixel_threshold=2.0)
    sources = result_sources(ws, case.id)
    assert len(sources) == 1 and sources[0].has_mask and sources[0].pixel_threshold == 2.0
    src = sources[0]
    as_mask = result_to_shapes(ws, case.id, src, "retinal hemorrhage", use="mask", as_polygon=False, image_hw=(h, w))
    assert len(as_mask) == 1 and as_mask[0].shape_type == "mask"
    assert np.array_equal(as_mask[0].rasterize(h, w), mask)
    polys = result_to_shapes(ws, case.id, src, "retinal hemorrhage", use="heatmap", as_polygon=True)
    assert [s.shape_type for s in polys] == ["polygon", "polygon"]
    union = np.zeros((h, w), bool)
    for s in polys:
        union |= s.rasterize(h, w)
    assert (union & (heat > 2.0)).sum() / (union | (heat > 2.0)).sum() > 0.97
    assert len(result_to_shapes(ws, case.id, src, "x", use="heatmap", threshold=3.0)) == 1
    with pytest.raises(StudioError, match="does not match"):
        result_to_shapes(ws, case.id, src, "x", image_hw=(10, 10))
    with pytest.raises(StudioError, match="not a volume"):
        result_to_volume_mask(ws, case.id, src)
    ws.close()
