"""Independent-lesion benchmark: the demo's methods on lesions no training path has ever seen.

    python -m bench.independent [--methods patchcore,resad,mias_sam] [--sizes 3,6,10,20,40]
                                [--contrasts faint,strong] [--workspace DIR] [--demo DIR] [--device auto]

The accuracy tables of the README come from the demo workspace, whose lesions are painted by the
demo builder, and every fundus image there derives from one photo. This benchmark keeps the demo's
normal photos but replaces its lesions with those of :mod:`bench.lesions`, a generator whose shapes,
textures and colours differ from everything in ``core/data/anomaly_synthesis`` and the demo builder
and which ``core`` can never import:

* a workspace of its own is built from the demo workspace (default plan, seed 0): the demo's
  training normals (fundus images of the fundus-only and pair cases: the same images a demo fit
  uses), the held-out normal test fundus images (``HELD-…``; test cases whose fundus carries no
  lesion label), each held-out normal again with one independent lesion per size and contrast
  (``IND-…``; the same site and kind for both contrasts, the kinds cycling over sizes and images),
  and the demo's own synthetic-lesion test fundus images with their labels (``DEMO-…``);
* each method is fitted on the training normals at its offline default (``resynthdetect`` with a
  short CPU configuration, :data:`SHORT_CONFIG`) and predicts every test image; no test image
  was fitted on (``evaluate`` would exclude it by its hash if it were);
* reported with ``core.metrics.evaluate``: image AUROC, pixel AUROC, PRO and Dice at the model's
  own pixel threshold, on held-out normals + independent lesions, on held-out normals + the demo's
  lesions for comparison, and per lesion size and contrast: image AUROC, pixel AUROC over every
  lesion pixel (``evaluate`` samples a 1411 px photo every 5th pixel, which would drop most of a
  3 px lesion), the share of lesions whose heatmap peak inside the lesion reaches the model's
  pixel threshold (detected), the share whose image's hottest pixel lies on the lesion
  (localised), and the share of lesion images at or above the model's image threshold.

Results go to ``--out`` (JSON) and are printed as Markdown tables. A second run reuses the
workspace, its fitted versions and stored predictions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_METHODS = "patchcore,resad,mias_sam"
SIZES = (3, 6, 10, 20, 40)
CONTRASTS = ("faint", "strong")
# ReSynthDetect trains (~12 min on a quiet 2-core CPU at this size): the README's short configuration
SHORT_CONFIG = {"resynthdetect": {"image_size": 128, "epochs": 30, "ae_epochs": 30, "samples_per_epoch": 48}}
KIND_LABEL = {
    "haemorrhage": "independent haemorrhage-like",
    "exudate": "independent exudate-like",
    "cotton_wool": "independent cotton-wool-like",
    "microaneurysm": "independent microaneurysm-like",
}
USER = "bench-independent"


def _labelled(ws, rec) -> bool:
    doc = ws.read_labels(rec)
    return doc is not None and bool(doc.shapes)


def build(root: Path, demo_root: Path, sizes: tuple[int, ...], contrasts: tuple[str, ...], log=print):
    """The benchmark workspace (built once; a rebuild needs a new folder)."""
    from bench.common import demo_workspace
    from bench.lesions import FUNDUS_KINDS, fundus_fov, fundus_lesion
    from core.domain import CaseKind, ImageMeta, Modality
    from core.io.labelme import Shape
    from core.models import store
    from core.workspace import Workspace
    from core.workspace.workspace import CATALOG_NAME, NewImage

    plan = {"sizes": list(sizes), "contrasts": list(contrasts), "demo": "default DemoPlan (seed 0)", "generator": "bench.lesions v1"}
    if (root / CATALOG_NAME).exists():
        ws = Workspace.open(root)
        have = json.loads(ws.catalog.info("independent_plan") or "{}")
        if have != plan:
            raise SystemExit(f"{root} was built for {have}; use another --workspace for {plan}")
        return ws
    demo = demo_workspace(demo_root)
    ws = Workspace.create(root, name="Independent-lesion benchmark")
    t0 = time.monotonic()

    def add(cid: str, pixels: np.ndarray, split: str, truth: str, meta: dict, description: str):
        case = ws.add_case(
            cid,
            CaseKind.FUNDUS,
            [NewImage("fundus", Modality.FUNDUS, array=pixels, meta=ImageMeta(source="demo workspace", description=description))],
            split=split,
            truth=truth,
            source="bench.independent",
            user=USER,
            meta=meta,
        )
        return case.image(Modality.FUNDUS)

    for c in store.training_normals(demo, "fundus"):
        add(f"TRAIN-{c.id}", demo.load_case(c).first("fundus").array, "train", "normal", {"from": c.id}, "demo training normal")
    held, demo_lesions = [], []
    for c in demo.cases():
        rec = c.image("fundus")
        if c.split != "test" or rec is None:
            continue
        (demo_lesions if _labelled(demo, rec) else held).append(c)
    for c in demo_lesions:
        new = add(f"DEMO-{c.id}", demo.load_case(c).first("fundus").array, "test", "abnormal", {"from": c.id}, "demo synthetic lesions")
        doc, fresh = demo.read_labels(c.image("fundus")), ws.new_label_document(new)
        fresh.shapes = list(doc.shapes)
        fresh.flags = {"abnormal": True, "normal": False}
        ws.write_labels(new, fresh, user=USER)
    for i, c in enumerate(held):
        pixels = demo.load_case(c).first("fundus").array
        add(f"HELD-{c.id}", pixels, "test", "normal", {"from": c.id}, "demo held-out normal")
        fov = fundus_fov(pixels)
        for j, radius in enumerate(sizes):
            kind = FUNDUS_KINDS[(i + j) % len(FUNDUS_KINDS)]
            for contrast in contrasts:
                les = fundus_lesion(pixels, radius, contrast, seed=1000 * i + radius, kind=kind, fov=fov)
                cid = f"IND-{c.id}-r{radius:02d}-{contrast}"
                meta = {"from": c.id, "radius": radius, "contrast": contrast, "kind": kind, "centre_xy": list(les.centre)}
                rec = add(cid, les.image, "test", "abnormal", meta, f"demo held-out normal + independent {kind}-like lesion")
                doc = ws.new_label_document(rec)
                doc.shapes.append(Shape.from_mask(KIND_LABEL[kind], les.mask, description="bench.lesions (exact mask)"))
                doc.flags = {"abnormal": True, "normal": False}
                ws.write_labels(rec, doc, user=USER)
        log(f"built {c.id}: {len(sizes) * len(contrasts)} lesion images ({time.monotonic() - t0:.0f} s)")
    ws.catalog.set_info("independent_plan", json.dumps(plan))
    return ws


def _fit(ws, name: str, device: str, log):
    from core.models import store

    config = {"device": device, "modality": "fundus", **SHORT_CONFIG.get(name, {})}
    version = store.active_version(ws, name, "fundus")
    if version is not None:
        log(f"{name}: reusing fitted version {version}")
        return store.load_version(ws, name, version), None
    t0 = time.monotonic()
    model = store.fit_on_workspace(ws, name, config)
    return model, round(time.monotonic() - t0, 1)


def _size_rows(ws, model, held_ids: list[str], ind: dict[tuple[int, str], list[str]]) -> list[dict]:
    """Per size and contrast: image AUROC, pixel AUROC over every lesion pixel, detected / localised shares."""
    from scipy import ndimage

    from core.metrics.classification import auroc
    from core.models import store

    name, version = model.name, model.card.version
    pix_thr, thr = float(model.card.pixel_threshold), float(model.card.threshold)

    def arrays(cid):
        res = store.load_result(ws, name, cid, version)
        heat, _ = ws.results.image_arrays(res, "fundus")
        return res, np.asarray(heat, np.float32)

    normal = [arrays(cid) for cid in held_ids]
    normal_scores = [r.score for r, _ in normal]
    normal_pixels = np.concatenate([h[::4, ::4].ravel() for _, h in normal])
    rows = []
    for (radius, contrast), cids in sorted(ind.items()):
        scores, pos, neg, detected, localised = [], [], [], 0, 0
        for cid in cids:
            res, heat = arrays(cid)
            gt = ws.read_labels(ws.case(cid).image("fundus")).union_mask()
            scores.append(res.score)
            pos.append(heat[gt])
            neg.append(heat[::4, ::4][~gt[::4, ::4]])
            detected += bool(heat[gt].max() >= pix_thr)
            near = ndimage.binary_dilation(gt, iterations=max(3, radius // 2))
            localised += bool(near.flat[int(np.argmax(heat))])
        p, n = np.concatenate(pos), np.concatenate(neg + [normal_pixels])
        rows.append(
            {
                "radius_px": radius,
                "contrast": contrast,
                "lesion_images": len(cids),
                "image_auroc": round(auroc([True] * len(scores) + [False] * len(normal_scores), scores + normal_scores), 3),
                "pixel_auroc": round(auroc(np.r_[np.ones(p.size, bool), np.zeros(n.size, bool)], np.r_[p, n]), 4),
                "detected": round(detected / len(cids), 3),
                "localised": round(localised / len(cids), 3),
                "above_image_threshold": round(float(np.mean(np.asarray(scores) >= thr)), 3),
            }
        )
    return rows


def _normals_row(ws, model, held_ids: list[str]) -> dict:
    """How often the held-out normals themselves cross the model's thresholds (false alarms)."""
    from bench.lesions import fundus_fov
    from core.models import store

    pix_thr, thr = float(model.card.pixel_threshold), float(model.card.threshold)
    hot, above = 0, 0
    for cid in held_ids:
        res = store.load_result(ws, model.name, cid, model.card.version)
        heat, _ = ws.results.image_arrays(res, "fundus")
        pixels = ws.load_case(ws.case(cid)).first("fundus").array
        hot += bool(np.asarray(heat)[fundus_fov(pixels)].max() >= pix_thr)
        above += bool(res.score >= thr)
    return {
        "normal_images": len(held_ids),
        "peak_above_pixel_threshold": round(hot / len(held_ids), 3),
        "above_image_threshold": round(above / len(held_ids), 3),
    }


