"""Results back to a real Orthanc and read back from it: the SEG decodes to the same masks, the
parametric map to the same floats, the SR carries score, threshold and decisions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data.importer import BRATS_LEGEND
from core.domain import CaseKind, Modality
from core.pacs import PacsError, connect, encode
from core.pacs.provenance import source_headers, source_of
from core.pacs.query import StudyQuery
from core.pacs.retrieve import retrieve_study
from core.pacs.send import plan_send, send
from core.pacs.verify import parametric_values, report_facts, segmentation_masks
from core.workspace import Workspace
from core.workspace.workspace import NewImage
from tests.helpers.orthanc import PASSWORD
from tests.helpers.pacs_data import mr_series, op_photo


def _fetch_back(client, study_uid: str, modality: str):
    """The one instance of the ``modality`` series of a study, through WADO-RS."""
    [row] = [s for s in client.search_series(study_uid) if s.modality == modality]
    [sop] = client.search_instances(study_uid, row.series_uid)
    return client.retrieve_instance(study_uid, row.series_uid, sop)


def test_mri_labels_and_review_go_back_as_seg_and_sr(orthanc, pacs_server, tmp_path):
    mr = mr_series(n=4, rows=40, cols=32, patient=("PACS-S1", "Send^Mira"))
    orthanc.upload(mr)
    client = connect(pacs_server)
    ws = Workspace.create(tmp_path / "ws")
    study = mr[0].StudyInstanceUID
    [entry] = retrieve_study(ws, client, study, user="tester").imported
    image = ws.case(entry["case"]).images[0]

    labels = np.zeros(image.shape, np.uint8)  # (X, Y, Z) = (32, 40, 4)
    labels[5:12, 10:20, 1] = BRATS_LEGEND["peritumoural edema"]
    labels[8:14, 6:10, 2] = BRATS_LEGEND["enhancing tumour"]
    ws.write_label_volume(image, labels, BRATS_LEGEND, user="tester")
    ws.set_review(image.case_id, "tester", status="approved", decision="abnormal", comment="edema on slice 2")

    plan = plan_send(ws, image.case_id)
    assert [o.kind for o in plan.objects] == ["seg", "sr"]
    assert plan.notes == ["mri: parametric map (no stored heatmap)"]
    assert "2 class(es) (peritumoural edema, enhancing tumour) on 4 frame(s)" in plan.lines()[0]
    result = send(ws, client, plan, user="tester")
    assert len(result["sent"]) == 2

    seg = _fetch_back(client, study, "SEG")
    assert seg.SeriesDescription == "Anomaly Studio labels" and seg.FrameOfReferenceUID == mr[0].FrameOfReferenceUID
    masks, names = segmentation_masks(seg, [d.SOPInstanceUID for d in mr])
    assert names == ["peritumoural edema", "enhancing tumour"]
    for i, value in enumerate((2, 3)):
        assert np.array_equal(masks[..., i], np.moveaxis(labels == value, 2, 0).swapaxes(1, 2))
    types = [s.SegmentedPropertyTypeCodeSequence[0] for s in seg.SegmentSequence]
    assert {t.CodingSchemeDesignator for t in types} == {"99ASTUDIO"} and types[0].CodeMeaning == "peritumoural edema"
    assert seg.SegmentSequence[0].SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"

    facts = report_facts(_fetch_back(client, study, "SR"))
    assert facts == {"case": image.case_id, "reviewer_decision": "abnormal", "reviewer": "tester"}
    [audit] = [a for a in ws.catalog.audit_log(image.case_id) if a["action"] == "pacs.send"]
    assert audit["user"] == "tester" and audit["details"]["server"] == "test-orthanc"
    assert [s["kind"] for s in audit["details"]["sent"]] == ["seg", "sr"] and PASSWORD not in json.dumps(audit)
    ws.close()


def test_mri_heatmap_parametric_map_round_trip_on_the_source_frame_of_reference(orthanc, pacs_server, tmp_path):
    """The MRI heatmap path (RASALoRE is too slow to fit here): float32 z-scores on the retrieved
    slices go to Orthanc and come back identical, frame for frame."""
    mr = mr_series(n=3, rows=24, cols=20, patient=("PACS-S3", "Map^Noor"))
    orthanc.upload(mr)
    client = connect(pacs_server)
    ws = Workspace.create(tmp_path / "ws")
    [entry] = retrieve_study(ws, client, mr[0].StudyInstanceUID).imported
    image = ws.case(entry["case"]).images[0]
    values = np.random.default_rng(3).normal(0, 2, (3, 24, 20)).astype(np.float32)
    ds = encode.parametric_map(source_headers(ws, image), values, method="rasalore", version="v1")
    assert client.store([ds])["failed"] == []
    back = _fetch_back(client, mr[0].StudyInstanceUID, ds.Modality)
    got = parametric_values(back, source_of(image).sop_uids)
    assert got.dtype == np.float32 and np.array_equal(got, values)
    mapping = back.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    assert mapping.MeasurementUnitsCodeSequence[0].CodeValue == "{z-score}" and "held-out normals" in mapping.LUTExplanation
    ws.close()


@pytest.mark.slow
def test_fundus_round_trip_with_a_fitted_model(orthanc, pacs_server, fundus_ws):
    from core.io.labelme import Shape
    from core.models import store

    ws, client = fundus_ws, connect(pacs_server)
    op = op_photo(96, patient=("PACS-S2", "Round^Trip"))
    orthanc.upload([op])
    [row] = client.search_studies(StudyQuery(patient_id="PACS-S2", modalities=("OP",)))
    report = retrieve_study(ws, client, row.study_uid, user="tester")
    assert report.imported and not report.refused  # the OP reader makes the fundus case
    case_id = report.imported[0]["case"]
    assert retrieve_study(ws, client, row.study_uid).duplicates[0]["case"] == case_id

    model = store.load_version(ws, "patchcore")
    [stored] = store.predict_cases(ws, model, [case_id])[0]
    image = ws.case(case_id).images[0]
    doc = ws.new_label_document(image)
    lesion, spot = np.zeros((96, 96), bool), np.zeros((96, 96), bool)
    lesion[30:44, 50:66], spot[70:75, 20:26] = True, True
    doc.shapes = [Shape.from_mask("retinal hemorrhage", lesion), Shape.from_mask("cotton-wool spots", spot)]
    ws.write_labels(image, doc, user="tester")
    ws.set_review(case_id, "tester", decision="abnormal")

    plan = plan_send(ws, case_id)
    assert [o.kind for o in plan.objects] == ["seg", "pmap", "sr"] and plan.notes == []
    send(ws, client, plan, user="tester")
    uids = [op.SOPInstanceUID]

    masks, names = segmentation_masks(_fetch_back(client, op.StudyInstanceUID, "SEG"), uids)
    assert names == ["retinal hemorrhage", "cotton-wool spots"]
    assert np.array_equal(masks[0, ..., 0], lesion) and np.array_equal(masks[0, ..., 1], spot)
    heat, _ = store.result_arrays(ws, stored)
    pmap = _fetch_back(client, op.StudyInstanceUID, plan.objects[1].dataset.Modality)
    assert np.array_equal(parametric_values(pmap, uids)[0], heat.astype(np.float32))
    facts = report_facts(_fetch_back(client, op.StudyInstanceUID, "SR"))
    assert facts["score"] == pytest.approx(stored.score, rel=1e-6) and facts["threshold"] == pytest.approx(stored.threshold)
    assert facts["model_decision"] == ("abnormal" if stored.score >= stored.threshold else "normal")
    assert facts["reviewer_decision"] == "abnormal" and facts["algorithm"] == "patchcore" and facts["version"] == stored.version
    assert model.card.weights["lite_medsam.pth"] in facts["parameters"]


def test_a_case_not_from_a_pacs_cannot_be_sent(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    ws.add_case("LOCAL", CaseKind.FUNDUS, [NewImage("fundus", Modality.FUNDUS, array=np.zeros((8, 8, 3), np.uint8))])
    with pytest.raises(PacsError, match="no image retrieved from a PACS"):
        plan_send(ws, "LOCAL")
    ws.close()


def test_nothing_to_send_names_what_is_missing(orthanc, pacs_server, tmp_path):
    mr = mr_series(n=2, rows=16, cols=16, patient=("PACS-S4", "Empty^Case"))
    orthanc.upload(mr)
    ws = Workspace.create(tmp_path / "ws")
    [entry] = retrieve_study(ws, connect(pacs_server), mr[0].StudyInstanceUID).imported
    with pytest.raises(PacsError, match=r"nothing to send .*segmentation \(no label volume\).*no model result and no review decision"):
        plan_send(ws, entry["case"])
    ws.close()
