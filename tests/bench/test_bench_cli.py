"""``python -m bench`` as a user runs it: help from any folder writes nothing there, unknown names
and a missing GPU are refused with exit code 2 (never a traceback), and the ratio helpers of the
speed figures compare runs of the same measurement pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    e = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=300)


def test_help_from_another_folder_creates_nothing(tmp_path):
    p = _bench(["--help"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "speed" in p.stdout and "--gpu" in p.stdout and str(ROOT / "bench" / "results") in p.stdout
    assert list(tmp_path.iterdir()) == []


def test_unknown_benchmark_is_refused(tmp_path):
    p = _bench(["nonesuch"], tmp_path)
    assert p.returncode == 2 and "unknown benchmark(s) nonesuch" in p.stderr and "Traceback" not in p.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_gpu_script_without_a_gpu_stops_cleanly(tmp_path):
    """bench/gpu.sh (the prepared one-shot GPU run) on a machine without a GPU: exit 2, the reason,
    no results folder in the checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHON=sys.executable, CUDA_VISIBLE_DEVICES="")
    p = subprocess.run(
        ["sh", str(ROOT / "bench" / "gpu.sh"), "--out", "gpu"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 2 and "no CUDA GPU" in p.stderr and "Traceback" not in p.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "gpu"] and list((tmp_path / "gpu").iterdir()) == []  # nothing measured


def test_speed_rows_are_ratios_of_the_same_run():
    from bench.speed import interleaved, paired_ratio, row

    calls: list[str] = []
    t = interleaved({"new": lambda: calls.append("new"), "eager": lambda: calls.append("eager")}, 3)
    assert calls == ["new", "eager"] * 3 and all(len(v) == 3 for v in t.values())  # alternating, same conditions
    assert paired_ratio([1.0, 2.0, 9.0], [2.0, 4.0, 10.0]) == pytest.approx(0.5)  # median of the pairs' ratios
    r = row("encoder_s", 0.3, 0.9)
    assert r["ratio"] == pytest.approx(0.333) and r["torch_eager_s"] == 0.9 and r["target"] == "ratio <= 0.4"
    assert row("patchcore_fit_s", 20.0, None)["ratio"] is None
