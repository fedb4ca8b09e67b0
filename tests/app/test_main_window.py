import numpy as np
from PySide6.QtCore import Qt

from core.domain import CaseKind


def _grab_array(widget):
    img = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB888)
    w, h = img.width(), img.height()
    ptr = img.constBits()
    return np.frombuffer(ptr, np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())[:, : w * 3].reshape(h, w, 3)


def test_opens_and_lists_all_cases(window):
    assert window.worklist.model.rowCount() == len(window.session.workspace.case_ids())


def test_keyboard_navigation_loads_cases(window, qtbot):
    window.worklist.select_case("FUN-L01")
    qtbot.waitUntil(lambda: window.session.loaded is not None and window.session.loaded.id == "FUN-L01", timeout=10000)
    ids = window.worklist.visible_ids()
    qtbot.keyClick(window, Qt.Key_D)
    nxt = ids[ids.index("FUN-L01") + 1]
    qtbot.waitUntil(lambda: window.session.loaded is not None and window.session.loaded.id == nxt, timeout=10000)
    qtbot.keyClick(window, Qt.Key_A)
    qtbot.waitUntil(lambda: window.session.loaded.id == "FUN-L01", timeout=10000)


def test_pair_view_shows_both_images_and_scan_line(window, qtbot, tmp_path):
    window.open_case_now("PAIR-L01")
    assert window.viewers.currentWidget() is window.case_view
    assert window.case_view.fundus.isVisible() and window.case_view.oct.isVisible()
    xs, ys = window.case_view.scan_line.getData()
    assert len(xs) == 2 and xs[1] > xs[0]
    # hovering the B-scan marks the matching point on the scan line
    window.case_view.oct.mouse_moved.emit(256.0, 100.0)
    mx, my = window.case_view.scan_marker.getData()
    assert xs[0] < mx[0] < xs[1] and abs(my[0] - ys[0]) < 1e-6
    arr = _grab_array(window)
    assert arr.std() > 10  # a real rendering, not a blank window
    window.grab().save(str(tmp_path / "pair.png"))


def test_mri_case_shows_three_planes_with_spacing(window, qtbot):
    mri = next(c for c in window.session.cases if c.kind == CaseKind.MRI)
    window.open_case_now(mri.id)
    vv = window.volume_view
    assert window.viewers.currentWidget() is vv
    assert vv.ras is not None and vv.ras.ndim == 3
    before = vv.pos[2]
    vv.sliders["axial"].setValue(before + 5)
    assert vv.pos[2] == before + 5
    x, y, w, h = vv.plane_rect("sagittal")
    assert (w, h) == (vv.ras.shape[1] * vv.spacing[1], vv.ras.shape[2] * vv.spacing[2])


def test_stale_load_is_not_shown(window, qtbot):
    """Switching case while a load is in flight never shows the earlier case."""
    window.open_case("FUN-N01")
    window.open_case("PAIR-L01")
    qtbot.waitUntil(lambda: window.session.loaded is not None and window.session.loaded.id == "PAIR-L01", timeout=10000)
    qtbot.wait(300)
    assert window.session.loaded.id == "PAIR-L01"


def test_a_2d_slice_case_is_shown(open_window, tmp_path):
    """BMAD-style 2-D slices (neither fundus nor OCT) appear in the left image panel."""
    import numpy as np

    from core.domain import CaseKind, Modality
    from core.workspace import Workspace
    from core.workspace.workspace import NewImage

    ws = Workspace.create(tmp_path / "slices")
    img = np.zeros((64, 80), np.uint8)
    img[20:40, 30:50] = 200
    ws.add_case("SL-1", CaseKind.SLICE, [NewImage("slice", Modality.SLICE, array=img)])
    ws.close()
    w = open_window(tmp_path / "slices")
    w.open_case_now("SL-1")
    assert w.viewers.currentWidget() is w.case_view
    assert w.case_view.fundus.isVisible() and not w.case_view.oct.isVisible()
    shown = w.case_view.fundus.image_item.image
    assert shown is not None and shown.shape[:2] in ((64, 80), (80, 64)) and shown.max() > 0
    assert "slice" in w.case_view.fundus.title.text().lower()


def test_garbage_is_collected_in_the_gui_thread_only(window, qtbot):
    """Cyclic garbage holding Qt objects must never be destroyed by a worker thread."""
    import gc

    from PySide6.QtWidgets import QApplication

    assert not gc.isenabled()  # no automatic collection in whatever thread allocates
    collector = QApplication.instance()._anomaly_studio_gc
    assert collector.timer.isActive() and collector.timer.interval() == 1000


def test_the_shortcuts_dialog_is_deleted_after_use(window, monkeypatch):
    """F1 any number of times leaves no dialogs behind in the window."""
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    from app.dialogs.shortcuts import ShortcutsDialog

    monkeypatch.setattr(ShortcutsDialog, "exec", lambda self: 0)  # closed at once by the "user"
    for _ in range(5):
        window.show_shortcuts()
    QApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    assert window.findChildren(ShortcutsDialog) == []


def test_quitting_again_while_training_stops_connects_once(window, qtbot, monkeypatch):
    """Each "quit" while a training run is stopping used to add one more connection (and one more
    close() when it ended); the window now waits with a single one and closes once."""
    from PySide6.QtCore import SIGNAL, QObject, Signal
    from PySide6.QtWidgets import QMessageBox, QWidget

    class FakeProcess(QObject):
        finished = Signal(str, int)
        running = True

    class FakeRetrain(QWidget):
        models_changed = Signal()

        def __init__(self, *args, **kwargs):
            super().__init__()
            self.process = FakeProcess(self)

    monkeypatch.setattr("app.training.dialog.RetrainDialog", FakeRetrain)
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.Yes))
    dlg = window.show_retrain()
    qtbot.addWidget(dlg)
    for _ in range(3):
        window.close()
        assert window.isVisible()
    assert dlg.process.receivers(SIGNAL("finished(QString,int)")) == 1
    dlg.process.running = False
    dlg.process.finished.emit("cancelled", 0)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
