"""GUI timings of the review workstation, printed as figures (DESIGN.md section 9 targets):

* launch to window: from starting the process to the main window shown (target < 3 s);
* open a case: from the request to pixels and stored heatmap on screen, first time and cached
  (target < 300 ms cached);
* event-loop responsiveness: worst gap of a 10 ms QTimer while the model stack is imported
  (warm-up after launch) and while a model runs on several cases (target < 100 ms).

    python -m bench.gui_timings [--workspace W] [--cases N] [--json]

Without --workspace a small demo workspace is built in a temporary folder and a PatchCore model
(LiteMedSAM features, 1 % coreset) is fitted on it first (about a minute on a 2-core CPU). The
measurements run in a fresh child process (offscreen Qt), so imports are really cold.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _prepare(workspace: Path | None, tmp: Path) -> Path:
    if workspace is not None:
        return workspace
    sys.path.insert(0, str(ROOT))
    from core.data.demo import DemoPlan, build_demo
    from core.models import store

    root = tmp / "bench-ws"
    print(f"building a small demo workspace in {root} and fitting patchcore…", file=sys.stderr)
    ws = build_demo(root, DemoPlan.small())
    store.fit_on_workspace(ws, "patchcore", {"coreset_ratio": 0.01})
    ws.close()
    return root


def _child(workspace: str, n_cases: int) -> None:
    """Runs in a fresh process: launch the GUI the way ``anomaly-studio gui`` does, then measure."""
    t_process = float(os.environ["BENCH_T0"])
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import numpy as np
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    import app.main as entry

    out: dict = {}
    state: dict = {}

    def fake_exec(_self=None):
        app = QApplication.instance()
        app.processEvents()
        out["launch_to_window_s"] = time.time() - t_process
        window = next(w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow")
        state["window"] = window
        return 0

    entry.has_display = lambda: True  # take the interactive path (window + event loop)
    QApplication.exec = fake_exec
    entry.main(["gui", "--workspace", workspace])
    app = QApplication.instance()
    w = state["window"]

    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.PreciseTimer)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def pump(cond, timeout=600.0):
        t = time.monotonic()
        while not cond():
            app.processEvents(QEventLoop.AllEvents, 5)
            time.sleep(0.001)
            if time.monotonic() - t > timeout:
                raise TimeoutError("benchmark step timed out")

    def gaps_ms():
        g = np.diff(ticks) * 1000 if len(ticks) > 1 else np.zeros(1)
        return {"worst_ms": round(float(g.max()), 1), "p99_ms": round(float(np.percentile(g, 99)), 1), "ticks": len(ticks)}

    # 1. warm-up: torch and the model stack are imported on the GPU worker after the window shows
    timer.start(10)
    t = time.monotonic()
    pump(lambda: w.runs.warm)
    out["warm_up_s"] = round(time.monotonic() - t, 2)
    out["warm_up_gaps"] = gaps_ms()
    timer.stop()

    # 2. opening cases (pixels + stored result on screen); every case once, then again from the cache
    ids = [c.id for c in w.session.cases]

    def open_and_wait(cid):
        t0 = time.perf_counter()
        w.worklist.select_case(cid)
        pump(
            lambda: (
                w.session.loaded is not None
                and w.session.loaded.id == cid
                and (cid not in w.session.scores or (w.session.overlay is not None and w.session.overlay.case_id == cid))
            )
        )
        app.processEvents()  # paint
        return (time.perf_counter() - t0) * 1000

    first = {cid: open_and_wait(cid) for cid in ids}
    cached = {cid: open_and_wait(cid) for cid in ids}
    by_kind: dict = {}
    for cid in ids:
        kind = w.session.case(cid).kind.value
        by_kind.setdefault(kind, {"first_ms": [], "cached_ms": []})
        by_kind[kind]["first_ms"].append(first[cid])
        by_kind[kind]["cached_ms"].append(cached[cid])
    out["open_case"] = {k: {m: round(float(np.median(v)), 1) for m, v in d.items()} for k, d in by_kind.items()}
    out["open_case_cached_worst_ms"] = round(max(cached.values()), 1)

    # 3. a model run over several cases while the event loop ticks
    choice = w.session.model
    if choice is not None:
        runnable = [c.id for c in w.session.cases if any(im.modality.value == choice.modality for im in c.images)][:n_cases]
        ticks.clear()
        timer.start(10)
        t = time.monotonic()
        w.runs.start(choice, runnable)
        pump(lambda: not w.runs.run.running)
        timer.stop()
        out["run"] = {
            "model": f"{choice.name} {choice.version}",
            "cases": len(runnable),
            "seconds": round(time.monotonic() - t, 1),
            "status": w.runs.run.status,
            "per_case_s": round(float(np.mean(w.runs.run.durations)), 2) if w.runs.run.durations else None,
        }
        out["run_gaps"] = gaps_ms()
    out["device"] = w.device_label.text()
    w.close()
    print("BENCH " + json.dumps(out))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workspace", type=Path)
    p.add_argument("--cases", type=int, default=4, help="cases in the timed model run")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args.child, args.cases)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        ws = _prepare(args.workspace, Path(tmp))
        env = dict(
            os.environ,
            BENCH_T0=repr(time.time()),
            ANOMALY_STUDIO_HOME=str(Path(tmp) / "home"),
            QT_QPA_PLATFORM="offscreen",
            NO_ALBUMENTATIONS_UPDATE="1",
        )
        proc = subprocess.run(
            [sys.executable, "-m", "bench.gui_timings", "--child", str(ws), "--cases", str(args.cases)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        sys.stderr.write(proc.stderr[-4000:])
        return 1
    res = json.loads(line[6:])
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"launch to window           {res['launch_to_window_s']:.2f} s   (target < 3 s)")
    print(
        f"warm-up (torch + models)   {res['warm_up_s']:.2f} s on the GPU worker; worst event-loop gap "
        f"{res['warm_up_gaps']['worst_ms']:.0f} ms (p99 {res['warm_up_gaps']['p99_ms']:.0f} ms)"
    )
    for kind, d in res["open_case"].items():
        print(f"open {kind:<11}           first {d['first_ms']:.0f} ms, cached {d['cached_ms']:.0f} ms (median)")
    print(f"open case, cached, worst   {res['open_case_cached_worst_ms']:.0f} ms   (target < 300 ms)")
    if "run" in res:
        r, g = res["run"], res["run_gaps"]
        print(f"model run                  {r['model']}: {r['cases']} cases in {r['seconds']} s ({r['per_case_s']} s/case), {r['status']}")
        print(
            f"event loop during the run  worst gap {g['worst_ms']:.0f} ms, p99 {g['p99_ms']:.0f} ms over {g['ticks']} ticks "
            "(target < 100 ms)"
        )
    print(res["device"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
