"""Stale state (issue 23, item 8): a label message ends with its case; a case whose image file is
missing says so while its stored result still shows."""

from core.workspace import Workspace
from tests.app.fake_versions import add_result, add_version


def test_label_message_is_cleared_when_moving_to_another_case(small_demo, open_window, qtbot):
    w = open_window(small_demo)
    w.open_case_now("FUN-L01")
    w.label_mode.view2d.show_message("Undid SAM mask")
    assert w.statusBar().currentMessage() == "Undid SAM mask"
    w.open_case("MRI-L01")
    assert w.statusBar().currentMessage() == ""
    assert w.label_mode.view2d.message.text() == ""
    # other messages are left alone
    w.statusBar().showMessage("Saved decision")
    w.open_case("FUN-L02")
    assert w.statusBar().currentMessage() == "Saved decision"


def test_missing_image_file_is_said_while_the_stored_result_shows(small_demo, open_window, qtbot):
    ws = Workspace.open(small_demo)
    add_version(ws, "patchcore", "fundus", "v-fundus")
    add_result(ws, "patchcore", "v-fundus", "FUN-L02", {"fundus": 3.6})
    (small_demo / ws.case("FUN-L02").images[0].path).unlink()
    ws.close()
    w = open_window(small_demo)
    qtbot.waitUntil(lambda: "FUN-L02" in w.session.scores, timeout=10000)
    w.open_case("FUN-L02")
    qtbot.waitUntil(lambda: "Image file missing" in w.review_panel.summary.text(), timeout=15000)
    qtbot.waitUntil(lambda: "3.60" in w.review_panel.summary.text(), timeout=10000)
    text = w.review_panel.summary.text()
    assert "not run on this case yet" not in text and "fundus.png" in text
    w.open_case("FUN-L01")
    qtbot.waitUntil(lambda: "Image file missing" not in w.review_panel.summary.text(), timeout=5000)
