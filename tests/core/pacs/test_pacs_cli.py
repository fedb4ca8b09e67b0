"""``anomaly-studio pacs ...`` against the real Orthanc: settings with a stored secret, query,
retrieve, send; exit code 2 with one line for bad input and server errors."""

from __future__ import annotations

import io
import json
import os
import stat
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

from core.data.importer import BRATS_LEGEND
from core.workspace import Workspace
from tests.helpers.orthanc import PASSWORD, USER, free_port
from tests.helpers.pacs_data import mr_series


def _cli(*args, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    from core.cli import main

    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_STUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_servers_query_retrieve_and_send_from_the_command_line(orthanc, home, tmp_path, monkeypatch):
    code, out, _ = _cli("pacs", "add-server", "clinic", "--url", orthanc.dicomweb, "--auth", "basic", "--username", USER,
                        "--secret-stdin", stdin=PASSWORD + "\n", monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0 and "secret stored" in out and PASSWORD not in out
    settings_text = (home / "settings.json").read_text()
    assert '"name": "clinic"' in settings_text and PASSWORD not in settings_text
    secrets = home / "pacs-secrets.json"
    assert PASSWORD in secrets.read_text() and stat.S_IMODE(os.stat(secrets).st_mode) == 0o600
    code, out, _ = _cli("pacs", "servers", "--json")
    assert json.loads(out)["servers"][0] == {
        "name": "clinic", "url": orthanc.dicomweb, "auth": "basic", "username": USER, "verify_tls": True, "ca_bundle": None, "timeout_s": 30.0,
    }  # fmt: skip

    mr = mr_series(n=3, rows=20, cols=16, patient=("PACS-CLI", "Command^Line"))
    orthanc.upload(mr)
    code, out, _ = _cli("pacs", "query", "--server", "clinic", "--patient-id", "PACS-CLI", "--modality", "MR", "--json")
    assert code == 0
    [study] = json.loads(out)["studies"]
    assert study["study_uid"] == mr[0].StudyInstanceUID and study["modalities"] == ["MR"] and study["study_date"] == "2024-01-02"
    code, out, _ = _cli("pacs", "query", "--server", "clinic", "--study", study["study_uid"], "--json")
    assert [s["series_uid"] for s in json.loads(out)["series"]] == [mr[0].SeriesInstanceUID]

    ws_path = tmp_path / "ws"
    code, out, _ = _cli("pacs", "retrieve", "--server", "clinic", "--study", study["study_uid"], "--workspace", str(ws_path), "--json")
    assert code == 0
    [imported] = json.loads(out)["imported"]
    ws = Workspace.open(ws_path)
    image = ws.case(imported["case"]).images[0]
    labels = np.zeros(image.shape, np.uint8)
    labels[2:6, 3:9, 1] = 2
    ws.write_label_volume(image, labels, BRATS_LEGEND)
    ws.set_review(image.case_id, "reader", decision="abnormal")
    ws.close()

    code, out, _ = _cli("pacs", "send", "--server", "clinic", "--case", imported["case"], "--workspace", str(ws_path), "--dry-run")
    assert (
        code == 0 and "Segmentation: mri: 1 class(es) (peritumoural edema) on 3 frame(s)" in out and "Not sent: mri: parametric map" in out
    )
    assert not any(s.modality == "SEG" for s in _series(orthanc, study["study_uid"]))  # a dry run sends nothing
    code, out, _ = _cli("pacs", "send", "--server", "clinic", "--case", imported["case"], "--workspace", str(ws_path), "--json")
    assert code == 0 and [s["kind"] for s in json.loads(out)["sent"]] == ["seg", "sr"]
    assert {s.modality for s in _series(orthanc, study["study_uid"])} == {"MR", "SEG", "SR"}
    ws = Workspace.open(ws_path)
    [audit] = [a for a in ws.catalog.audit_log(image.case_id) if a["action"] == "pacs.send"]
    assert audit["details"]["server"] == "clinic" and PASSWORD not in json.dumps(audit)
    ws.close()

    assert _cli("pacs", "remove-server", "clinic")[0] == 0
    assert "clinic" not in secrets.read_text() and "clinic" not in (home / "settings.json").read_text()


def _series(orthanc, study_uid):
    from core.pacs.client import PacsClient
    from core.settings import PacsServer

    return PacsClient(PacsServer("check", orthanc.dicomweb, auth="basic", username=USER), PASSWORD).search_series(study_uid)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--patient-id", "P", "--from", "2024-02-30"], "not a valid date"),
        (["--modality", "M R"], "not a DICOM modality code"),
    ],
)
def test_bad_query_input_exits_2_with_one_line(orthanc, home, monkeypatch, args, message):
    monkeypatch.setenv("PACS_PW", PASSWORD)
    code, out, err = _cli("pacs", "query", "--url", orthanc.dicomweb, "--username", USER, "--password-env", "PACS_PW", *args)
    assert code == 2 and message in err and err.count("\n") == 1 and out == ""


def test_server_errors_exit_2_with_one_line(orthanc, home, monkeypatch):
    monkeypatch.setenv("PACS_PW", "not-the-pw-Zq81")
    code, _, err = _cli("pacs", "query", "--url", orthanc.dicomweb, "--username", USER, "--password-env", "PACS_PW")
    assert code == 2 and "refused the credentials (HTTP 401)" in err and err.count("\n") == 1 and "Zq81" not in err
    code, _, err = _cli("pacs", "query", "--url", f"http://127.0.0.1:{free_port()}/dicom-web")
    assert code == 2 and "is unreachable (connection refused)" in err and err.count("\n") == 1
    code, _, err = _cli("pacs", "query", "--server", "nowhere")
    assert code == 2 and "no PACS server 'nowhere' in the settings" in err
    code, _, err = _cli("pacs", "query", "--url", "ftp://example.org")
    assert code == 2 and "must start with http:// or https://" in err
    code, _, err = _cli("pacs", "query", "--url", orthanc.dicomweb, "--username", USER, "--password-env", "UNSET_PACS_VAR")
    assert code == 2 and "UNSET_PACS_VAR is not set" in err
