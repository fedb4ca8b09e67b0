"""Entry point of the ``anomaly-studio`` command: the GUI, and everything else via core.cli.

Qt is imported only when a window is really needed, and torch only when a model runs, so the
window shows quickly and headless commands never touch Qt.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from app.screenshot import save_screenshot
from core.errors import StudioError, WorkspaceError

STARTUP_NOTICES: list[str] = []  # shown in the window's status bar once it is up


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--smoke"]:
        from app.smoke import run_smoke

        rest = [a for a in args[1:] if a != "--keep"]  # --smoke [OUT.png] [--keep]: keep the demo workspace
        return run_smoke(rest[0] if rest else None, keep="--keep" in args)
    from core.cli import main as cli_main

    return cli_main(args, gui=run_gui)


def has_display() -> bool:
    """Can a real window be shown? (Windows and macOS always have a desktop session.)"""
    if os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal"):
        return False
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"))
    return True


def _resolve_workspace(args: argparse.Namespace):
    from core.settings import Settings, demo_workspace_dir
    from core.workspace import Workspace
    from core.workspace.workspace import CATALOG_NAME

    settings = Settings.load()
    if args.workspace is not None:
        return Workspace.open(args.workspace), settings
    candidates = [Path(settings.last_workspace)] if settings.last_workspace else []
    for c in candidates:
        if (c / CATALOG_NAME).exists():
            try:
                return Workspace.open(c), settings
            except StudioError as exc:  # say why, then fall back to the demo: never silently
                notice = f"The last workspace could not be opened ({exc}); the demo workspace is shown instead."
                logging.getLogger(__name__).warning(notice)
                print(notice, file=sys.stderr)
                STARTUP_NOTICES.append(notice)
    demo = demo_workspace_dir()
    if not (demo / CATALOG_NAME).exists() or os.environ.get("ANOMALY_STUDIO_REBUILD_DEMO"):
        from core.cli import _stderr_progress
        from core.data.demo import build_demo

        if demo.exists():
            import shutil

            shutil.rmtree(demo)
        print(f"Building the demo workspace in {demo} (about half a minute, once)…", file=sys.stderr)
        return build_demo(demo, progress=_stderr_progress), settings
    return Workspace.open(demo), settings


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise StudioError(f"--size '{text}': expected WIDTHxHEIGHT, e.g. 1600x1000") from None
    return max(w, 640), max(h, 480)


def run_gui(args: argparse.Namespace) -> int:
    headless = args.screenshot is not None or not has_display()
    if headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    ws, settings = _resolve_workspace(args)
    if args.case is not None and not ws.has_case(args.case):
        raise WorkspaceError(f"case '{args.case}' not found in {ws.root}")
    t0 = time.monotonic()

    from PySide6.QtWidgets import QApplication

    from app.crash import install_error_reporter
    from app.main_window import MainWindow
    from app.state.session import Session
    from app.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Anomaly Studio")
    install_error_reporter(app)
    apply_theme(app)
    window = MainWindow(Session(workspace=ws, user=settings.resolved_user()), model=getattr(args, "model", None), warm_up=not headless)
    if getattr(args, "view", "auto") == "label":
        window.label_mode.set_active(True)
    settings.remember_workspace(ws.root)
    try:
        settings.save()
    except OSError:
        pass

    if headless:
        target = args.screenshot
        if target is None:
            from core.settings import app_data_dir

            target = app_data_dir() / "screenshots" / "anomaly-studio.png"
        window.resize(*_parse_size(args.size))
        case_id = args.case or _default_case(ws)
        window.runs.describe_now()
        if case_id:
            window.open_case_now(case_id)
        window.show()
        for _ in range(5):
            app.processEvents()
        save_screenshot(window, Path(target))
        if args.screenshot is None:
            print(
                "No display found (no DISPLAY or WAYLAND_DISPLAY), so no window can open here.\n"
                f"A screenshot of the window was saved to {Path(target).resolve()}\n"
                "Headless use:\n"
                f"  anomaly-studio gui --workspace {ws.root} --case <ID> --screenshot out.png\n"
                f"  anomaly-studio info --workspace {ws.root}\n"
                "  anomaly-studio import SRC --workspace W     anomaly-studio demo --workspace W\n"
                "Run on a desktop (or over ssh -X / under xvfb-run) to use the window.",
                file=sys.stderr,
            )
        else:
            print(f"screenshot saved to {Path(target).resolve()}", file=sys.stderr)
        window.close()
        return 0

    window.show()
    if STARTUP_NOTICES:
        window.statusBar().showMessage(" ".join(STARTUP_NOTICES), 30000)
    if args.case:
        window.worklist.select_case(args.case)
    elif ws.case_ids():
        window.worklist.select_case(ws.case_ids()[0])
    shown = time.monotonic() - t0
    logging.getLogger(__name__).info("window shown %.2f s after the GUI started", shown)
    return app.exec()


def _default_case(ws) -> str | None:
    ids = ws.case_ids()
    pairs = [c for c in ids if c.startswith("PAIR-L")]
    return (pairs or ids or [None])[0]


if __name__ == "__main__":
    sys.exit(main())
