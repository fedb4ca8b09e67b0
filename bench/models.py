"""Memory-bank methods on the demo workspace: fit time, predict time per image, bank size, search
time (and its share of prediction), peak memory, image/pixel AUROC on the fundus test images.

    python -m bench.models [--methods patchcore,resad,mias_sam] [--workspace W] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench.common import demo_workspace, device_info, peak_rss_mb, write_json


def run(methods: list[str], workspace: str | None, device: str) -> dict:
    import torch

    from core.metrics.evaluate import evaluate
    from core.models import store

    torch.set_num_threads(max(1, torch.get_num_threads()))
    ws = demo_workspace(workspace)
    rows = []
    for name in methods:
        t0 = time.perf_counter()
        model = store.fit_on_workspace(ws, name, {"device": device})
        fit_s = time.perf_counter() - t0
        test_ids = [c.id for c in ws.cases() if c.split == "test" and c.image("fundus") is not None]
        # prediction time on images the encoder has not seen (no cached embeddings)
        times, search = [], []
        for cid in test_ids:
            case = ws.load_case(cid)
            t1 = time.perf_counter()
            res = model.predict(case)
            times.append(time.perf_counter() - t1)
            store.store_result(ws, model, case, res)
            feats = model.patch_features(case.images["fundus"].array) if hasattr(model, "patch_features") else None
            if feats is not None:
                t2 = time.perf_counter()
                model.bank.search(feats.features, k=model.config.knn_k)
                search.append(time.perf_counter() - t2)
        rep = evaluate(ws, name, model.card.version)
        m = rep["metrics"]
        rows.append(
            {
                "method": name,
                "fit_s": round(fit_s, 1),
                "train_images": len(model.card.training_data),
                "predict_s_per_image": round(float(np.median(times)), 3),
                "bank_size": len(model.bank),
                "bank_dim": int(model.bank.dim),
                "search_s": round(float(np.median(search)), 3) if search else None,
                "search_share": round(float(np.median(search)) / float(np.median(times)), 3) if search else None,
                "image_auroc": round(m.get("image_auroc", float("nan")), 3),
                "pixel_auroc": round(m.get("pixel_auroc", float("nan")), 4),
                "pro": round(m.get("pro", float("nan")), 3),
                "peak_rss_mb": round(peak_rss_mb()),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return {"device": device_info(), "rows": rows}


def table(result: dict) -> str:
    cols = [
        "method",
        "fit_s",
        "train_images",
        "predict_s_per_image",
        "bank_size",
        "search_s",
        "search_share",
        "image_auroc",
        "pixel_auroc",
        "pro",
        "peak_rss_mb",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in result["rows"]:
        lines.append("| " + " | ".join(str(r.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--methods", default="patchcore,resad,mias_sam")
    p.add_argument("--workspace")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="bench/results/models.json")
    a = p.parse_args(argv)
    result = run(a.methods.split(","), a.workspace, a.device)
    write_json(a.out, result)
    print(table(result))


if __name__ == "__main__":
    main()
