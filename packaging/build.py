"""Build the one-folder PyInstaller bundle and check it.

    python packaging/build.py [--dist DIR] [--work DIR] [--skip-smoke] [--no-clean]

Runs PyInstaller on ``packaging/anomaly_studio.spec``, then checks the bundle the way a clinic
workstation would start it: ``--version``, ``models --json``, ``--smoke`` (demo workspace, one
model on one case, window screenshot) and ``gui --screenshot`` on the smoke's workspace (start-up
to a rendered main window). The checks run with a private application-data folder and fail if
anything is written inside the bundle. Prints (and writes to ``DIST/build-summary.json``) build
time, bundle size, the largest parts, start-up times and the smoke check's JSON. Exit 0 when
every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_NAME = "AnomalyStudio"


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def largest_parts(bundle: Path, n: int = 8) -> dict[str, int]:
    """MB per top-level entry of the bundle's ``_internal`` folder (where PyInstaller puts everything)."""
    inner = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    sizes = {}
    for p in inner.iterdir():
        sizes[p.name] = folder_size(p) if p.is_dir() else (p.stat().st_size if not p.is_symlink() else 0)
    top = sorted(sizes.items(), key=lambda kv: -kv[1])[:n]
    return {k: round(v / 2**20) for k, v in top}


def parse_json(text: str):
    """The JSON object printed last by a command (progress lines may come before it)."""
    start = text.find("{")
    while start != -1:
        try:
            return json.loads(text[start:])
        except ValueError:
            start = text.find("{", start + 1)
    raise ValueError("no JSON object in the output")


def check_env(app_home: Path) -> dict[str, str]:
    """Environment of the checks: the bundle's own defaults, but a private application-data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALY_STUDIO_")}
    env.update(NO_ALBUMENTATIONS_UPDATE="1", XDG_DATA_HOME=str(app_home / "xdg"), APPDATA=str(app_home / "appdata"))
    if sys.platform == "darwin":
        env["HOME"] = str(app_home / "home")
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    return env


def timed(cmd: list[str], env: dict, timeout: float = 900) -> tuple[subprocess.CompletedProcess, float]:
    t = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=tempfile.gettempdir())
    return res, time.monotonic() - t


def build(dist: Path, work: Path, clean: bool = True) -> float:
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1")
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
        "--log-level",
        "WARN",
        str(ROOT / "packaging" / "anomaly_studio.spec"),
    ]
    if clean:
        cmd.insert(3, "--clean")
    print("$", " ".join(cmd), flush=True)
    t0 = time.monotonic()
    if subprocess.run(cmd, cwd=ROOT, env=env).returncode != 0:
        raise RuntimeError("PyInstaller failed (see its output above)")
    return time.monotonic() - t0


def check_bundle(bundle: Path, out: Path, smoke: bool = True) -> dict:
    """Run the bundle's checks; returns the summary (``ok`` says whether all passed)."""
    exe = bundle / ("anomaly-studio.exe" if os.name == "nt" else "anomaly-studio")
    summary: dict = {"ok": False}
    failures: list[str] = []
    started = time.time()
    app_home = Path(tempfile.mkdtemp(prefix="anomaly-studio-bundle-home-"))
    env = check_env(app_home)
    try:
        for i in range(2):  # first run reads the bundle from disk; the second is a warm start
            ver, secs = timed([str(exe), "--version"], env)
            summary["startup_seconds_version" + ("" if i else "_first")] = round(secs, 2)
        summary["version"] = (ver.stdout or ver.stderr).strip()
        if ver.returncode != 0:
            failures.append(f"--version exit {ver.returncode}")
        models, secs = timed([str(exe), "models", "--json"], env)
        summary["models_seconds"] = round(secs, 1)
        try:
            listing = parse_json(models.stdout)
            summary["models"] = [m["name"] for m in listing["methods"]]
            summary["weights_available"] = sorted(k for k, w in listing["weights"].items() if w["available"])
        except (ValueError, KeyError, TypeError):
            failures.append(f"models --json exit {models.returncode}: {(models.stdout + models.stderr)[-1500:]}")
        else:
            if models.returncode != 0 or "litemedsam" not in summary["weights_available"]:
                failures.append(f"models --json exit {models.returncode}; LiteMedSAM weights not available in the bundle")
        if smoke:
            shot = out / "smoke.png"
            res, secs = timed([str(exe), "--smoke", str(shot), "--keep"], env)
            summary["smoke_seconds"] = round(secs, 1)
            summary["smoke_returncode"] = res.returncode
            try:
                summary["smoke"] = parse_json(res.stdout)
            except ValueError:
                summary["smoke"] = None
            if res.returncode != 0 or not (summary["smoke"] or {}).get("ok"):
                failures.append("smoke check failed")
                summary["smoke_output"] = (res.stdout + res.stderr)[-4000:]
            elif summary["smoke"].get("backend") == "onnx":  # the bundled ONNX Runtime ran the exported encoder
                graph = Path(summary["smoke"].get("onnx_graph") or "")
                if not graph.is_file() or app_home.resolve() not in graph.resolve().parents:
                    failures.append(f"the smoke check's ONNX graph {graph} is not in the application-data cache")
            ws = (summary["smoke"] or {}).get("workspace")
            if ws:
                window = out / "window.png"
                gui, secs = timed([str(exe), "gui", "--workspace", ws, "--screenshot", str(window)], env)
                summary["startup_seconds_window"] = round(secs, 2)
                if gui.returncode != 0 or not window.is_file():
                    failures.append(f"gui --screenshot exit {gui.returncode}: {(gui.stdout + gui.stderr)[-1500:]}")
                shutil.rmtree(Path(ws).parent, ignore_errors=True)
        written = [
            str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_mtime > started
        ]
        summary["files_written_in_bundle"] = written
        if written:
            failures.append(f"the bundle wrote into its own folder: {written[:5]}")
        summary["app_data_used"] = sorted(str(p.relative_to(app_home)) for p in app_home.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(app_home, ignore_errors=True)
    summary["failures"] = failures
    summary["ok"] = not failures
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (the bundle is DIST/AnomalyStudio)")
    p.add_argument("--work", type=Path, default=ROOT / "build", help="PyInstaller's work folder")
    p.add_argument("--skip-smoke", action="store_true", help="only --version and models --json")
    p.add_argument("--no-clean", action="store_true", help="reuse PyInstaller's cache in --work (faster rebuilds)")
    a = p.parse_args(argv)
    dist, work = a.dist.resolve(), a.work.resolve()
    try:
        build_s = build(dist, work, clean=not a.no_clean)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    bundle = dist / BUNDLE_NAME
    summary = {
        "bundle": str(bundle),
        "build_seconds": round(build_s, 1),
        "size_mb": round(folder_size(bundle) / 2**20),
        "files": sum(1 for f in bundle.rglob("*") if f.is_file()),
        "largest_parts_mb": largest_parts(bundle),
    }
    summary.update(check_bundle(bundle, dist, smoke=not a.skip_smoke))
    text = json.dumps(summary, indent=2)
    print(text)
    (dist / "build-summary.json").write_text(text + "\n", encoding="utf-8")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
