"""RASALoRE's weak masks against the true lesions of the demo workspace (measurement only).

    python -m bench.rasalore_weak_masks [--workspace DEMO] [--json] [--rules healthy_quantile,minmax]

Builds the weak masks of every unhealthy training slice the way a fit does (slice labels from the
demo's label volumes, position-matched healthy reference slices, frozen LiteMedSAM) with the
label-free default rule (``contrast_rule=healthy_quantile``) and, for comparison, the earlier
``minmax`` rule at 0.7, whose level was chosen on these very lesion masks (an oracle). Prints the
Dice of each with the true lesion masks (pooled over slices, and the mean per slice), before and
after the LiteMedSAM box refinement. The true masks are used here to measure, never to choose.
LiteMedSAM embeddings are cached in the workspace, so a second run is quick.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def dice_stats(pairs) -> dict:
    import numpy as np

    inter = sum(float((p & t).sum()) for p, t in pairs)
    total = sum(float(p.sum() + t.sum()) for p, t in pairs)
    per = [2 * float((p & t).sum()) / max(1.0, float(p.sum() + t.sum())) for p, t in pairs]
    return {"pooled_dice": round(2 * inter / max(total, 1.0), 4), "mean_dice": round(float(np.mean(per)), 4) if per else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rules", default="healthy_quantile,minmax", help="comma-separated contrast rules to measure")
    args = ap.parse_args(argv)

    import numpy as np

    from bench.common import demo_workspace
    from core.models import store
    from core.models.rasalore.contrast import make_contrast_masks
    from core.models.rasalore.data import build_cases, select_slices
    from core.models.rasalore.fitting import choose_bridge
    from core.models.rasalore.model import Rasalore
    from core.runtime.device import configure_cpu_threads, resolve_device
    from core.runtime.progress import CancelToken

    configure_cpu_threads()
    ws = demo_workspace(args.workspace)
    labelled, _skipped = Rasalore.gather_labelled_cases(ws)
    normals = [im for c in store.training_normals(ws, "mri") for im in ws.load_case(c).scored("mri")]
    by_case = {lc.case.id: lc for lc in labelled}
    out: dict = {"workspace": str(ws.root), "rules": {}}
    for rule in [r for r in args.rules.split(",") if r]:
        config = Rasalore.parse_settings({"contrast_rule": rule})
        cases = build_cases(normals, labelled, config)
        select_slices(cases, config, config.seed)
        sequences = sorted({s for tc in cases for s in tc.images})
        bridge = choose_bridge(config, cases, sequences)
        t0 = time.monotonic()
        masks = make_contrast_masks(
            cases,
            bridge,
            config,
            device=resolve_device("auto"),
            progress=lambda done, total, msg, rule=rule: print(f"{rule}: {msg} ({done}/{total})", file=sys.stderr, flush=True),
            cancel=CancelToken(),
            store=ws.arrays,
        )
        seconds = time.monotonic() - t0
        truth = {}
        for tc in cases:
            lc = by_case.get(tc.case_id)
            if lc is None or lc.label_volume is None:
                continue
            lab = tc.geometry.extract((np.asarray(lc.label_volume) > 0).astype(np.float32), size=config.image_size, mode="nearest")
            for k in range(tc.geometry.n):
                truth[(tc.case_id, k)] = lab[k] > 0.5
        raw = [(np.asarray(m, bool), truth[key]) for key, m in masks.ddpt.items() if key in truth]
        refined = [(np.asarray(m, bool), truth[key]) for key, m in masks.sam.items() if key in truth]
        out["rules"][rule] = {
            "oracle": rule == "minmax",
            "slices": len(raw),
            "contrast": dice_stats(raw),
            "after_litemedsam_box": dice_stats(refined) if refined else None,
            "level": masks.stats.get("contrast_level"),
            "seconds": round(seconds, 1),
        }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for rule, r in out["rules"].items():
            tag = " (oracle: level chosen on these lesion masks)" if r["oracle"] else ""
            print(f"{rule}{tag}: {r['slices']} slices, contrast {r['contrast']}, refined {r['after_litemedsam_box']}, {r['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
