"""File -> Open from PACS… and Send case to PACS… in the real window against the real Orthanc:
search, filter, retrieve on the I/O worker with progress, worklist refresh, explicit send."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from core.data.importer import BRATS_LEGEND
from core.settings import Settings
from core.workspace import Workspace
from tests.helpers.pacs_data import mr_series, op_photo


@pytest.fixture
def pacs_window(open_window, orthanc, pacs_server, tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_STUDIO_HOME", str(tmp_path / "home"))
    settings = Settings()
    settings.put_pacs_server(pacs_server)
    settings.save()
    Workspace.create(tmp_path / "ws").close()
    return open_window(tmp_path / "ws", warm_up=False)


def _menu_action(window, text: str):
    file_menu = window.menuBar().actions()[0].menu()
    return next(a for a in file_menu.actions() if a.text().replace("&", "") == text)


def test_browse_filter_retrieve_and_send(qtbot, pacs_window, orthanc, tmp_path):
    from app.dialogs.pacs import PacsBrowser
    from app.dialogs.pacs_send import SendDialog

    window = pacs_window
    mr = mr_series(n=3, rows=24, cols=20, patient=("PACS-GUI", "Window^Wanda"))
    op = op_photo(patient=("PACS-GUI", "Window^Wanda"))
    orthanc.upload(mr + [op])

    _menu_action(window, "Open from PACS…").trigger()
    browser = window.findChild(PacsBrowser)
    assert browser.isVisible() and browser.filters.server.currentText() == "test-orthanc"
    browser.filters.patient_id.setText("PACS-GUI")
    qtbot.mouseClick(browser.search_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: browser.study_table.rowCount() == 2, timeout=15000)
    assert browser.study_table.item(0, 3).text() == "OP" and browser.study_table.item(1, 2).text() == "Window Wanda"

    browser.filters.modality["MR"].setChecked(True)
    qtbot.mouseClick(browser.search_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: browser.study_table.rowCount() == 1 and browser.series_table.rowCount() == 1, timeout=15000)
    assert browser.series_table.item(0, 1).text() == "MR" and browser.series_table.item(0, 0).checkState() == Qt.Checked
    browser.grab().save(str(tmp_path / "pacs-browser.png"))

    qtbot.mouseClick(browser.retrieve_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: "Imported" in browser.status.text(), timeout=30000)
    case_id = "PACS-GUI_20240102_MR3"
    assert browser.progress.isHidden() and [c.id for c in window.session.cases] == [case_id]
    qtbot.waitUntil(
        lambda: browser.series_table.item(0, 5) is not None and browser.series_table.item(0, 5).text() == case_id, timeout=15000
    )
    assert browser.series_table.item(0, 0).checkState() == Qt.Unchecked  # already in the workspace: not ticked again

    ws = window.session.workspace
    image = ws.case(case_id).images[0]
    labels = np.zeros(image.shape, np.uint8)
    labels[4:9, 5:12, 1] = 3
    ws.write_label_volume(image, labels, BRATS_LEGEND, user="tester")
    ws.set_review(case_id, "tester", decision="abnormal")
    window.open_case_now(case_id)
    _menu_action(window, "Send case to PACS…").trigger()
    send = window.findChild(SendDialog)
    qtbot.waitUntil(lambda: send.send_button.isEnabled(), timeout=30000)
    assert send.send_button.text() == "Send 2 objects to test-orthanc"
    assert "Segmentation: mri: 1 class(es) (enhancing tumour)" in send.contents.text()
    assert "Not sent:" in send.contents.text() and "mri: parametric map (no stored heatmap)" in send.contents.text()
    qtbot.mouseClick(send.send_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: send.status.text().startswith("Sent 2 object(s)"), timeout=30000)
    assert any(a["action"] == "pacs.send" for a in ws.catalog.audit_log(case_id))
    send.close()
    browser.close()


def test_browser_without_servers_says_how_to_add_one(qtbot, open_window, tmp_path, monkeypatch):
    from app.dialogs.pacs import open_pacs_browser

    monkeypatch.setenv("ANOMALY_STUDIO_HOME", str(tmp_path / "empty-home"))
    Workspace.create(tmp_path / "ws").close()
    window = open_window(tmp_path / "ws", warm_up=False)
    browser = open_pacs_browser(window)
    assert not browser.search_button.isEnabled() and "Servers…" in browser.status.text()
    browser.close()


def test_server_editor_tests_the_connection_and_keeps_the_password_out_of_the_settings(qtbot, open_window, orthanc, tmp_path, monkeypatch):
    from app.dialogs.pacs_servers import ServerDialog
    from core.pacs.credentials import get_secret
    from tests.helpers.orthanc import PASSWORD, USER

    home = tmp_path / "home"
    monkeypatch.setenv("ANOMALY_STUDIO_HOME", str(home))
    Workspace.create(tmp_path / "ws").close()
    window = open_window(tmp_path / "ws", warm_up=False)
    dlg = ServerDialog(window, window.io)
    qtbot.addWidget(dlg)
    dlg.name.setText("Eye clinic")
    dlg.url.setText(orthanc.dicomweb)
    dlg.auth.setCurrentText("basic")
    dlg.username.setText(USER)
    dlg.secret.setText("not-" + PASSWORD)
    qtbot.mouseClick(dlg.test_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: "HTTP 401" in dlg.status.text(), timeout=15000)
    dlg.secret.setText(PASSWORD)
    qtbot.mouseClick(dlg.test_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: dlg.status.text().startswith("The server answered"), timeout=15000)
    dlg.save()
    assert dlg.result() == QDialog.Accepted and dlg.saved_name == "Eye clinic"
    assert Settings.load().pacs_server("Eye clinic").username == USER and get_secret("Eye clinic") == PASSWORD
    assert PASSWORD not in (home / "settings.json").read_text()

    again = ServerDialog(window, window.io, name="Eye clinic")
    qtbot.addWidget(again)
    assert again.url.text() == orthanc.dicomweb and again.secret.placeholderText().startswith("stored")
    again.remove()
    assert Settings.load().pacs_server("Eye clinic") is None and get_secret("Eye clinic") is None
