import pytest


@pytest.fixture
def window(qtbot, small_demo):
    from app.main_window import MainWindow
    from app.state.session import Session
    from app.theme import apply_theme
    from core.workspace import Workspace
    from PySide6.QtWidgets import QApplication

    apply_theme(QApplication.instance())
    w = MainWindow(Session(workspace=Workspace.open(small_demo), user="tester"))
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()
