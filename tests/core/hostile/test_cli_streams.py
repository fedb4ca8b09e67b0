"""Errors go to stderr, escape codes only to terminals, and a closed pipe is not an error."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from core.cli import _PlainStream

REPO = Path(__file__).resolve().parents[3]


def test_progress_lines_become_plain_lines_off_a_terminal():
    buf = io.StringIO()
    stream = _PlainStream(buf)
    for text in ("\r[1/3] a\033[K", "\r[2/3] b\033[K", "\r[3/3] done\033[K", "\n", "anomaly-studio: error: x\n"):
        stream.write(text)
    assert buf.getvalue() == "[1/3] a\n[2/3] b\n[3/3] done\nanomaly-studio: error: x\n"


def test_every_progress_writer_is_plain_when_stderr_is_not_a_terminal(tiny_ws, capsys, monkeypatch):
    import core.cli as cli_module
    from core.cli_models import _progress

    def command(args):
        report = _progress(False)  # the model commands' progress (fit, predict, eval)
        report(1, 2, "case A")
        report(2, 2, "done")
        cli_module._stderr_progress(1, 1, "imported")  # the import / demo progress
        return 0

    monkeypatch.setattr(cli_module, "_commands", lambda: {"info": command})
    assert cli_module.main(["info", "-w", str(tiny_ws)]) == 0
    err = capsys.readouterr().err
    assert "\033[" not in err and "\r" not in err
    assert "[2/2] done" in err and "[1/1] imported" in err


def test_info_into_a_closed_pipe_ends_quietly(tiny_ws):
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already exited
    proc = subprocess.run(
        [sys.executable, "-m", "app.main", "info", "--workspace", str(tiny_ws)],
        cwd=REPO,
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    os.close(write_end)
    assert "BrokenPipe" not in proc.stderr and "unexpected" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert proc.returncode == 141, proc.stderr


def test_errors_are_one_line_on_stderr_and_nothing_on_stdout(tmp_path, cli):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "workspace.sqlite").write_bytes(b"")
    rc, out, err = cli("info", "-w", tmp_path / "w")
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and "workspace.sqlite" in err


def _run_into_closed_pipes(args, tmp_path, stderr_closed: bool):
    """``anomaly-studio ARGS`` with stdout (and stderr) into pipes whose readers have gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    err_file = tmp_path / "stderr.txt"
    with open(err_file, "w") as err:
        proc = subprocess.run(
            [sys.executable, "-m", "app.main", *map(str, args)],
            cwd=REPO,
            stdout=write_end,
            stderr=write_end if stderr_closed else err,
            timeout=120,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
    os.close(write_end)
    return proc.returncode, err_file.read_text()


def test_an_error_into_a_closed_stderr_keeps_its_exit_code(tmp_path):
    # `info -w missing 2>&1 | head` used to end in a traceback (exit 1) while reporting the error
    rc, _ = _run_into_closed_pipes(["info", "--workspace", tmp_path / "missing"], tmp_path, stderr_closed=True)
    assert rc == 2


def test_models_and_help_into_a_closed_pipe_end_quietly(tmp_path):
    rc, err = _run_into_closed_pipes(["models"], tmp_path, stderr_closed=False)
    assert rc == 141 and err == ""
    rc, err = _run_into_closed_pipes(["info", "--help"], tmp_path, stderr_closed=False)
    assert rc in (0, 141) and "Traceback" not in err and "BrokenPipe" not in err


def test_a_closed_pipe_wrapped_in_another_error_is_still_quiet(tiny_ws, monkeypatch, capsys):
    import core.cli as cli_module
    from core.errors import StudioError

    def command(args):
        try:
            raise BrokenPipeError(32, "Broken pipe")
        except BrokenPipeError as exc:
            raise StudioError("writing the report failed") from exc

    monkeypatch.setattr(cli_module, "_commands", lambda: {"info": command})
    assert cli_module.main(["info", "-w", str(tiny_ws)]) == 141
    assert capsys.readouterr().err == ""


def test_fit_names_the_modality_that_has_normals(tmp_path, cli):
    import numpy as np

    from core.domain import CaseKind, Modality
    from core.workspace import Workspace
    from core.workspace.workspace import NewImage

    ws = Workspace.create(tmp_path / "ws")
    img = (np.random.default_rng(1).random((48, 48)) * 255).astype(np.uint8)
    ws.add_case("S0", CaseKind.SLICE, [NewImage("slice", Modality.SLICE, array=img)], split="train", truth="normal")
    ws.close()
    rc, out, err = cli("fit", "mmrad", "--workspace", tmp_path / "ws")
    assert rc == 2 and out == ""
    assert "slice images, which mmrad does not score" in err and "--config modality=slice" in err
