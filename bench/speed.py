"""Speed figures of the frozen-encoder work (issue 26), each printed beside today's torch-eager path
measured in the same run, as a ratio (the machine is shared and noisy; the ratio is the figure to
trust, the seconds say how loaded the machine was).

    python -m bench.speed [--figures encoder,patchcore,mias_sam,rasalore,sam_click] [--workspace W]
                          [--device cpu|cuda] [--repeat N] [--out FILE]

* encoder: LiteMedSAM image encoder, one 256 px image (ONNX Runtime vs torch eager, interleaved).
* patchcore: fit on the demo's training normals (each backend fits its own model), then predict of
  the 1411 px fundus photo end to end (read, predict, store), interleaved.
* mias_sam: predict end to end on test fundus images neither backend has seen (no cached embedding).
* rasalore: guided predict of one MRI volume of the demo (every kept slice through the encoder and
  DDPT), with an untrained network and classifier (time does not depend on the weights).
* sam_click: interactive SAM on the fundus photo: the first click 3 s after the image was shown
  (embedding prefetched in the background) and a warm click, against today's path (torch, the
  embedding computed on the first click).

The workspace is copied into a temporary folder first; nothing is written to the given one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import demo_workspace, device_info, write_json

FIGURES = ("encoder", "patchcore", "mias_sam", "rasalore", "sam_click")
TARGETS = {
    "encoder_s": "ratio <= 0.4",
    "patchcore_predict_s": "<= 0.45 s, ratio <= 0.5",
    "patchcore_fit_s": "<= 20 s",
    "mias_sam_predict_s": "ratio <= 0.5 (GPU <= 50 ms)",
    "rasalore_volume_s": "<= 60 s (GPU <= 5 s)",
    "sam_first_click_s": "<= 0.3 s",
    "sam_warm_click_s": "<= 0.12 s",
}


@contextlib.contextmanager
def backend(name: str):
    old = os.environ.get("ANOMALY_STUDIO_BACKEND")
    os.environ["ANOMALY_STUDIO_BACKEND"] = name
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("ANOMALY_STUDIO_BACKEND", None)
        else:
            os.environ["ANOMALY_STUDIO_BACKEND"] = old


def fast_backend(device: str) -> str:
    import torch

    return "torch" if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()) else "onnx"


def row(name: str, new: float, eager: float | None, ratio: float | None = None, note: str = "") -> dict:
    if ratio is None and eager:
        ratio = new / eager
    return {
        "figure": name,
        "new_s": round(new, 4),
        "torch_eager_s": None if eager is None else round(eager, 4),
        "ratio": None if ratio is None else round(ratio, 3),
        "target": TARGETS.get(name, ""),
        "note": note,
    }


def interleaved(fns: dict, repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return times


def paired_ratio(new: list[float], old: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(new, old, strict=True))


# -- figures ------------------------------------------------------------------------------------
def fig_encoder(device: str, repeat: int) -> list[dict]:
    from core.data.synthetic.fundus import load_retina
    from core.sam.encoder import image_encoder
    from core.sam.model import load_sam

    net = load_sam("litemedsam", device)
    x, _ = net.preprocess(load_retina())
    fast, eager = image_encoder(net, fast_backend(device)), image_encoder(net, "torch")
    fns = {"new": lambda: fast.run(x), "eager": lambda: eager.run(x)}
    for fn in fns.values():
        fn()  # warm-up (the ONNX export happens here on a fresh machine)
    t = interleaved(fns, repeat)
    return [row("encoder_s", statistics.median(t["new"]), statistics.median(t["eager"]), paired_ratio(t["new"], t["eager"]))]


def _fundus_case(ws) -> str:
    return next(c.id for c in ws.cases() if c.split == "test" and c.truth != "normal" and c.image("fundus") is not None)


def fig_patchcore(ws, device: str, repeat: int) -> list[dict]:
    from core.models import store
    from core.sam.model import load_sam

    load_sam("litemedsam", device)  # imports and the network built before either fit is timed: the first paid them alone
    models, fit_s = {}, {}
    for label, name in (("new", fast_backend(device)), ("eager", "torch")):
        with backend(name):
            t0 = time.perf_counter()
            models[label] = store.fit_on_workspace(ws, "patchcore", {"device": device}, activate_new=False)
            fit_s[label] = time.perf_counter() - t0
    cid = _fundus_case(ws)
    for m in models.values():
        store.predict_cases(ws, m, [cid])  # warm-up
    t = interleaved({k: (lambda m=m: store.predict_cases(ws, m, [cid])) for k, m in models.items()}, repeat)
    n = len(models["new"].card.training_data)
    return [
        row("patchcore_predict_s", statistics.median(t["new"]), statistics.median(t["eager"]), paired_ratio(t["new"], t["eager"])),
        row("patchcore_fit_s", fit_s["new"], fit_s["eager"], note=f"{n} normals, one coreset, leave-one-image-out calibration"),
    ]


def fig_mias_sam(ws, device: str) -> list[dict]:
    from core.models import store

    with backend(fast_backend(device)):
        model = store.fit_on_workspace(ws, "mias_sam", {"device": device}, activate_new=False)
    version = model.card.version
    loaded = {}
    for label, name in (("new", fast_backend(device)), ("eager", "torch")):
        with backend(name):
            loaded[label] = store.load_version(ws, "mias_sam", version)
            _ = loaded[label].sam  # the service (and its backend) is chosen here
    ids = [c.id for c in ws.cases() if c.split == "test" and c.image("fundus") is not None]
    times: dict[str, list[float]] = {"new": [], "eager": []}
    for cid in ids:  # every image once per backend: nothing cached
        for k, m in loaded.items():
            t0 = time.perf_counter()
            store.predict_cases(ws, m, [cid])
            times[k].append(time.perf_counter() - t0)
    new, old = times["new"][1:], times["eager"][1:]  # the first one pays for the session start
    return [row("mias_sam_predict_s", statistics.median(new), statistics.median(old), paired_ratio(new, old), note=f"{len(new)} images")]


def _rasalore_untrained(device: str, sequence: str = "t2"):
    """A RASALoRE model with untrained network and DDPT (prediction time does not depend on weights)."""
    from core.models.rasalore.guidance import build_classifier
    from core.models.rasalore.model import Rasalore
    from core.models.rasalore.network import RasaloreNet
    from core.sam.model import load_sam

    model = Rasalore(device=device, sequences=sequence, bridge_sequence=sequence)
    c = model.config
    net = RasaloreNet.from_settings(c)
    ddpt = build_classifier(load_sam("litemedsam", device), c)
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    state |= {f"ddpt.{k}": v for k, v in ddpt.state_dict().items() if k.split(".")[0] not in ddpt.frozen_prefixes}
    model.load_tensors(state)
    model.fitted = True
    return model


def _middle_slices(case, image, axis: int, n: int):
    """The case with only the middle ``n`` slices of its volume along ``axis`` (a shorter run)."""
    from dataclasses import replace

    from core.domain import LoadedCase, LoadedImage
    from core.hashing import array_sha256

    a = image.array
    start = max(0, a.shape[axis] // 2 - n // 2)
    sub = np.ascontiguousarray(np.take(a, np.arange(start, min(a.shape[axis], start + n)), axis=axis))
    rec = replace(image.record, shape=tuple(sub.shape), sha256=array_sha256(sub))
    return LoadedCase(case.record, {image.record.name: LoadedImage(rec, sub)})


def fig_rasalore(ws, device: str, slices: int = 0) -> list[dict]:
    """Guided predict of one demo volume; with ``slices`` only its middle slices, and the time per
    kept slice scaled to the whole volume (marked as such)."""
    from core.models.rasalore.data import plan_for

    cid = next(c.id for c in ws.cases() if c.kind.value == "mri" and c.split == "test")
    case = ws.load_case(cid)
    image = case.first("mri")
    from core.models.rasalore.data import sequence_of

    seq = sequence_of(image)
    config = _rasalore_untrained(device, seq).config
    geo = plan_for(image, config)
    n_full = len(geo.array_indices())
    run_case = _middle_slices(case, image, geo.array_axis, slices) if slices else case
    n_run = len(plan_for(run_case.first("mri"), config).array_indices())
    times = {}
    for label, name in (("new", fast_backend(device)), ("eager", "torch")):
        with backend(name):
            model = _rasalore_untrained(device, seq)
            t0 = time.perf_counter()
            model.predict(run_case)
            times[label] = (time.perf_counter() - t0) * n_full / max(1, n_run)
    note = f"{cid}: {n_full} slices, guided" + (f"; measured on its middle {n_run} slices and scaled" if slices else "")
    return [row("rasalore_volume_s", times["new"], times["eager"], note=note)]


def fig_sam_click(device: str, clicks_repeat: int = 3) -> list[dict]:
    from PySide6.QtCore import QCoreApplication, QEventLoop

    from app.editing.sam_assist import SamAssist
    from app.workers.pool import TaskRunner
    from core.data.synthetic.fundus import RETINA_DISC_XY, load_retina
    from core.sam.service import get_sam_service

    app = QCoreApplication.instance() or QCoreApplication([])
    img = load_retina().copy()
    x, y = RETINA_DISC_XY

    def pump(cond, timeout=900.0):
        t = time.monotonic()
        while not cond():
            app.processEvents(QEventLoop.AllEvents, 5)
            time.sleep(0.001)
            if time.monotonic() - t > timeout:
                raise TimeoutError("SAM click timed out")

    def clicks(name: str, sha: str, prefetch: bool) -> tuple[float, float]:
        runner = TaskRunner(f"bench-{name}", max_workers=1)
        service = get_sam_service("litemedsam", device, None, backend=name)
        sam = SamAssist(runner, lambda: None, service_factory=lambda store: service)
        sam.set_image(img, sha)
        if prefetch:
            sam.prefetch()
        t_open = time.monotonic()
        pump(lambda: time.monotonic() - t_open >= 3.0)
        out = []
        for px in (x, x + 40):
            done = []
            sam.preview_changed.connect(lambda r, d=done: d.append(r))
            t0 = time.perf_counter()
            sam.clear(quiet=True)
            sam.add_point(px, y)
            pump(lambda d=done: d and d[-1] is not None)
            out.append(time.perf_counter() - t0)
            sam.preview_changed.disconnect()
        runner.shutdown(wait=True)
        return out[0], out[1]

    news, olds = [], []
    for r in range(clicks_repeat):
        img[0, 0, 0] = r  # another image each time: nothing cached
        news.append(clicks(fast_backend(device), f"bench-new-{r}-{np.random.default_rng().integers(1 << 30)}", True))
        img[0, 0, 0] = 100 + r
        olds.append(clicks("torch", f"bench-old-{r}-{np.random.default_rng().integers(1 << 30)}", False))
    first_new, first_old = [a[0] for a in news], [a[0] for a in olds]
    warm_new, warm_old = [a[1] for a in news], [a[1] for a in olds]
    return [
        row(
            "sam_first_click_s",
            statistics.median(first_new),
            statistics.median(first_old),
            paired_ratio(first_new, first_old),
            note="3 s after the image was shown; today: encoded on the click",
        ),
        row("sam_warm_click_s", statistics.median(warm_new), statistics.median(warm_old), paired_ratio(warm_new, warm_old)),
    ]


def run(figures: list[str], workspace: str | None, device: str, repeat: int, rasalore_slices: int = 0) -> dict:
    from core.runtime.device import configure_cpu_threads

    configure_cpu_threads()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        ws = None
        if {"patchcore", "mias_sam", "rasalore"} & set(figures):
            src = demo_workspace(workspace).root
            shutil.copytree(src, Path(tmp) / "ws", ignore=shutil.ignore_patterns("*.lock"))
            from core.workspace import Workspace

            ws = Workspace.open(Path(tmp) / "ws")
        steps = {
            "encoder": lambda: fig_encoder(device, repeat),
            "patchcore": lambda: fig_patchcore(ws, device, repeat),
            "mias_sam": lambda: fig_mias_sam(ws, device),
            "rasalore": lambda: fig_rasalore(ws, device, rasalore_slices),
            "sam_click": lambda: fig_sam_click(device, max(1, min(repeat, 3))),
        }
        for f in figures:
            t0 = time.perf_counter()
            got = steps[f]()
            for r in got:
                print(json.dumps(r), flush=True)
            rows += got
            print(f"# {f}: {time.perf_counter() - t0:.0f} s", flush=True)
        if ws is not None:
            ws.close()
    return {"device": device_info(), "load_average": os.getloadavg(), "rows": rows}


def table(result: dict) -> str:
    lines = ["| figure | new | torch eager (same run) | ratio | target |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        eager = "" if r["torch_eager_s"] is None else f"{r['torch_eager_s']:.3f} s"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"| {r['figure']} | {r['new_s']:.3f} s | {eager} | {ratio} | {r['target']} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--figures", default=",".join(FIGURES), help=f"comma-separated subset of {', '.join(FIGURES)}")
    p.add_argument("--workspace", help="demo workspace to copy (default: the benchmark demo, built on first use)")
    p.add_argument("--device", default=os.environ.get("BENCH_DEVICE", "auto"))
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--out", help="JSON file for the figures")
    p.add_argument("--rasalore-slices", type=int, default=0, help="time RASALoRE on the middle N slices and scale to the volume")
    a = p.parse_args(argv)
    figures = [f for f in a.figures.split(",") if f]
    unknown = sorted(set(figures) - set(FIGURES))
    if unknown:
        p.error(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    result = run(figures, a.workspace, a.device, a.repeat, a.rasalore_slices)
    if a.out:
        write_json(a.out, result)
    print(table(result))


if __name__ == "__main__":
    main()
