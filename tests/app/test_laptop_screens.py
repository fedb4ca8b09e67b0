"""Laptop screens: the main window at 1366x768 (100 %) and at 1920x1080 with 150 % scaling
(1280x720 logical) keeps its size, cuts nothing off, reaches the Run buttons, folds its side
panels away and remembers its layout. The renderings are saved as PNGs (to the test's folder;
with SAVE_README_SCREENSHOTS=1 to resources/screenshots/ for the README)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from tests.helpers.layout_check import clipped_widgets, reachable

REPO = Path(__file__).resolve().parents[2]
README_SHOTS = REPO / "resources" / "screenshots"


def _shot_path(tmp_path: Path, name: str) -> Path:
    return README_SHOTS / name if os.environ.get("SAVE_README_SCREENSHOTS") == "1" else tmp_path / name


@pytest.fixture
def private_home(tmp_path, monkeypatch):
    """The window's remembered layout goes to this test's own application-data folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("ANOMALY_STUDIO_HOME", str(home))
    return home


def test_the_clipping_check_sees_cut_buttons_and_labels(qtbot):
    from app.elided_label import ElidedLabel

    w = QWidget()
    qtbot.addWidget(w)
    w.resize(200, 60)
    outside = QPushButton("Run case", w)
    outside.setGeometry(170, 10, 90, 28)  # half of it beyond the right edge
    squeezed = QPushButton("A long button caption", w)
    squeezed.setGeometry(0, 10, 40, 28)
    cut = QLabel("Fundus right eye (OD) 1411x1411", w)
    cut.setGeometry(50, 40, 60, 18)
    w.show()
    qtbot.waitExposed(w)
    problems = "\n".join(clipped_widgets(w))
    assert "Run case" in problems and "A long button caption" in problems and "Fundus right eye" in problems
    for child in (outside, squeezed, cut):
        child.hide()
    elided = ElidedLabel("Fundus right eye (OD) 1411x1411")
    row = QHBoxLayout(w)
    row.addWidget(elided)
    w.resize(90, 30)
    qtbot.wait(10)
    assert elided.is_elided() and elided.toolTip().startswith("Fundus right eye (OD) 1411x1411")
    assert clipped_widgets(w) == []


def test_window_at_1366x768_cuts_nothing_and_reaches_run(fitted_demo, open_window, private_home, tmp_path, qtbot):
    from app.screenshot import save_screenshot

    w = open_window(fitted_demo)
    w.resize(1366, 768)
    w.open_case_now("PAIR-L01")
    qtbot.wait(50)
    assert (w.width(), w.height()) == (1366, 768)
    assert w.minimumSizeHint().width() <= 1280  # fits the 150 % laptop too
    assert clipped_widgets(w) == []
    assert reachable(w, w.model_panel.run_case) and reachable(w, w.model_panel.run_all)
    out = _shot_path(tmp_path, "laptop-1366x768.png")
    save_screenshot(w, out)
    assert out.stat().st_size > 20_000


@pytest.mark.slow
def test_window_at_1920x1080_with_150_percent_scaling(fitted_demo, private_home, tmp_path):
    """QT_SCALE_FACTOR applies before Qt starts, so this runs in a child process."""
    out = _shot_path(tmp_path, "laptop-1920x1080-150.png")
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_SCALE_FACTOR="1.5", QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.helpers.laptop_child", str(fitted_demo), "FUN-L01", str(out), "1280x720"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    verdict = json.loads(proc.stdout.strip().splitlines()[-1])
    assert verdict["size"] == [1280, 720] and verdict["device_pixel_ratio"] == 1.5
    assert verdict["problems"] == []
    assert verdict["run_reachable"]
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert (img.width(), img.height()) == (1920, 1080)  # the physical pixels of the laptop's screen


