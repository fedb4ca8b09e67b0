import numpy as np
import pytest

from core.errors import StudioError
from core.labels.convert import heatmap_regions, result_sources, result_to_shapes, result_to_volume_mask
from core.workspace import Workspace


def _store_fake_result(ws, case_id, image, heat, mask=None, pixel_threshold=2.0, model="mias_sam", version="v1"):
    """A registered version and a stored result, written through the workspace's repositories as
    core.models.store does."""
    from core.workspace.cards import ModelCard
    from core.workspace.results import ImageResult, StoredResult, result_key

    sha = ws.case(case_id).images[0].sha256
    card = ModelCard(model, "", {"modality": "fundus"}, calibration={"n": 3}, pixel_threshold=pixel_threshold, version=version)
    ws.versions.register(card, f"models/{model}/{version}", "", activate=True, user="tester")
    entry = ImageResult(
        result_key(model, version, sha, "heatmap"), result_key(model, version, sha, "mask") if mask is not None else None, 5.0
    )
    ws.results.put(StoredResult(model, version, case_id, 5.0, 1.0, 3.0, image, {image: entry}), {image: (heat, mask)})


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
