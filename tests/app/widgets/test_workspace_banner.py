"""A second window on one workspace shows who else has it open (the writer lock's holder)."""

from __future__ import annotations

import os

from app.widgets.workspace_banner import WorkspaceBanner
from core.workspace import Workspace


def test_second_window_shows_the_banner_naming_the_first(window, qtbot, small_demo, tmp_path):
    from app.main_window import MainWindow
    from app.state.session import Session

    assert not window.banner.isVisible()  # the first window holds the workspace
    second = MainWindow(Session(workspace=Workspace.open(small_demo), user="second"), warm_up=False)
    qtbot.addWidget(second)
    second.resize(1400, 900)
    second.show()
    qtbot.waitExposed(second)
    assert second.banner.isVisible()
    text = second.banner.text()
    assert f"pid {os.getpid()}" in text and "another window" in text and "merged" in text and "tester" in text
    second.grab().save(str(tmp_path / "second_window.png"))
    second.close()
    window.close()  # releases the lock: a window opened now has the workspace to itself
    third = WorkspaceBanner()
    qtbot.addWidget(third)
    ws = Workspace.open(small_demo)
    third.attach(ws)
    assert third.isHidden() and third.holder is None
    ws.close()
