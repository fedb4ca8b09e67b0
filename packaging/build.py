"""Build the one-folder PyInstaller bundle and run its smoke check.

    python packaging/build.py [--skip-smoke] [--dist DIR]

Prints build time, bundle size, the smoke check's JSON and the bundle's start-up time
(``anomaly-studio --version``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--dist", type=Path, default=ROOT / "dist")
    p.add_argument("--work", type=Path, default=ROOT / "build")
    p.add_argument("--skip-smoke", action="store_true")
    a = p.parse_args(argv)
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1")
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", str(a.dist), "--workpath", str(a.work),
           str(ROOT / "packaging" / "anomaly_studio.spec")]
    print("$", " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=ROOT, env=env).returncode != 0:
        print("PyInstaller failed", file=sys.stderr)
        return 1
    build_s = time.monotonic() - t0
    bundle = a.dist / "AnomalyStudio"
    exe = bundle / ("anomaly-studio.exe" if os.name == "nt" else "anomaly-studio")
    size = folder_size(bundle)
    summary = {"bundle": str(bundle), "build_seconds": round(build_s, 1), "size_mb": round(size / 2 ** 20)}
    t1 = time.monotonic()
    ver = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=env)
    summary["startup_seconds_version"] = round(time.monotonic() - t1, 2)
    summary["version"] = ver.stdout.strip() or ver.stderr.strip()
    if not a.skip_smoke:
        t2 = time.monotonic()
        smoke = subprocess.run([str(exe), "--smoke", str(a.dist / "smoke.png")], capture_output=True, text=True, env=env)
        summary["smoke_seconds"] = round(time.monotonic() - t2, 1)
        summary["smoke_returncode"] = smoke.returncode
        try:
            summary["smoke"] = json.loads(smoke.stdout[smoke.stdout.index("{"):])
        except ValueError:
            summary["smoke_output"] = (smoke.stdout + smoke.stderr)[-3000:]
    print(json.dumps(summary, indent=2))
    return 0 if a.skip_smoke or summary.get("smoke_returncode") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
