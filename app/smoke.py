"""``anomaly-studio --smoke``: a self-check of an installation or a PyInstaller bundle.

Offscreen: builds a small demo workspace in a temporary folder, fits MIAS-SAM on its normals
(its encoder on the inference backend: ONNX Runtime on a CPU, the graph exported into the
application-data cache; torch on CUDA), runs it on one lesion case, renders the real window with the result, saves a screenshot, prints a
JSON summary and exits 0 (non-zero with the failing step named otherwise). ``--keep`` keeps the
temporary demo workspace (its path is in the JSON) so a caller can time ``gui --screenshot`` on it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path


def run_smoke(screenshot: str | None = None, keep: bool = False) -> int:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    t0 = time.monotonic()
    steps: dict[str, float] = {}
    step = "start"
    tmp = Path(tempfile.mkdtemp(prefix="anomaly-studio-smoke-"))
    try:
        step = "app data"
        from core.logs import log_dir, setup_logging
        from core.settings import app_data_dir

        setup_logging()
        import logging

        logging.getLogger(__name__).info("smoke check started (frozen=%s)", bool(getattr(sys, "frozen", False)))
        step = "weights"
        from core.runtime.weights import resolve

        sam_path, sam_sha = resolve("litemedsam")  # sha256-verified; inside the bundle when frozen
        steps[step] = round(time.monotonic() - t0, 1)

        step = "demo workspace"
        from core.data.demo import DemoPlan, build_demo

        t = time.monotonic()
        ws = build_demo(tmp / "workspace", DemoPlan.small())
        steps[step] = round(time.monotonic() - t, 1)

        step = "fit mias_sam"
        from core.models import store

        t = time.monotonic()
        model = store.fit_on_workspace(ws, "mias_sam", {"device": "auto"})
        steps[step] = round(time.monotonic() - t, 1)

        step = "predict"
        t = time.monotonic()
        case_id = next(c.id for c in ws.cases() if c.truth == "abnormal" and c.image("fundus") is not None)
        results, _ = store.predict_cases(ws, model, [case_id])
        steps[step] = round(time.monotonic() - t, 1)

        step = "window screenshot"
        t = time.monotonic()
        from PySide6.QtWidgets import QApplication

        from app.main_window import MainWindow
        from app.screenshot import save_screenshot
        from app.state.session import Session
        from app.theme import apply_theme

        qapp = QApplication.instance() or QApplication(sys.argv[:1])
        apply_theme(qapp)
        window = MainWindow(Session(workspace=ws, user="smoke-test"))
        window.resize(1600, 1000)
        window.open_case_now(case_id)
        window.show()
        for _ in range(10):
            qapp.processEvents()
        target = Path(screenshot) if screenshot else tmp / "smoke.png"
        save_screenshot(window, target)
        window.close()
        steps[step] = round(time.monotonic() - t, 1)
        from core.runtime.device import describe_device

        backend = model.backend  # frozen encoder: ONNX Runtime on a CPU (exported into app data), torch on CUDA
        graph = model.sam.encoder.graph().path if backend == "onnx" else None

        print(
            json.dumps(
                {
                    "ok": True,
                    "seconds": round(time.monotonic() - t0, 1),
                    "steps": steps,
                    "case": case_id,
                    "score": results[0].score,
                    "screenshot": str(target),
                    "workspace": str(ws.root) if keep else None,
                    "device": describe_device("auto"),
                    "backend": backend,
                    "onnx_graph": None if graph is None else str(graph),
                    "frozen": bool(getattr(sys, "frozen", False)),
                    "app_data": str(app_data_dir()),
                    "log": str(log_dir() / "anomaly-studio.log"),
                    "litemedsam": {"path": str(sam_path), "sha256": sam_sha},
                },
                indent=2,
            )
        )
        return 0
    except Exception as exc:  # noqa: BLE001 - the smoke check reports any failure as a step
        print(json.dumps({"ok": False, "failed_step": step, "error": f"{exc.__class__.__name__}: {exc}", "steps": steps}, indent=2))
        traceback.print_exc()
        return 1
    finally:
        if not keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
