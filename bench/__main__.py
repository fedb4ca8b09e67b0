"""Run every benchmark and write bench/results/all.json plus a short table.

    python -m bench                  # all of them (tens of minutes on a 2-core CPU)
    python -m bench sam models       # a subset
    BENCH_DEVICE=cuda python -m bench

Each benchmark runs in its own process (clean memory figures) and writes JSON into
bench/results/; the device is recorded with every result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path("bench/results")
# name -> module; modules accept --out PATH (and --device where it applies)
BENCHES = {
    "sam": "bench.sam",
    "models": "bench.models",
    "gui": "bench.gui_timings",
    "train": "bench.train_step",
    "rasalore": "bench.rasalore_epoch",
    "accuracy": "bench.accuracy",
}
TAKES_DEVICE = {"sam", "models", "accuracy", "train", "rasalore"}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    device = os.environ.get("BENCH_DEVICE", "auto")
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name in names:
        module = BENCHES.get(name)
        if module is None:
            print(f"unknown benchmark '{name}'; known: {', '.join(BENCHES)}", file=sys.stderr)
            return 2
        if not Path(module.replace(".", "/") + ".py").exists():
            summary[name] = {"status": "not available in this checkout"}
            continue
        out = RESULTS / f"{name}.json"
        cmd = [sys.executable, "-m", module, "--out", str(out)] + (["--device", device] if name in TAKES_DEVICE else [])
        t0 = time.monotonic()
        print(f"== {name}: {' '.join(cmd)}", flush=True)
        proc = subprocess.run(cmd)
        entry = {"status": "ok" if proc.returncode == 0 else f"failed ({proc.returncode})", "seconds": round(time.monotonic() - t0, 1)}
        if out.exists():
            entry["result"] = json.loads(out.read_text())
        summary[name] = entry
    (RESULTS / "all.json").write_text(json.dumps(summary, indent=2))
    print("\n| benchmark | status | seconds |\n|---|---|---|")
    for name, e in summary.items():
        print(f"| {name} | {e['status']} | {e.get('seconds', '')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
