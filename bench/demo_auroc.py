"""Image and case AUROC of a fitted model on a workspace's test cases (lesion vs normal).

    python bench/demo_auroc.py MODEL --workspace W [--version V]

Predicts the test cases that have no stored result yet, then prints the per-image metrics of
``core.metrics.evaluate`` (image truth from the label documents) and the case-level AUROC of the
stored case score (for MMRAD: the fusion token on pairs), overall and per case kind.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    from core.metrics.classification import auroc
    from core.metrics.evaluate import evaluate
    from core.models import store
    from core.workspace import Workspace

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--workspace", "-w", type=Path, required=True)
    ap.add_argument("--version")
    args = ap.parse_args(argv)
    ws = Workspace.open(args.workspace)
    model = store.load_version(ws, args.model, args.version)
    version = model.card.version
    todo = [
        c.id
        for c in ws.cases()
        if c.split == "test" and c.image(model.modality) is not None and store.load_result(ws, args.model, c.id, version) is None
    ]
    store.predict_cases(ws, model, todo)
    report = evaluate(ws, args.model, version)
    out = {"model": args.model, "version": version, "image_metrics": report["metrics"]}
    for mod in ("fundus", "oct"):
        ys, ss = [], []
        for r in report["images"]:
            if r["truth"] is not None and r["score"] is not None and ws.case(r["case"]).image(mod) and r["image"] == mod:
                ys.append(bool(r["truth"]))
                ss.append(r["score"])
        if len(set(ys)) == 2:
            out[f"image_auroc_{mod}"] = {"auroc": round(auroc(ys, ss), 4), "abnormal": int(sum(ys)), "normal": len(ys) - int(sum(ys))}
    scores = store.scores_for(ws, args.model, version)
    by_kind: dict[str, tuple[list, list]] = {}
    for c in ws.cases():
        if c.split != "test" or c.id not in scores or c.truth not in ("normal", "abnormal"):
            continue
        for key in ("all", c.kind.value):
            y, s = by_kind.setdefault(key, ([], []))
            y.append(c.truth == "abnormal")
            s.append(scores[c.id])
    out["case_auroc"] = {
        k: {"auroc": round(auroc(y, s), 4), "abnormal": int(sum(y)), "normal": len(y) - int(sum(y))}
        for k, (y, s) in by_kind.items()
        if len(set(y)) == 2
    }
    out["case_scores"] = {cid: round(v, 3) for cid, v in sorted(scores.items())}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
