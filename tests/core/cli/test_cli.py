import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main

REPO = Path(__file__).resolve().parents[3]


def run_cli(*args, env=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "app.main", *args], cwd=REPO, capture_output=True, text=True, timeout=600, env=full_env)


def test_info_json_lists_cases(small_demo, capsys):
    assert main(["info", "--workspace", str(small_demo), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ids = {c["id"] for c in data["cases"]}
    assert "FUN-N01" in ids and data["counts"]["cases"] == len(ids)
    first = data["cases"][0]
    assert {"id", "kind", "images", "status"} <= set(first)


def test_missing_workspace_exit_2_with_one_line(tmp_path, capsys):
    assert main(["info", "--workspace", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0] and "does not exist" in err[0]


def test_import_missing_folder_exit_2(tmp_path, capsys):
    assert main(["import", str(tmp_path / "nope"), "--workspace", str(tmp_path / "w")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_demo_refuses_non_workspace_folder(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious")
    assert main(["demo", "--workspace", str(tmp_path / "mine")]) == 2
    assert "not a workspace" in capsys.readouterr().err
    assert (tmp_path / "mine" / "thesis.docx").exists()


def test_demo_refuses_existing_workspace_without_force(small_demo, capsys):
    assert main(["demo", "--workspace", str(small_demo)]) == 2
    assert "--force" in capsys.readouterr().err


def test_unknown_command_and_bad_args_exit_2():
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2


def test_import_reports_in_json(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(src / "a_fundus.png")
    (src / "x.bin").write_bytes(b"1")
    assert main(["import", str(src), "--workspace", str(tmp_path / "w"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert [e["case"] for e in rep["imported"]] == ["a"] and rep["skipped"][0]["path"].endswith("x.bin")


def test_gui_screenshot_via_cli(small_demo, tmp_path):
    out = tmp_path / "shot.png"
    proc = run_cli("gui", "--workspace", str(small_demo), "--case", "PAIR-L01", "--screenshot", str(out))
    assert proc.returncode == 0, proc.stderr
    from PIL import Image

    with Image.open(out) as im:
        assert im.size == (1600, 1000)


def test_gui_unknown_case_exit_2(small_demo):
    proc = run_cli("gui", "--workspace", str(small_demo), "--case", "NOPE", "--screenshot", "x.png")
    assert proc.returncode == 2 and "NOPE" in proc.stderr


def test_gui_without_display_explains_headless_use(small_demo, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["ANOMALY_STUDIO_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-m", "app.main", "gui", "--workspace", str(small_demo)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "No display found" in proc.stderr and "--screenshot" in proc.stderr
    assert (tmp_path / "home" / "screenshots" / "anomaly-studio.png").exists()
