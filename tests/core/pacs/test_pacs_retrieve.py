"""Query and retrieve against a real Orthanc (tests/helpers/orthanc.py): QIDO-RS filters, WADO-RS
retrieve imported through the same readers as local files, duplicates, partial retrieves,
cancel, 401 and an unreachable server. No part of the server is mocked."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import CancelledError, InputError
from core.pacs import PacsAuthError, PacsConnectionError, connect
from core.pacs.client import PacsClient
from core.pacs.provenance import SOURCE_KEY, source_headers, source_of
from core.pacs.query import StudyQuery
from core.pacs.retrieve import retrieve_study
from core.runtime.progress import CancelToken
from core.settings import PacsServer
from core.workspace import Workspace
from tests.helpers.orthanc import PASSWORD, USER, free_port
from tests.helpers.pacs_data import mr_series, op_photo


@pytest.fixture
def ws(tmp_path):
    w = Workspace.create(tmp_path / "ws")
    yield w
    w.close()


def test_query_filters_by_patient_date_modality_and_description(orthanc, pacs_server):
    mr = mr_series(patient=("PACS-Q1", "Query^Anna"), study_date="20240102")
    op = op_photo(patient=("PACS-Q1", "Query^Anna"), study_date="20240305")
    orthanc.upload(mr + [op])
    client = connect(pacs_server)

    both = client.search_studies(StudyQuery(patient_id="PACS-Q1"))
    assert {s.study_uid for s in both} == {mr[0].StudyInstanceUID, op.StudyInstanceUID}
    assert both[0].study_uid == op.StudyInstanceUID  # newest first
    assert set(both[0].modalities) == {"OP"} and both[0].series == 1 and both[0].instances == 1
    assert both[1].patient_name == "Query Anna" and both[1].date_text == "2024-01-02" and both[1].instances == 4

    only_op = client.search_studies(StudyQuery(patient_id="PACS-Q1", modalities=("op",)))
    assert [s.study_uid for s in only_op] == [op.StudyInstanceUID]
    several = client.search_studies(StudyQuery(patient_id="PACS-Q1", modalities=("OP", "OPT", "MR")))
    assert len(several) == 2
    january = client.search_studies(StudyQuery(patient_id="PACS-Q1", date_from="2024-01-01", date_to="2024-01-31"))
    assert [s.study_uid for s in january] == [mr[0].StudyInstanceUID]
    described = client.search_studies(StudyQuery(patient_name="query", description="fundus"))
    assert [s.study_uid for s in described] == [op.StudyInstanceUID]

    series = client.search_series(mr[0].StudyInstanceUID)
    assert [(s.modality, s.number, s.description, s.instances) for s in series] == [("MR", 3, "T1 axial", 4)]
    assert client.search_instances(mr[0].StudyInstanceUID, mr[0].SeriesInstanceUID) == [d.SOPInstanceUID for d in mr]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (StudyQuery(date_from="2024-13-01"), "not a valid date"),
        (StudyQuery(date_from="yesterday"), "not a date"),
        (StudyQuery(date_from="2024-02-01", date_to="2024-01-01"), "lies after"),
        (StudyQuery(modalities=("M R",)), "not a DICOM modality"),
        (StudyQuery(patient_id="a\\b"), "plain text"),
    ],
)
def test_bad_filters_are_input_errors(query, reason):
    with pytest.raises(InputError, match=reason):
        query.qido_filters()


def test_retrieve_imports_mr_through_the_readers_and_detects_duplicates(orthanc, pacs_server, ws):
    mr = mr_series(n=4, rows=40, cols=32, patient=("PACS-R1", "Retrieve^Ben"))
    orthanc.upload(mr)
    client = connect(pacs_server)
    steps = []
    report = retrieve_study(ws, client, mr[0].StudyInstanceUID, user="tester", progress=lambda d, t, m: steps.append((d, t, m)))

    assert report.problem() is None and report.missing == [] and report.refused == []
    assert [(e["case"], e["modality"]) for e in report.imported] == [("PACS-R1_20240102_MR3", "MR")]
    assert steps[-1][0] == steps[-1][1] and all(d <= t for d, t, _ in steps) and len(steps) >= 5
    case = ws.case("PACS-R1_20240102_MR3")
    image = case.images[0]
    assert case.kind.value == "mri" and image.shape == (32, 40, 4)
    volume = ws.read_pixels(image)
    for k, ds in enumerate(mr):  # slice k of the volume is instance k, transposed (X = columns)
        assert np.array_equal(volume[:, :, k].T, ds.pixel_array.astype(np.float32))
    source = source_of(image)
    assert source.sop_uids == [d.SOPInstanceUID for d in mr] and source.server == "test-orthanc"
    assert source.study_uid == mr[0].StudyInstanceUID and source.frame_of_reference_uid == mr[0].FrameOfReferenceUID
    headers = source_headers(ws, image)
    assert [h.SOPInstanceUID for h in headers] == source.sop_uids and "PixelData" not in headers[0]
    assert not (ws.root / "pacs" / "staging").exists() or not any((ws.root / "pacs" / "staging").iterdir())
    audit = ws.catalog.audit_log(limit=5)
    assert any(a["action"] == "pacs.retrieve" and a["details"]["imported"] == [case.id] for a in audit)

    again = retrieve_study(ws, client, mr[0].StudyInstanceUID, user="tester")
    assert again.imported == [] and again.duplicates == [{"series_uid": mr[0].SeriesInstanceUID, "modality": "MR", "case": case.id}]
    assert ws.case_ids() == [case.id]


def test_op_photo_becomes_a_fundus_case_and_a_second_retrieve_a_duplicate(orthanc, pacs_server, ws):
    """A retrieved ophthalmic photograph goes through the same OP reader as a clinic's local files: a
    fundus case with its pixels, laterality and DICOM source; retrieving the study again is a duplicate."""
    op = op_photo(patient=("PACS-OP1", "Photo^Eve"))
    orthanc.upload([op])
    client = connect(pacs_server)
    report = retrieve_study(ws, client, op.StudyInstanceUID, user="tester")
    assert report.imported and not report.refused
    case = ws.case(report.imported[0]["case"])
    image = case.image("fundus")
    assert image is not None and source_of(image).sop_uids == [op.SOPInstanceUID]
    np.testing.assert_array_equal(ws.read_pixels(image), op.pixel_array)
    if "ImageLaterality" in op:
        assert image.meta.laterality == op.ImageLaterality
    assert retrieve_study(ws, client, op.StudyInstanceUID).duplicates[0]["case"] == case.id


def test_partial_retrieve_keeps_what_arrived_and_names_the_rest(orthanc, pacs_server, ws):
    mr = mr_series(n=4, patient=("PACS-P1", "Partial^Carl"))
    orthanc.upload(mr)
    client = connect(pacs_server)
    lost = mr[2].SOPInstanceUID

    def progress(done, total, message):  # the instance disappears from the PACS after the listing
        if done == 1:
            orthanc.delete_instance(lost)

    report = retrieve_study(ws, client, mr[0].StudyInstanceUID, progress=progress)
    assert ws.case_ids() == [] and report.imported == []
    assert report.missing == [{"series_uid": mr[0].SeriesInstanceUID, "sop_uid": lost, "reason": "no longer on the server (HTTP 404)"}]
    assert "partial retrieve: 1 instance(s) of 1 series did not arrive" in report.problem() and lost in report.problem()
    kept = list((ws.root / "pacs" / "incoming").rglob("*.dcm"))
    assert len(kept) == 3

    orthanc.upload([mr[2]])  # back on the server: the next retrieve fetches only the missing one
    messages = []
    report = retrieve_study(ws, client, mr[0].StudyInstanceUID, progress=lambda d, t, m: messages.append(m))
    assert report.problem() is None and len(report.imported) == 1
    assert sum("already here" in m for m in messages) == 3
    assert not list((ws.root / "pacs" / "incoming").rglob("*.dcm"))


def test_cancel_stops_between_instances_and_keeps_the_files(orthanc, pacs_server, ws):
    mr = mr_series(n=4, patient=("PACS-C1", "Cancel^Dora"))
    orthanc.upload(mr)
    token = CancelToken()
    with pytest.raises(CancelledError):
        retrieve_study(
            ws, connect(pacs_server), mr[0].StudyInstanceUID, progress=lambda d, t, m: token.cancel() if d == 2 else None, cancel=token
        )
    assert ws.case_ids() == [] and len(list((ws.root / "pacs" / "incoming").rglob("*.dcm"))) == 2


def test_wrong_password_is_a_readable_401_without_the_password(orthanc):
    server = PacsServer("wrong", orthanc.dicomweb, auth="basic", username=USER)
    with pytest.raises(PacsAuthError) as info:
        PacsClient(server, "not-" + PASSWORD).search_studies()
    text = str(info.value)
    assert "refused the credentials (HTTP 401)" in text and orthanc.dicomweb in text and PASSWORD not in text
    with pytest.raises(PacsAuthError, match="no password stored"):
        PacsClient(server, None)


def test_unreachable_server_is_a_readable_error():
    server = PacsServer("nowhere", f"http://127.0.0.1:{free_port()}/dicom-web", timeout_s=3)
    with pytest.raises(
        PacsConnectionError, match=r"PACS 'nowhere' at http://127.0.0.1:\d+/dicom-web is unreachable \(connection refused\)"
    ):
        PacsClient(server).check()


def test_retrieving_a_study_that_is_not_there(orthanc, pacs_server, ws):
    from core.pacs import PacsNotFoundError

    with pytest.raises(PacsNotFoundError, match="has no series"):
        retrieve_study(ws, connect(pacs_server), "1.2.3.4.5.6.7.8.9")
    assert SOURCE_KEY == "dicom_source"


def test_a_series_the_readers_refuse_is_named_with_their_reason(orthanc, pacs_server, ws):
    mr = mr_series(n=3, patient=("PACS-X1", "Refused^Rita"))
    mr[2].ImagePositionPatient = list(mr[1].ImagePositionPatient)  # two slices at one position
    orthanc.upload(mr)
    report = retrieve_study(ws, connect(pacs_server), mr[0].StudyInstanceUID)
    assert ws.case_ids() == [] and report.imported == [] and report.missing == []
    [refused] = report.refused
    assert refused["series_uid"] == mr[0].SeriesInstanceUID and "share one position" in refused["reason"]
    assert report.problem().startswith(f"series {mr[0].SeriesInstanceUID} (MR) refused by the readers: ")
    assert not list((ws.root / "pacs").rglob("*.dcm"))  # nothing half-imported is left behind