def test_side_panels_fold_away_and_the_layout_is_remembered(small_demo, open_window, private_home, qtbot):
    w = open_window(small_demo)
    w.resize(1280, 720)
    qtbot.wait(20)
    panels = w.panels
    before = w.splitter.sizes()
    assert before[0] > 0 and before[2] > 0
    panels.worklist_action.trigger()
    assert w.splitter.sizes()[0] == 0 and w.splitter.sizes()[1] > before[1]
    panels.sidebar_action.setChecked(False)
    assert w.splitter.sizes()[2] == 0 and not panels.sidebar_action.isChecked()
    panels.worklist_action.trigger()
    assert w.splitter.sizes()[0] == before[0] and panels.worklist_action.isChecked()
    w.splitter.moveSplitter(w.splitter.width(), 2)  # dragging a handle to the edge = the same as the menu
    w.close()
    assert (private_home / "window.ini").exists()

    again = open_window(small_demo)
    assert again.splitter.sizes()[2] == 0 and not again.panels.sidebar_action.isChecked()
    assert again.splitter.sizes()[0] == before[0]
    again.panels.sidebar_action.trigger()
    assert again.splitter.sizes()[2] >= again.sidebar.minimumWidth()


def test_first_window_fits_the_screen_it_opens_on(small_demo, private_home, qtbot, monkeypatch):
    from PySide6.QtCore import QRect

    from app.main_window import MainWindow
    from app.state.session import Session
    from core.workspace import Workspace

    class SmallScreen:
        def availableGeometry(self):  # noqa: N802 - Qt API
            return QRect(0, 0, 1366, 728)

    monkeypatch.setattr(MainWindow, "screen", lambda self: SmallScreen())
    w = MainWindow(Session(workspace=Workspace.open(small_demo), user="tester"), warm_up=False)
    qtbot.addWidget(w)
    try:
        assert (w.width(), w.height()) == (1366, 728)
    finally:
        w.close()
        w.runs.shutdown()
        w.gpu.shutdown(wait=True)
        w.io.shutdown(wait=True)
        w.session.workspace.close()
        shutil.rmtree(private_home, ignore_errors=True)


def test_worklist_cells_fit_while_a_model_runs(qtbot, small_demo):
    from PySide6.QtWidgets import QApplication

    from app.theme import apply_theme
    from app.widgets.worklist import COL_KIND, WorklistPanel
    from core.workspace import Workspace
    from tests.helpers.layout_check import clipped_cells

    apply_theme(QApplication.instance())
    ws = Workspace.open(small_demo)
    try:
        cases = ws.cases()
    finally:
        ws.close()
    panel = WorklistPanel()
    qtbot.addWidget(panel)
    panel.set_cases(cases)
    panel.set_pending([c.id for c in cases[1:4]], running=cases[0].id)  # "running…" and "queued"
    panel.resize(300, 500)
    panel.show()
    qtbot.waitExposed(panel)
    assert clipped_cells(panel.table) == []
    pair = next(r for r, c in enumerate(cases) if c.kind.value == "fundus_oct")
    index = panel.model.index(pair, COL_KIND)
    assert panel.model.data(index) == "Fundus+OCT" and panel.model.data(index, Qt.ToolTipRole) == "Fundus + OCT"


def test_image_titles_keep_apart_from_their_subtitle(qtbot):
    from app.viewers.image_panel import ImagePanel

    panel = ImagePanel("Fundus")
    qtbot.addWidget(panel)
    panel.set_title("Fundus", "right eye (OD)  1411x1411")
    panel.resize(230, 200)
    panel.show()
    qtbot.waitExposed(panel)
    gap = panel.subtitle.geometry().left() - panel.title.geometry().right()
    assert gap >= 8  # never "Fundusright eye (OD)"
    assert panel.subtitle.is_elided() and "right eye (OD)  1411x1411" in panel.subtitle.toolTip()
    panel.resize(600, 200)
    qtbot.wait(10)
    assert not panel.subtitle.is_elided() and panel.subtitle.toolTip() == ""
