"""Train RASALoRE on a demo workspace and measure how well it ranks lesion slices above healthy ones.

    python bench/rasalore_demo.py --workspace DEMO [--config K=V ...] [--keep]

The workspace is copied to a temporary folder first (unless --keep), trained through
``store.fit_on_workspace`` (the same path as ``anomaly-studio train``), and every test-split MRI
volume is predicted. Slice truth on the test volumes follows the paper's rule: no lesion voxel in
the slice = healthy, more than 200 = lesion, in between left out; a normal volume's slices are all
healthy. Prints JSON: seconds per epoch of each stage, the weak-mask statistics, slice-level AUROC
(lesion vs healthy; with classifier guidance also of DDPT's P(unhealthy) alone), volume scores, and
the Dice of the predicted masks on the lesion slices.

The demo's MRI volumes all derive from one template, so a normal test volume of the same shape has
the lesion volumes' anatomy without their lesions. ``lesion_blind_dice`` is the Dice of the normal
volume's masks against the lesion volumes' truth at the same slices: what a network that only learnt
where lesions tend to be would score. A network that sees lesions scores well above it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workspace", type=Path, required=True)
    p.add_argument("--config", action="append", default=[])
    p.add_argument("--keep", action="store_true", help="train in the workspace itself instead of a copy")
    args = p.parse_args()

    import numpy as np

    from core.metrics.classification import auroc
    from core.models import store
    from core.models.rasalore.data import plan_for
    from core.runtime.device import configure_cpu_threads
    from core.training.context import TrainingContext
    from core.workspace import Workspace

    configure_cpu_threads()
    root = args.workspace
    if not args.keep:
        tmp = Path(tempfile.mkdtemp(prefix="rasalore-bench-"))
        shutil.copytree(root, tmp / "ws", ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
        root = tmp / "ws"
    ws = Workspace.open(root)
    config = dict(kv.split("=", 1) for kv in args.config)
    epochs: dict[str, list[float]] = {}
    last: dict[str, float] = {}

    def emit(ev):
        stage = ev.get("stage", "?")
        if ev.get("event") == "start":
            last[stage] = time.perf_counter()
        elif ev.get("event") == "epoch":
            now = time.perf_counter()
            epochs.setdefault(stage, []).append(now - last.get(stage, now))
            last[stage] = now
            print(
                json.dumps(
                    {
                        "stage": stage,
                        "epoch": ev["epoch"],
                        "seconds": round(epochs[stage][-1], 1),
                        "val_dice": ev.get("val_dice"),
                        "mean": {k: round(v, 4) for k, v in ev.get("mean", {}).items()},
                    }
                ),
                flush=True,
            )

    version = time.strftime("bench-%Y%m%d-%H%M%S")  # a re-run in a kept workspace adds a version
    ctx = TrainingContext(run_dir=root / "runs" / version, emit=emit)
    t0 = time.perf_counter()
    model = store.fit_on_workspace(ws, "rasalore", config, context=ctx, version=version)
    fit_s = time.perf_counter() - t0
    ids = [c.id for c in ws.cases() if c.kind.value == "mri" and c.split == "test"]
    t0 = time.perf_counter()
    results, _ = store.predict_cases(ws, model, ids)
    predict_s = (time.perf_counter() - t0) / max(1, len(ids))

    y, s, pu, dices, vols = [], [], [], [], []
    lesion_truth: list[tuple[int, int, np.ndarray]] = []  # (axis, index, truth slice) of lesion slices
    normal_masks: list[np.ndarray] = []
    for r in results:
        case = ws.case(r.case_id)
        rec = case.image("mri")
        loaded = ws.load_case(case)
        im = loaded.images[rec.name]
        geo = plan_for(im, model.config)
        got = ws.read_label_volume(rec)
        labels = got[0] if got is not None else np.zeros(im.array.shape, np.uint8)
        counts = geo.slice_counts(labels)
        per_slice = r.extras.get("slice_scores") or []
        per_p = r.extras.get("slice_unhealthy_probability") or [None] * len(per_slice)
        _heat, mask = store.result_arrays(ws, r)
        if case.truth == "normal" and mask is not None:
            normal_masks.append(mask)
        for k, idx in enumerate(geo.array_indices()):
            score = per_slice[idx]
            if score is None:
                continue
            if counts[k] == 0:
                y.append(0)
                s.append(score)
                pu.append(per_p[idx])
            elif counts[k] > model.config.label_min_pixels:
                y.append(1)
                s.append(score)
                pu.append(per_p[idx])
                if mask is not None:
                    sl = [slice(None)] * 3
                    sl[geo.array_axis] = idx
                    g, m = labels[tuple(sl)] > 0, mask[tuple(sl)]
                    dices.append(2 * (g & m).sum() / max(1, g.sum() + m.sum()))
                    lesion_truth.append((geo.array_axis, idx, g))
        vols.append(
            {
                "case": r.case_id,
                "truth": case.truth,
                "score": round(r.score, 3),
                "raw": round(r.raw_score or 0, 4),
                "slices_unhealthy": r.extras.get("slices_unhealthy"),
            }
        )
    blind = []
    for nm in normal_masks:
        for axis, idx, g in lesion_truth:
            if nm.shape[axis] > idx and nm.take(idx, axis=axis).shape == g.shape:
                m = nm.take(idx, axis=axis)
                blind.append(2 * (g & m).sum() / max(1, g.sum() + m.sum()))
    out = {
        "config": config,
        "fit_seconds": round(fit_s, 1),
        "predict_seconds_per_volume": round(predict_s, 1),
        "seconds_per_epoch": {k: round(float(np.mean(v)), 2) for k, v in epochs.items()},
        "weak_masks": model.card.metrics.get("weak_masks"),
        "train_slices": model.card.metrics.get("train_slices"),
        "final_losses": model.card.metrics.get("final_losses"),
        "validation_volumes": model.card.metrics.get("validation_volumes"),
        "selected_epoch": model.card.metrics.get("selected_epoch"),
        "test_slices": {"lesion": int(sum(y)), "healthy": int(len(y) - sum(y))},
        "slice_classifier": model.card.metrics.get("slice_classifier"),
        "slice_auroc": round(float(auroc(y, s)), 4) if 0 < sum(y) < len(y) else None,
        "slice_auroc_classifier_alone": (round(float(auroc(y, pu)), 4) if 0 < sum(y) < len(y) and None not in pu else None),
        "lesion_slice_score_mean": round(float(np.mean([v for v, t in zip(s, y) if t])), 4) if sum(y) else None,
        "healthy_slice_score_mean": round(float(np.mean([v for v, t in zip(s, y) if not t])), 4) if len(y) > sum(y) else None,
        "mask_dice_on_lesion_slices": round(float(np.mean(dices)), 4) if dices else None,
        "lesion_blind_dice": round(float(np.mean(blind)), 4) if blind else None,
        "volumes": vols,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
