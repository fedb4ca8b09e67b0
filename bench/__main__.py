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
    "robustness": "bench.robustness",
    "soak": "bench.soak",
    "independent": "bench.independent",  # lesions from bench/lesions.py, reported apart from the demo tables
    "lesion_size": "bench.lesion_size",  # detection per lesion radius and tiles setting (bench/lesions.py lesions)
}
TAKES_DEVICE = {"sam", "models", "accuracy", "train", "rasalore", "independent", "lesion_size"}
WRITES_OUT = {"sam", "models", "accuracy", "independent", "lesion_size"}  # the others print; their stdout is kept
EXTRA_ARGS = {"gui": ["--json"], "soak": ["--json"]}


def _parse_stdout(text: str):
    """A benchmark's printed figures: one JSON document, JSON lines, or plain text lines."""
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            rows.append(line)
    return rows


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
        cmd = (
            [sys.executable, "-m", module]
            + (["--out", str(out)] if name in WRITES_OUT else [])
            + (["--device", device] if name in TAKES_DEVICE else [])
            + EXTRA_ARGS.get(name, [])
        )
        t0 = time.monotonic()
        print(f"== {name}: {' '.join(cmd)}", flush=True)
        if name in WRITES_OUT:
            proc = subprocess.run(cmd)
        else:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            print(proc.stdout, end="", flush=True)
            out.write_text(json.dumps(_parse_stdout(proc.stdout), indent=2))
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
