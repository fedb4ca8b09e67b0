"""The ``anomaly-studio`` command line. Headless commands run here; the GUI entry point
(``app.main``) passes itself in as ``gui`` so this module never imports Qt or ``app``.

Exit codes: 0 success, 2 bad input (one line on stderr), 1 unexpected failure.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import re
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from core import __version__
from core.errors import CancelledError, StudioError

log = logging.getLogger("anomaly_studio.cli")
GuiRunner = Callable[[argparse.Namespace], int]


class UsageError(StudioError):
    """Bad command-line input (exit code 2)."""


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _stderr_progress(done: int, total: int, message: str) -> None:
    """One self-overwriting line on a terminal; plain lines (no escape codes) otherwise."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r[{done}/{total}] {message}\033[K")
        if done >= total:
            sys.stderr.write("\n")
    else:
        sys.stderr.write(f"[{done}/{total}] {message}\n")
    sys.stderr.flush()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="anomaly-studio",
        description="Anomaly Studio: review and label fundus, OCT and brain MRI with anomaly models.",
        epilog="anomaly-studio --smoke [OUT.png] [--keep]: installation self-check (offscreen: demo workspace, "
        "one model on one case, window screenshot, JSON summary; exit 0 when it works).",
    )
    p.add_argument("--version", action="version", version=f"anomaly-studio {__version__}")
    sub = p.add_subparsers(dest="command")

    g = sub.add_parser("gui", help="open the workstation window")
    g.add_argument("--workspace", "-w", type=Path, help="workspace folder (default: the last one, else the demo)")
    g.add_argument("--case", help="case id to open")
    g.add_argument("--screenshot", type=Path, help="render the window offscreen, save this PNG and exit")
    g.add_argument("--size", default="1600x1000", help="window size for --screenshot, WxH (default 1600x1000)")
    g.add_argument("--model", help="fitted model whose results to show: NAME or NAME:VERSION (default: the newest active)")
    g.add_argument("--view", choices=["auto", "review", "label"], default="auto", help="which view to show")

    d = sub.add_parser("demo", help="build the demo workspace from bundled real images")
    d.add_argument("--workspace", "-w", type=Path, required=True)
    d.add_argument("--force", action="store_true", help="rebuild if the folder already holds a workspace")
    d.add_argument("--small", action="store_true", help="a reduced demo (for tests)")
    d.add_argument("--json", action="store_true")

    i = sub.add_parser("import", help="import a folder of images, NIfTI files or DICOM series")
    i.add_argument("src", type=Path)
    i.add_argument("--workspace", "-w", type=Path, required=True)
    i.add_argument(
        "--format",
        default="auto",
        choices=["auto", "folder", "idrid", "bmad", "mmr", "eyeq", "brats", "retouch", "duke"],
        help="dataset layout (default: detect)",
    )
    i.add_argument("--modality", choices=["fundus", "oct", "slice"], help="modality of BMAD images (default: from the folder name)")
    i.add_argument("--json", action="store_true")

    r = sub.add_parser("restore", help="replace a damaged workspace.sqlite with its rolling backup (workspace.sqlite.bak)")
    r.add_argument("--workspace", "-w", type=Path, required=True)
    r.add_argument("--json", action="store_true")

    n = sub.add_parser("info", help="list the cases of a workspace")
    n.add_argument("--workspace", "-w", type=Path, required=True)
    n.add_argument("--json", action="store_true")

    from core.cli_models import add_model_commands

    add_model_commands(sub)
    from core.cli_labels import add_label_commands

    add_label_commands(sub)
    from core.cli_pacs import add_pacs_commands

    add_pacs_commands(sub)
    return p


def _open_workspace(path: Path):
    from core.workspace import Workspace

    return Workspace.open(path)


