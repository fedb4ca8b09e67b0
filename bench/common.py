"""Helpers shared by the benchmarks: timing, peak memory, device description, JSON output."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path


def device_info() -> dict:
    import torch

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def peak_rss_mb() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / 1024.0 if sys.platform != "darwin" else usage / 1024.0 / 1024.0


@contextmanager
def timer(store: dict, key: str):
    t0 = time.perf_counter()
    yield
    store[key] = round(time.perf_counter() - t0, 4)


def median_time(fn, repeat: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def write_json(path: str | Path, obj: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2))


def demo_workspace(path: str | Path | None = None):
    """The demo workspace to benchmark on (built on first use)."""
    from core.data.demo import build_demo
    from core.workspace import Workspace
    from core.workspace.workspace import CATALOG_NAME

    root = Path(path or os.environ.get("BENCH_WORKSPACE", Path.home() / ".cache" / "anomaly-studio-bench" / "demo"))
    if (root / CATALOG_NAME).exists():
        return Workspace.open(root)
    return build_demo(root)