METRICS = ("image_auroc", "pixel_auroc", "pro", "dice_at_threshold")


def _pick(metrics: dict) -> dict:
    out = {k: (round(metrics[k], 4) if isinstance(metrics.get(k), float) else metrics.get(k)) for k in METRICS}
    out.update(
        n_images=metrics.get("n_images"), n_abnormal=metrics.get("n_abnormal"), n_excluded_training=metrics.get("n_excluded_training")
    )
    return out


def run(methods: list[str], root: Path, demo_root: Path, sizes, contrasts, device: str, log=print, on_method=None) -> dict:
    """Fit, predict and measure each method; ``on_method(result so far)`` after each (partial results survive)."""
    from bench.common import device_info
    from core.metrics.evaluate import evaluate
    from core.models import store

    ws = build(root, demo_root, tuple(sizes), tuple(contrasts), log=log)
    cases = [c for c in ws.cases() if c.split == "test"]
    held = [c.id for c in cases if c.id.startswith("HELD-")]
    demo_ids = [c.id for c in cases if c.id.startswith("DEMO-")]
    ind: dict[tuple[int, str], list[str]] = {}
    for c in cases:
        if c.id.startswith("IND-"):
            ind.setdefault((int(c.meta["radius"]), c.meta["contrast"]), []).append(c.id)
    all_ind = [cid for ids in ind.values() for cid in ids]
    n_train = sum(1 for c in ws.cases() if c.split == "train")
    data = {
        "training": f"{n_train} demo training normal fundus images (every one derived from skimage.data.retina())",
        "held_out_normals": f"{len(held)} demo held-out normal test fundus images (augmentations of the same photo; never fitted on)",
        "independent": f"{len(all_ind)} images: each held-out normal with one bench.lesions lesion of radius {', '.join(map(str, sizes))} px, {' and '.join(contrasts)} contrast",
        "demo_lesions": f"{len(demo_ids)} demo test fundus images with the demo builder's synthetic lesions",
    }
    out: dict = {"device": device_info(), "workspace": str(root), "data": data, "methods": {}}
    for name in methods:
        model, fit_s = _fit(ws, name, device, log)
        version = model.card.version
        todo = [c.id for c in cases if store.load_result(ws, name, c.id, version) is None]
        t0 = time.monotonic()
        store.predict_cases(ws, model, todo, progress=lambda d, t, m, _n=name: log(f"{_n}: {d}/{t} {m}") if d % 10 == 0 else None)
        per_image = (time.monotonic() - t0) / len(todo) if todo else None
        independent = evaluate(ws, name, version, case_ids=held + all_ind)["metrics"]
        demo_cmp = evaluate(ws, name, version, case_ids=held + demo_ids)["metrics"]
        by_contrast = {
            c: _pick(evaluate(ws, name, version, case_ids=held + [x for (r, cc), ids in ind.items() if cc == c for x in ids])["metrics"])
            for c in contrasts
        }
        entry = {
            "version": version,
            "config": model.card.config,
            "fit_s": fit_s if fit_s is not None else model.card.fit_seconds,
            "predict_s_per_image": round(per_image, 2) if per_image else None,
            "independent": _pick(independent),
            "independent_by_contrast": by_contrast,
            "demo_lesions": _pick(demo_cmp),
            "by_size": _size_rows(ws, model, held, ind),
            "normals": _normals_row(ws, model, held),
        }
        out["methods"][name] = entry
        log(json.dumps({"method": name, "independent": entry["independent"], "demo_lesions": entry["demo_lesions"]}))
        if on_method is not None:
            on_method(out)
    return out


