"""Run the benchmarks and write ``<out>/<name>.json`` plus ``all.json`` and a short table.

    python -m bench                      # every CPU benchmark (tens of minutes on a 2-core CPU)
    python -m bench speed sam            # a subset
    python -m bench --out /tmp/results   # results elsewhere (default: bench/results of this checkout)
    python -m bench --gpu                # the GPU set with BENCH_DEVICE=cuda into bench/results/gpu (bench/gpu.sh);
                                         # exit 2 without a GPU

Each benchmark runs in its own process (clean memory figures); the device and the machine load
(``uptime``'s load averages) are recorded with every result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"  # never the current folder: `python -m bench` may run from anywhere
GPU_RESULTS = RESULTS / "gpu"  # the GPU column never overwrites the CPU figures
# name -> module; modules accept --out PATH (and --device where it applies)
BENCHES = {
    "speed": "bench.speed",
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
TAKES_DEVICE = {"speed", "sam", "models", "accuracy", "train", "rasalore", "independent", "lesion_size"}
WRITES_OUT = {"speed", "sam", "models", "accuracy", "independent", "lesion_size"}  # the others print; their stdout is kept
EXTRA_ARGS = {"gui": ["--json"], "soak": ["--json"]}
GPU_SET = ("speed", "sam", "models")  # what `--gpu` runs with BENCH_DEVICE=cuda


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


def gpu_available() -> tuple[bool, str]:
    try:
        import torch
    except ImportError:
        return False, "torch is not installed"
    if not torch.cuda.is_available():
        return False, "no CUDA GPU is visible to torch (torch.cuda.is_available() is False)"
    return True, torch.cuda.get_device_name(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all): {', '.join(BENCHES)}")
    p.add_argument("--out", type=Path, help=f"folder for the JSON results (default: {RESULTS}; with --gpu {GPU_RESULTS})")
    p.add_argument("--gpu", action="store_true", help=f"run {', '.join(GPU_SET)} with BENCH_DEVICE=cuda; exit 2 without a GPU")
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    names = args.names or list(BENCHES)
    if args.gpu:
        ok, what = gpu_available()
        if not ok:
            print(f"bench --gpu: {what}; run it on a machine with an NVIDIA GPU", file=sys.stderr)
            return 2
        env["BENCH_DEVICE"] = "cuda"
        names = args.names or list(GPU_SET)
        print(f"GPU: {what}", flush=True)
    device = env.get("BENCH_DEVICE", "auto")
    out_dir = (args.out or (GPU_RESULTS if args.gpu else RESULTS)).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict = {"load_average_before": os.getloadavg(), "cpu_count": os.cpu_count(), "device": device}
    if args.gpu:
        summary["gpu"] = what
    for name in names:
        module = BENCHES[name]
        out = out_dir / f"{name}.json"
        cmd = (
            [sys.executable, "-m", module]
            + (["--out", str(out)] if name in WRITES_OUT else [])
            + (["--device", device] if name in TAKES_DEVICE else [])
            + EXTRA_ARGS.get(name, [])
        )
        t0 = time.monotonic()
        print(f"== {name}: {' '.join(cmd)}", flush=True)
        if name in WRITES_OUT:
            proc = subprocess.run(cmd, cwd=ROOT, env=env)
        else:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            print(proc.stdout, end="", flush=True)
            out.write_text(json.dumps(_parse_stdout(proc.stdout), indent=2))
        entry = {
            "status": "ok" if proc.returncode == 0 else f"failed ({proc.returncode})",
            "seconds": round(time.monotonic() - t0, 1),
            "load_average": os.getloadavg(),
        }
        if out.exists():
            entry["result"] = json.loads(out.read_text())
        summary[name] = entry
    (out_dir / "all.json").write_text(json.dumps(summary, indent=2))
    print("\n| benchmark | status | seconds | load (1/5/15 min) |\n|---|---|---|---|")
    for name in names:
        e = summary[name]
        print(f"| {name} | {e['status']} | {e['seconds']} | {' / '.join(f'{v:.1f}' for v in e['load_average'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
