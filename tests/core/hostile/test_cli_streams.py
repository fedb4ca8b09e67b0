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
