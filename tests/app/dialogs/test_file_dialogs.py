"""Habits people expect: File → Open recent, files dropped on the window are imported in the
background with progress, Import… and Export labels… dialogs, a Settings dialog that saves
atomically and applies at once, and a shortcuts help that lists every key, label mode included."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication


@pytest.fixture
def private_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("ANOMALY_STUDIO_HOME", str(home))
    return home


def _drop(window, paths: list[Path]) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(400, 300), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, enter)
    drop = QDropEvent(QPointF(400, 300), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, drop)
    return enter.isAccepted() and drop.isAccepted()


def _fundus_png(path: Path, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = np.zeros((96, 96, 3), np.uint8)
    img[..., 0] = 150 + rng.integers(0, 60, (96, 96))
    img[..., 1] = 60 + rng.integers(0, 30, (96, 96))
    Image.fromarray(img).save(path)
    return path


def test_shortcuts_help_lists_every_key_without_a_horizontal_scrollbar(window, qtbot):
    from app.dialogs.shortcuts import ShortcutsDialog
    from app.state.shortcuts import LABEL_SHORTCUTS, SHORTCUTS, WINDOW_SHORTCUTS

    listed = {QKeySequence(k).toString() for s in SHORTCUTS + WINDOW_SHORTCUTS + LABEL_SHORTCUTS for k in s.keys}
    bound = set()
    for view in (window.label_mode.view2d, window.label_mode.view3d):
        bound |= {sc.key().toString() for sc in view.findChildren(QShortcut)}
    for act in window.actions() + [a for m in window.menuBar().findChildren(type(window.recent_menu)) for a in m.actions()]:
        bound |= {k.toString() for k in act.shortcuts()}
    bound.discard("")
    assert bound - listed == set(), f"keys bound but missing from the help: {sorted(bound - listed)}"
    for key in ("P", "R", "B", "E", "F", "S", "V", "[", "]", "Ctrl+Z", "Ctrl+Y", "Ctrl+S"):
        assert QKeySequence(key).toString() in listed

    dlg = ShortcutsDialog(window)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    qtbot.wait(20)
    assert "Label mode" in dlg.text.text() and "Ctrl+Shift+S" in dlg.text.text()
    assert not dlg.scroll.horizontalScrollBar().isVisible()
    assert dlg.text.width() <= dlg.scroll.viewport().width()
    dlg.close()


def test_open_recent_switches_workspace_and_keeps_the_list(small_demo, small_demo_master, open_window, private_home, tmp_path):
    import shutil

    from app.menus import fill_recent_menu
    from core.settings import Settings

    other = tmp_path / "other"
    shutil.copytree(small_demo_master, other, ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    settings = Settings.load()
    settings.remember_workspace(other)
    settings.remember_workspace(tmp_path / "gone")
    settings.remember_workspace(small_demo)
    settings.save()
    w = open_window(small_demo)
    fill_recent_menu(w, w.recent_menu)
    items = {a.text().split("  ", 1)[1]: a for a in w.recent_menu.actions()}
    assert list(items)[0] == str(small_demo.resolve())
    assert not items[str(small_demo.resolve())].isEnabled()  # the open one
    assert not items[str((tmp_path / "gone").resolve())].isEnabled()  # a folder that is gone
    items[str(other.resolve())].trigger()
    assert w.session.workspace.root.resolve() == other.resolve()
    assert Settings.load().recent_workspaces[0] == str(other.resolve())


def test_dropped_files_are_imported_in_the_background_with_progress(small_demo, open_window, private_home, tmp_path, qtbot, monkeypatch):
    import core.data.importer as importer

    src = tmp_path / "drop"
    src.mkdir()
    files = [_fundus_png(src / "DROP-A.png", 1), _fundus_png(src / "DROP-B.png", 2)]
    seen = {"threads": set(), "progress": []}
    original = importer.import_folder

    def spy(*args, **kwargs):
        seen["threads"].add(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(importer, "import_folder", spy)
    w = open_window(small_demo)
    before = len(w.session.cases)
    assert _drop(w, files)
    dlg = w.dialogs["import"]
    assert dlg.isVisible() and dlg.source_paths() == files
    dlg.progress.valueChanged.connect(lambda v: seen["progress"].append((v, dlg.progress.maximum())))
    dlg.start.click()
    assert dlg.running and not dlg.start.isEnabled()  # the click returned while the import runs
    qtbot.waitUntil(lambda: not dlg.running, timeout=60_000)
    assert "Imported 2 case(s), skipped 0" in dlg.result_box.toPlainText()
    assert seen["threads"] and threading.main_thread().name not in seen["threads"]
    assert any(maximum == 2 for _v, maximum in seen["progress"])  # determinate: done of total
    assert len(w.session.cases) == before + 2 and {"DROP-A", "DROP-B"} <= set(w.worklist.visible_ids())
    assert src.exists() and sorted(p.name for p in src.iterdir()) == ["DROP-A.png", "DROP-B.png"]  # sources untouched


def test_a_dropped_workspace_folder_is_opened(small_demo, small_demo_master, open_window, private_home, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(small_demo_master, other, ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    w = open_window(small_demo)
    assert _drop(w, [other])
    assert w.session.workspace.root.resolve() == other.resolve() and "import" not in w.dialogs


def test_import_dialog_reports_what_it_skipped_and_can_stop(small_demo, open_window, private_home, tmp_path, qtbot):
    from app.dialogs.import_dialog import show_import
    from app.dialogs.job_dialog import _Progress
    from core.errors import CancelledError
    from core.runtime.progress import CancelToken

    w = open_window(small_demo)
    dlg = show_import(w)
    assert not dlg.run() and "Add a folder" in dlg.status.text()  # nothing to import yet
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not a png")
    dlg.add_sources([bad, tmp_path / "missing"])
    dlg.format.setCurrentText("folder")
    assert dlg.run()
    qtbot.waitUntil(lambda: not dlg.running, timeout=60_000)
    text = dlg.result_box.toPlainText()
    assert "Imported 0 case(s)" in text and "missing" in text and "broken.png" in text

    token = CancelToken()
    progress = _Progress(token)
    progress(1, 3, "case")
    token.cancel()
    with pytest.raises(CancelledError):  # the engine's next progress call ends the job between cases
        progress(2, 3, "case")


def test_export_labels_dialog_writes_the_cli_formats(small_demo, open_window, private_home, tmp_path, qtbot):
    from app.dialogs.export_labels import show_export_labels

    w = open_window(small_demo)
    dlg = show_export_labels(w)
    dlg.format.setCurrentIndex(dlg.format.findData("png"))
    out = tmp_path / "exported"
    dlg.out.setText(str(out))
    assert dlg.run()
    qtbot.waitUntil(lambda: not dlg.running, timeout=60_000)
    assert "Exported" in dlg.status.text()
    legend = json.loads((out / "legend.json").read_text())
    assert legend and list(out.rglob("*.png"))


def test_settings_dialog_saves_atomically_keeps_other_entries_and_applies(small_demo, open_window, private_home, tmp_path, qtbot):
    from app.dialogs.settings_dialog import SettingsDialog
    from core.settings import PacsServer, Settings

    s = Settings.load()
    s.put_pacs_server(PacsServer("clinic", "https://pacs.example.org/dicom-web"))
    s.save()
    w = open_window(small_demo)
    dlg = SettingsDialog(w)
    qtbot.addWidget(dlg)
    dlg.user.setText("dr lee")
    dlg.device.setCurrentIndex(dlg.device.findData("cpu"))
    dlg.weights.setText(str(tmp_path / "no-such-folder"))
    dlg.autosave.setChecked(False)
    assert not dlg.save() and "not a folder" in dlg.error.text()
    assert Settings.load().user is None  # nothing written
    weights = tmp_path / "weights"
    weights.mkdir()
    dlg.weights.setText(str(weights))
    assert dlg.save()
    saved = Settings.load()
    assert (saved.user, saved.device, saved.weights_dir, saved.autosave) == ("dr lee", "cpu", str(weights.resolve()), False)
    assert saved.pacs_server("clinic") is not None  # the rest of the file is kept
    assert not list(private_home.glob("*.tmp*"))  # written through a temporary file, none left
    assert w.session.user == "dr lee" and w.label_mode.sessions.user == "dr lee"
    assert w.label_mode.sessions.autosave is False and not w.label_mode.view2d.panel.autosave.isChecked()
    assert w.model_panel.device.currentData() == "cpu" and w.runs.device == "cpu"
