"""Child process of the laptop-screen test: QT_SCALE_FACTOR (set by the parent) applies only
before Qt starts. Renders the main window at a logical size on a case, saves the PNG and prints
a JSON verdict (size, clipped widgets, Run reachable)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(workspace: str, case_id: str, out: str, size: str) -> int:
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.screenshot import save_screenshot
    from app.state.session import Session
    from app.theme import apply_theme
    from core.workspace import Workspace
    from tests.helpers.layout_check import clipped_widgets, reachable

    app = QApplication([])
    apply_theme(app)
    w, h = (int(v) for v in size.split("x"))
    window = MainWindow(Session(workspace=Workspace.open(Path(workspace)), user="tester"), warm_up=False)
    window.resize(w, h)
    window.runs.describe_now()
    window.show()
    window.open_case_now(case_id)
    for _ in range(5):
        app.processEvents()
    save_screenshot(window, Path(out))
    verdict = {
        "size": [window.width(), window.height()],
        "device_pixel_ratio": window.devicePixelRatio(),
        "min_size": [window.minimumSizeHint().width(), window.minimumSizeHint().height()],
        "problems": clipped_widgets(window),
        "run_reachable": reachable(window, window.model_panel.run_case),
    }
    window.close()
    window.runs.shutdown()
    window.gpu.shutdown(wait=True)
    window.io.shutdown(wait=True)
    print(json.dumps(verdict))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