def cmd_demo(args) -> int:
    from core.data.demo import DemoPlan, build_demo
    from core.workspace.workspace import CATALOG_NAME

    root: Path = args.workspace
    if root.exists() and any(root.iterdir()):
        if not (root / CATALOG_NAME).exists():
            raise UsageError(f"{root}: folder is not empty and is not a workspace; choose an empty or new folder")
        if not args.force:
            raise UsageError(f"{root}: already holds a workspace; add --force to rebuild it")
        shutil.rmtree(root)
    t0 = time.monotonic()
    ws = build_demo(root, DemoPlan.small() if args.small else DemoPlan(), progress=None if args.json else _stderr_progress)
    seconds = time.monotonic() - t0
    cases = ws.cases()
    if args.json:
        _print_json({"workspace": str(root.resolve()), "cases": len(cases), "seconds": round(seconds, 1)})
    else:
        print(f"Demo workspace with {len(cases)} cases written to {root.resolve()} in {seconds:.1f} s")
    return 0


def cmd_import(args) -> int:
    from core.data.importer import import_folder
    from core.workspace import Workspace

    if not args.src.exists():
        raise UsageError(f"{args.src}: folder does not exist")
    ws = Workspace.open(args.workspace, create=True)
    report = import_folder(ws, args.src, progress=None if args.json else _stderr_progress, layout=args.format, modality=args.modality)
    if args.json:
        _print_json(report.to_json())
    else:
        print(f"Layout: {report.layout}. Imported {len(report.imported)} case(s), skipped {len(report.skipped)}:")
        for e in report.imported:
            print(
                f"  + {e['case']:<24} {e['kind']:<11} {', '.join(e['images'])}"
                + (f"  labels: {', '.join(e['labels'])}" if e.get("labels") else "")
            )
        for s in report.skipped:
            sys.stderr.write(f"  - {s['path']}: {s['reason']}\n")
        for w in report.warnings:
            sys.stderr.write(f"  ! {w}\n")
    return 0 if report.imported or not report.skipped else 2


def cmd_info(args) -> int:
    ws = _open_workspace(args.workspace)
    summary = ws.summary()
    if args.json:
        _print_json(summary)
        return 0
    print(f"{summary['name']}  ({summary['workspace']})  {summary['counts']['cases']} cases")
    for c in summary["cases"]:
        print(
            f"  {c['id']:<14} {c['kind']:<11} {c['status']:<11} {c['decision'] or '-':<9} "
            f"{c['split'] or '-':<6} {', '.join(im['name'] for im in c['images'])}"
        )
    return 0


def cmd_restore(args) -> int:
    from core.workspace import Workspace

    done = Workspace.restore_backup(args.workspace)
    Workspace.open(args.workspace).close()  # the restored catalog opens and passes its checks
    if args.json:
        _print_json(done)
    else:
        print(f"Restored {done['restored']} from the backup of {done['backup_time']}")
        for kept in done["kept"]:
            print(f"  the replaced file is kept as {kept}")
    return 0


def _commands() -> dict:
    from core.cli_labels import LABEL_COMMANDS
    from core.cli_models import MODEL_COMMANDS
    from core.cli_pacs import PACS_COMMANDS

    return {
        "demo": cmd_demo,
        "import": cmd_import,
        "info": cmd_info,
        "restore": cmd_restore,
        **MODEL_COMMANDS,
        **LABEL_COMMANDS,
        **PACS_COMMANDS,
    }


