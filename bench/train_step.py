"""Training step time per batch for the trained methods (CPU, or GPU with --device cuda).

    python bench/train_step.py [--model resynthdetect|mmrad|all] [--device auto] [--steps 3] [--batch 4]
                               [--image-size 256] [--encoder litemedsam] [--threads N]

Each method is trained for ``--steps`` measured steps (after one warm-up step) on bundled normal
images (real fundus photo variations, synthetic OCT); prints seconds per batch of each stage.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def normal_cases(n: int, paired: bool):
    from core.data.synthetic import fundus as F
    from core.data.synthetic.oct import render_bscan
    from core.domain import LoadedCase

    rng = np.random.default_rng(0)
    retina = F.load_retina()
    out = []
    for i in range(n):
        f = F.random_derivation(rng).apply(retina)
        out.append(
            LoadedCase.from_arrays(f"N{i}", fundus=f, oct=render_bscan(rng, 496, 512).image)
            if paired
            else LoadedCase.from_arrays(f"N{i}", fundus=f)
        )
    return out


class StepTimer:
    """TrainingContext emit sink recording the wall time between step events per stage."""

    def __init__(self):
        self.times: dict[str, list[float]] = {}
        self.last = None

    def __call__(self, event: dict) -> None:
        now = time.perf_counter()
        if event.get("event") == "start":
            self.last = now
        elif event.get("event") == "step":
            self.times.setdefault(event.get("stage", "train"), []).append(now - self.last)
            self.last = now


def run(name: str, args) -> None:
    from core.models.registry import create_model
    from core.training import TrainingContext

    steps = args.steps + 1  # first step is warm-up
    if name == "resynthdetect":
        cfg = dict(
            image_size=args.image_size,
            batch_size=args.batch,
            samples_per_epoch=args.batch * steps,
            epochs=1,
            ae_epochs=1,
            device=args.device,
            calibration_holdout=0.0,
        )
        cases = normal_cases(max(4, args.batch), paired=False)
    else:
        cfg = dict(
            encoder=args.encoder,
            batch_size=args.batch,
            samples_per_epoch=args.batch * steps,
            epochs=1,
            device=args.device,
            calibration_holdout=0.0,
        )
        cases = normal_cases(max(2, args.batch), paired=True)
    model = create_model(name, **cfg)
    timer = StepTimer()
    ctx_training = TrainingContext(emit=timer)
    t0 = time.perf_counter()
    from core.models.contract import FitContext

    model.fit(cases, FitContext(training=ctx_training))
    total = time.perf_counter() - t0
    from core.runtime.device import describe_device

    print(
        f"{name} on {describe_device(args.device)}, batch {args.batch}"
        + (f", {args.image_size} px" if name == "resynthdetect" else f", encoder {args.encoder} ({model.config.image_size} px, paired)")
    )
    for stage, ts in timer.times.items():
        measured = ts[1:] or ts
        print(f"  {stage:<14} {np.mean(measured):7.3f} s per batch  (min {np.min(measured):.3f}, {len(measured)} steps)")
    print(f"  whole fit incl. preparation and calibration: {total:.1f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="all", choices=["all", "resynthdetect", "mmrad"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=0, help="default: 4 for resynthdetect, 2 for mmrad")
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--encoder", default="litemedsam")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    import os

    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    batch = args.batch
    for name in ["resynthdetect", "mmrad"] if args.model == "all" else [args.model]:
        args.batch = batch or (4 if name == "resynthdetect" else 2)
        run(name, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
