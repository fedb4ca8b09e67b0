"""The en-face map of an imported OCT volume: placed on the localizer through the positions read from
the device file (the demo's Heidelberg .vol and DICOM OPT), stored with the result and read back."""

from __future__ import annotations

import numpy as np
import pytest

from core.models.base import ImageMap
from core.models.volume_scores import with_enface
from core.workspace import Workspace
from core.workspace.results import ImageResult, StoredResult, result_key

LESION_AT = 1  # the small demo volumes hold 3 B-scans


def lesion_stack(shape: tuple[int, int, int], cols: slice) -> np.ndarray:
    heat = np.zeros(shape, np.float32)
    heat[LESION_AT, shape[1] // 3 : shape[1] // 2, cols] = 7.0  # a lesion on one B-scan only
    return heat


@pytest.mark.parametrize("case_id", ["VOL-L01", "VOL-N01"])
def test_a_lesion_on_one_bscan_lands_on_its_own_line_on_the_image_the_positions_refer_to(small_demo, case_id):
    ws = Workspace.open(small_demo)
    try:
        case = ws.load_case(case_id)
        vol = case.record.oct_volume
        assert vol is not None
        n, h, w = vol.shape
        positions = vol.bscan_positions
        assert positions and len(positions) == n > LESION_AT
        target = vol.localizer_name
        assert target in case.images  # VOL-L01: the SLO localizer; VOL-N01: the OP photo
        heat = lesion_stack((n, h, w), slice(w // 4, w // 2))
        (name,) = [k for k, im in case.images.items() if im.record is vol]
        out = with_enface(case, {name: ImageMap(heatmap=heat, score=7.0, raw_score=1.0)})
        m = out[name]
        assert m.enface_on == target and m.enface is not None and m.enface.dtype == np.float32
        th, tw = case.images[target].array.shape[:2]
        gh, gw = m.enface.shape
        assert max(gh, gw) <= 512 and gh / gw == pytest.approx(th / tw, rel=0.02)

        # the hot cells lie along that B-scan's line, between columns w/4 and w/2 of it; elsewhere the
        # scanned area is 0 and off the scan nothing (NaN)
        hot_y, hot_x = np.nonzero(np.nan_to_num(m.enface, nan=0.0) > 3.5)
        assert hot_y.size
        sy, sx = th / gh, tw / gw
        px, py = (hot_x + 0.5) * sx - 0.5, (hot_y + 0.5) * sy - 0.5  # cell centres in target pixels
        line = positions[LESION_AT]
        d = np.subtract(line.end, line.start)
        length = float(np.hypot(*d))
        t = ((px - line.start[0]) * d[0] + (py - line.start[1]) * d[1]) / length**2
        assert t.min() >= 0.25 - 2 * sx / length - 1 / w and t.max() <= 0.5 + 2 * sx / length + 1 / w
        others = [k for k in range(n) if k != LESION_AT]
        lines = np.array([[*positions[k].start, *positions[k].end] for k in range(n)])
        dist_to = np.abs(
            (px[:, None] - lines[:, 0]) * (lines[:, 3] - lines[:, 1]) - (py[:, None] - lines[:, 1]) * (lines[:, 2] - lines[:, 0])
        )
        dist_to /= np.hypot(lines[:, 2] - lines[:, 0], lines[:, 3] - lines[:, 1])
        assert (dist_to.argmin(axis=1) == LESION_AT).all()  # every hot cell is nearest to that B-scan's line
        assert np.nanmin(m.enface) == 0.0 and np.isnan(m.enface).any() and others

        # stored with the result and read back bit for bit, on the image it lies on
        key = result_key("patchcore", "v1", vol.sha256, "heatmap")
        entry = ImageResult(key, None, 7.0, 1.0, None, result_key("patchcore", "v1", vol.sha256, "enface"), target)
        ws.results.put(StoredResult("patchcore", "v1", case_id, 7.0, 1.0, 3.0, name, {name: entry}), {name: (heat, None)}, {name: m.enface})
        stored = ws.results.get("patchcore", "v1", case_id)
        assert stored is not None and stored.images[name].enface_on == target
        got = ws.results.enface_array(stored)
        assert got is not None and got[1] == target
        np.testing.assert_array_equal(got[0], m.enface)
    finally:
        ws.close()


def test_no_enface_map_without_positions_or_for_a_single_bscan(small_demo):
    ws = Workspace.open(small_demo)
    try:
        case = ws.load_case("VOL-L01")
        vol = case.record.oct_volume
        (name,) = [k for k, im in case.images.items() if im.record is vol]
        one = ImageMap(heatmap=np.zeros(vol.shape[1:], np.float32), score=0.0, raw_score=0.0)
        assert with_enface(case, {name: one})[name].enface is None  # a 2-D map (one B-scan): nothing to place
        wrong = ImageMap(heatmap=np.zeros((vol.shape[0] - 1, *vol.shape[1:]), np.float32), score=0.0, raw_score=0.0)
        assert with_enface(case, {name: wrong})[name].enface is None  # B-scan count differs from the positions
    finally:
        ws.close()