class _PlainStream:
    """stderr for a pipe or file: carriage-return progress becomes plain lines, escape codes vanish."""

    _ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

    def __init__(self, stream):
        self.stream = stream
        self._column = 0

    def write(self, text: str) -> int:
        text = self._ESCAPES.sub("", text)
        out = []
        for ch in text:
            if ch == "\r":
                if self._column:
                    out.append("\n")
                self._column = 0
                continue
            out.append(ch)
            self._column = 0 if ch == "\n" else self._column + 1
        self.stream.write("".join(out))
        return len(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _quiet_broken_pipe() -> int:
    """The reader went away (``| head``): stop quietly; Python must not complain at exit either."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # this end of the pipe is gone: point it at /dev/null
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
            except (OSError, ValueError, AttributeError):
                pass
    return 141  # 128 + SIGPIPE, as the shell reports a process a pipe closed on


def _broken_pipe(exc: BaseException) -> bool:
    """Is ``exc`` (or what it was raised from) a closed pipe? (EPIPE may arrive wrapped.)"""
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            return False
        if isinstance(current, BrokenPipeError) or (isinstance(current, OSError) and current.errno == errno.EPIPE):
            return True
        current = current.__cause__ or current.__context__
    return False


def _say(text: str) -> None:
    """One line on stderr; a closed stderr (``2>&1 | head``) is no reason for a traceback."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        _quiet_broken_pipe()


def _report_wait(message: str) -> None:
    sys.stderr.write(f"anomaly-studio: {message}\n")
    sys.stderr.flush()


# command-line options that name an id which becomes a path: checked before any command starts
# (cheap refusals: a hostile --version never gets as far as importing torch or opening a model)
_ID_OPTIONS = {"version": "version", "run": "run", "case": "case"}


def _validate_ids(args: argparse.Namespace) -> None:
    from core.workspace.paths import validate_id

    for attr, kind in _ID_OPTIONS.items():
        value = getattr(args, attr, None)
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                validate_id(kind, item)


def _sqlite_failure(exc: sqlite3.Error) -> str | None:
    """A one-line reason for database errors that are the environment's, not a bug (else None)."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return f"the workspace database is busy ({exc}); another program is writing to it"
    if "malformed" in text or "not a database" in text or "disk image" in text:
        return f"the workspace catalog is damaged ({exc}); run 'anomaly-studio restore --workspace W'"
    if "disk is full" in text or "disk i/o" in text or "unable to open" in text or "readonly" in text:
        return f"the workspace database cannot be written ({exc})"
    return None


def main(argv: Sequence[str] | None = None, gui: GuiRunner | None = None) -> int:
    """Run one command. A reader that closes the pipe early (``info | head``, ``--help | head``)
    ends the command quietly with 141 (128 + SIGPIPE), as other command-line tools do."""
    try:
        return _main(argv, gui)
    except BrokenPipeError:
        return _quiet_broken_pipe()


def _main(argv: Sequence[str] | None, gui: GuiRunner | None) -> int:
    from core.logs import setup_logging

    setup_logging()
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    from core.io.filelock import set_wait_reporter
    from core.settings import Settings

    Settings.load()  # applies settings the engine reads below the settings layer (the decoders' budget)
    original_stderr = sys.stderr
    if not sys.stderr.isatty() and not isinstance(sys.stderr, _PlainStream):
        sys.stderr = _PlainStream(sys.stderr)  # no progress escape codes in pipes and log files
    set_wait_reporter(_report_wait)
    try:
        return _run(parser, args, gui)
    finally:
        sys.stderr = original_stderr


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, gui: GuiRunner | None) -> int:
    try:
        if args.command in (None, "gui"):
            if args.command is None:
                args = parser.parse_args(["gui"])
            if gui is None:
                raise UsageError("the GUI is not available from this entry point; run the 'anomaly-studio' command")
            return int(gui(args) or 0)
        _validate_ids(args)
        rc = _commands()[args.command](args)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return rc
    except CancelledError as exc:
        _say(f"anomaly-studio: {exc}\n")
        return 3
    except StudioError as exc:
        if _broken_pipe(exc):
            return _quiet_broken_pipe()
        log.info("exit 2: %s", exc)
        _say(f"anomaly-studio: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        _say("anomaly-studio: interrupted\n")
        return 130
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except Exception as exc:  # noqa: BLE001 - last resort: a readable line, the traceback goes to the log
        if _broken_pipe(exc):
            return _quiet_broken_pipe()
        reason = _sqlite_failure(exc) if isinstance(exc, sqlite3.Error) else None
        if reason is not None:
            log.info("exit 2: %s", exc)
            _say(f"anomaly-studio: error: {reason}\n")
            return 2
        log.exception("unexpected failure")
        from core.logs import log_dir

        _say(f"anomaly-studio: unexpected error: {exc.__class__.__name__}: {exc} (details in {log_dir()})\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