def tables(result: dict) -> str:
    lines = ["Data: " + "; ".join(f"{k}: {v}" for k, v in result["data"].items()), ""]
    lines += [
        "| method | test lesions | image AUROC | pixel AUROC | PRO | Dice at own threshold | images (lesion) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in result["methods"].items():
        for label, key in (("independent (all sizes, both contrasts)", "independent"), ("demo builder's lesions", "demo_lesions")):
            m = e[key]
            lines.append(
                f"| {name} | {label} | {_f(m['image_auroc'], 3)} | {_f(m['pixel_auroc'], 3)} | {_f(m['pro'], 3)} | {_f(m['dice_at_threshold'], 3)} | {m['n_images']} ({m['n_abnormal']}) |"
            )
        for c, m in e["independent_by_contrast"].items():
            lines.append(
                f"| {name} | independent, {c} | {_f(m['image_auroc'], 3)} | {_f(m['pixel_auroc'], 3)} | {_f(m['pro'], 3)} | {_f(m['dice_at_threshold'], 3)} | {m['n_images']} ({m['n_abnormal']}) |"
            )
    lines += [
        "",
        "| method | radius px | contrast | image AUROC | pixel AUROC | detected | localised | above image threshold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in result["methods"].items():
        for r in e["by_size"]:
            lines.append(
                f"| {name} | {r['radius_px']} | {r['contrast']} | {r['image_auroc']:.3f} | {r['pixel_auroc']:.3f} | {r['detected']:.2f} | {r['localised']:.2f} | {r['above_image_threshold']:.2f} |"
            )
    lines += [
        "",
        "| method | fit s | predict s / image | held-out normals: peak above pixel threshold | above image threshold |",
        "|---|---|---|---|---|",
    ]
    for name, e in result["methods"].items():
        n = e["normals"]
        lines.append(
            f"| {name} | {e['fit_s']} | {e['predict_s_per_image']} | {n['peak_above_pixel_threshold']:.2f} | {n['above_image_threshold']:.2f} |"
        )
    return "\n".join(lines)


def _f(v, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def main(argv=None) -> int:
    from bench.common import write_json

    cache = Path.home() / ".cache" / "anomaly-studio-bench"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=DEFAULT_METHODS, help="comma-separated; add resynthdetect for its short CPU configuration")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="lesion radii in pixels")
    ap.add_argument("--contrasts", default=",".join(CONTRASTS))
    ap.add_argument("--workspace", type=Path, default=cache / "independent")
    ap.add_argument(
        "--demo", type=Path, default=cache / "independent-demo", help="the demo workspace to take the normals from (built if missing)"
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="bench/results/independent.json")
    a = ap.parse_args(argv)
    from core.runtime.device import configure_cpu_threads

    configure_cpu_threads()
    sizes = [int(s) for s in a.sizes.split(",") if s]
    contrasts = [c for c in a.contrasts.split(",") if c]
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    methods = [m for m in a.methods.split(",") if m]
    result = run(methods, a.workspace, a.demo, sizes, contrasts, a.device, log=log, on_method=lambda r: write_json(a.out, r))
    write_json(a.out, result)
    print(tables(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
