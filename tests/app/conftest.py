import gc

import pytest


@pytest.fixture(autouse=True)
def _collect_garbage_in_the_gui_thread():
    """Closed windows of a test are collected here, in the GUI thread, not later in a worker."""
    yield
    gc.collect()


@pytest.fixture
def window(qtbot, small_demo):
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.state.session import Session
    from app.theme import apply_theme
    from core.workspace import Workspace

    apply_theme(QApplication.instance())
    w = MainWindow(Session(workspace=Workspace.open(small_demo), user="tester"))
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


# -- a small demo workspace with a fitted model (review workstation tests) --------------------------
@pytest.fixture(scope="session")
def fitted_demo_master(small_demo_master, tmp_path_factory):
    """The small demo with a real PatchCore (LiteMedSAM TinyViT features, 1 % coreset) fitted on
    its fundus training normals and one stored prediction (FUN-L01). Read-only: copy before writing."""
    import shutil

    from core.models import store
    from core.workspace import Workspace

    root = tmp_path_factory.mktemp("fitted-master") / "ws"
    shutil.copytree(small_demo_master, root, ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    ws = Workspace.open(root)
    model = store.fit_on_workspace(ws, "patchcore", {"coreset_ratio": 0.01, "device": "cpu"})
    store.predict_cases(ws, model, ["FUN-L01"])
    ws.close()
    return root


@pytest.fixture
def fitted_demo(fitted_demo_master, tmp_path):
    import shutil

    dst = tmp_path / "fitted"
    shutil.copytree(fitted_demo_master, dst, ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    return dst


@pytest.fixture
def open_window(qtbot):
    """Factory: a shown MainWindow on a workspace folder (closed at the end of the test)."""
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.state.session import Session
    from app.theme import apply_theme
    from core.workspace import Workspace

    apply_theme(QApplication.instance())
    made = []

    def make(root, user="tester", **kwargs):
        w = MainWindow(Session(workspace=Workspace.open(root), user=user), **kwargs)
        qtbot.addWidget(w)
        w.resize(1600, 1000)
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        return w

    yield make
    for w in made:
        if w.isVisible():
            w.close()
        w.runs.shutdown()
        w.gpu.shutdown(wait=True)
        w.io.shutdown(wait=True)
        w.session.workspace.close()
