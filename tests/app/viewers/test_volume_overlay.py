"""The MRI view shows a stored RASALoRE heatmap and mask over the volume."""

from types import SimpleNamespace

import numpy as np

from core.domain import CaseKind
from core.models import store
from core.models.base import AnomalyResult, ImageMap, ModelCard
from core.models.rasalore.card_text import CASE_SCORE_CAVEAT
from core.workspace.results import SliceScores


def _store_fake_result(ws, case_id: str) -> tuple[np.ndarray, np.ndarray]:
    case = ws.load_case(case_id)
    vol = case.first("mri")
    heat = np.zeros(vol.array.shape, np.float32)
    mask = np.zeros(vol.array.shape, bool)
    heat[80:110, 100:130, 90:110] = 10.0
    mask[85:105, 105:125, 95:105] = True
    card = ModelCard(
        method="rasalore",
        paper="",
        config={"modality": "mri"},
        calibration={"n": 4, "mean": 0.0, "std": 1.0},
        version="v-test",
        threshold=3.0,
        pixel_threshold=2.0,
        metrics={"case_score_caveat": CASE_SCORE_CAVEAT},
    )
    model = SimpleNamespace(name="rasalore", card=card)
    ws.versions.register(card, "models/rasalore/v-test", "", activate=True, user="tester")
    depth = vol.array.shape[2]
    scores = [None] * 15 + [round(0.3 + 0.001 * k, 4) for k in range(15, depth - 15)] + [None] * 15
    scores[100] = 0.61
    p_lesion = [None if v is None else 0.25 for v in scores]
    p_lesion[100] = 0.93
    result = AnomalyResult(
        score=7.5,
        heatmap=heat,
        mask=mask,
        image=vol.record.name,
        slices=SliceScores(axis=2, plane="axial", scores=scores, p_unhealthy=p_lesion, top=100),
        maps={vol.record.name: ImageMap(heatmap=heat, mask=mask, score=7.5, raw_score=0.9)},
    )
    store.store_result(ws, model, case, result)
    return heat, mask


def test_mri_view_overlays_the_stored_result(window, qtbot):
    ws = window.session.workspace
    mri = next(c for c in ws.cases() if c.kind == CaseKind.MRI and c.truth == "abnormal" and c.split == "test")
    _store_fake_result(ws, mri.id)
    window.refresh_models("rasalore")
    assert window.session.model is not None and window.session.model.name == "rasalore"
    window.open_case_now(mri.id)
    vv = window.volume_view
    assert vv.heat_ras is not None and vv.mask_ras is not None
    # the crosshair went to the model's top slice (array axis 2 of an RAS volume)
    assert vv.pos[2] == 100
    # the axial panel (the model's slice axis) shows the model's verdict on the shown slice
    assert vv.panels["axial"].badge.text() == "slice score 0.61 · P(lesion) 0.93"
    assert vv.panels["coronal"].badge.text() == ""
    layers = vv.overlays["axial"]
    assert layers.has_heatmap and layers.has_mask
    summary = window.review_panel.summary.text()
    assert "rasalore" in summary and "7.50" in summary and "abnormal" in summary
    assert "did not separate normal from lesion volumes" in summary  # the model's caveat beside its suggestion
    # moving away keeps the user's slice when the same result is shown again
    vv.set_position(vv.pos[0], vv.pos[1], 50)
    vv.set_result(window.session.overlay)
    assert vv.pos[2] == 50
    assert vv.panels["axial"].badge.text() == "slice score 0.35 · P(lesion) 0.25"
    vv.set_position(vv.pos[0], vv.pos[1], 5)
    assert vv.panels["axial"].badge.text() == "not scored"  # the paper's skipped first slices
    # another MRI case without a result shows no overlay
    other = next(c for c in ws.cases() if c.kind == CaseKind.MRI and c.id != mri.id)
    window.open_case_now(other.id)
    assert vv.heat_ras is None and not vv.overlays["axial"].has_heatmap
