"""Lesion-size sensitivity: how detection falls with lesion size, per method and ``tiles`` setting.

    python -m bench.lesion_size [--methods patchcore] [--tiles 1,2] [--sizes 3,6,10,20,40]
                                [--contrasts faint,strong] [--normals 8] [--images 4] [--out PATH]

Lesions of radius 3, 6, 10, 20 and 40 px come from :mod:`bench.lesions` (a generator no training
path can import) and are placed at full resolution (1411 px) on the demo workspace's held-out
normal fundus photos (test cases without a lesion label), one per photo, size and contrast (the
same site and kind for both contrasts, kinds cycling over sizes and photos). Each method is fitted
on the demo's training normal fundus photos (the first ``--normals``) once per ``tiles`` value, at
its offline default otherwise, and predicts every held-out normal and lesion photo.

Per method, tiles value, size and contrast it prints: detected (the share of lesions whose heatmap
peak inside the lesion reaches the contour level; once per contour rule, each level taken from the
same fitted model's calibration normals, the model's own rule marked), pixel AUROC (every lesion pixel
against every 4th non-lesion pixel of the field of view of the lesion photos and the held-out
normals), and per method and tiles value the false-alarm share of the held-out normals (a
field-of-view peak at or above the contour level; a detection rate means little if normals
alarm too), fit time and predict time per image, with ratios against ``tiles=1`` measured in the
same run on the same backend.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _pages(array: np.ndarray, modality: str) -> list[np.ndarray]:
    """The 2-D images a benchmark lesion goes on: the photo, or every B-scan of an OCT stack."""
    if modality == "oct" and array.ndim == 3 and array.shape[-1] not in (3, 4):
        return list(array)
    return [array]


def photos(demo, n_normals: int, n_images: int, modality: str = "fundus"):
    """(training normal images, held-out normal images) of the demo workspace, as arrays: fundus
    photos, or OCT B-scans (a volume gives each of its B-scans, held-out ones the middle B-scan).
    Held-out images come from test cases (never fitted on) and carry no lesion."""
    from core.models import store

    train: list[np.ndarray] = []
    for c in store.training_normals(demo, modality):
        train.extend(_pages(demo.load_case(c).first(modality).array, modality))
        if len(train) >= n_normals:
            break
    held = []
    for c in demo.cases():
        rec = c.image(modality)
        if c.split != "test" or rec is None:
            continue
        doc = demo.read_labels(rec)
        # a normal case's image, or a 2-D image without lesion labels in a case whose lesion is on its
        # other image; never an unlabelled stack of an abnormal case (its lesion B-scans are not marked here)
        if c.truth == "normal" or (not rec.is_stack and (doc is None or not doc.shapes)):
            pages = _pages(demo.load_case(c).first(modality).array, modality)
            held.append(pages[len(pages) // 2])
        if len(held) >= n_images:
            break
    return train[:n_normals], held


def view_of(image: np.ndarray, modality: str) -> np.ndarray:
    """Where a finding can be: a fundus photo's field of view; all of an OCT B-scan."""
    from bench.lesions import fundus_fov

    return fundus_fov(image) if modality == "fundus" else np.ones(image.shape[:2], bool)


def lesion_set(held: list[np.ndarray], sizes, contrasts, modality: str = "fundus") -> list[dict]:
    from bench.lesions import FUNDUS_KINDS, OCT_KINDS, fundus_lesion, oct_lesion

    kinds = FUNDUS_KINDS if modality == "fundus" else OCT_KINDS
    out = []
    for i, pixels in enumerate(held):
        fov = view_of(pixels, modality)
        for j, radius in enumerate(sizes):
            kind = kinds[(i + j) % len(kinds)]
            for contrast in contrasts:
                seed = 1000 * i + radius
                if modality == "fundus":
                    les = fundus_lesion(pixels, radius, contrast, seed=seed, kind=kind, fov=fov)
                else:
                    les = oct_lesion(pixels, radius, contrast, seed=seed, kind=kind)
                out.append({"radius": radius, "contrast": contrast, "kind": kind, "image": les.image, "mask": les.mask, "fov": fov})
    return out


def run_one(
    method: str, tiles: int, train, held, lesions, device: str, log=print, modality: str = "fundus", config: dict | None = None
) -> dict:
    from core.domain import LoadedCase
    from core.metrics.classification import auroc
    from core.models import create_model

    model = create_model(method, tiles=tiles, device=device, modality=modality, **(config or {}))
    t0 = time.monotonic()
    model.fit([LoadedCase.from_arrays(f"train{i}", **{modality: a}) for i, a in enumerate(train)])
    fit_s = time.monotonic() - t0
    from core.workspace.cards import CONTOUR_RULES

    cal = model.calibration
    thr = float(model.card.pixel_threshold)
    # every contour rule's level from this one calibration (the model's own rule is its card's)
    levels = {rule: cal.contour_threshold(rule) for rule in CONTOUR_RULES}
    log(f"{method} tiles={tiles}: fitted in {fit_s:.0f} s, bank {model.card.metrics.get('bank_size')}, contour levels {levels}")
    times, normal_px, normal_peaks = [], [], []
    for a in held:
        t0 = time.monotonic()
        heat = model.predict_array(a).heatmap
        times.append(time.monotonic() - t0)
        fov = view_of(a, modality)
        normal_peaks.append(float(heat[fov].max()))
        log(f"  normal: peak {normal_peaks[-1]:.2f}, {times[-1]:.1f} s")
        normal_px.append(heat[::4, ::4][fov[::4, ::4]])
    rows: dict[tuple[int, str], dict] = {}
    for les in lesions:
        t0 = time.monotonic()
        heat = model.predict_array(les["image"]).heatmap
        times.append(time.monotonic() - t0)
        m, fov = les["mask"], les["fov"]
        r = rows.setdefault((les["radius"], les["contrast"]), {"peaks": [], "pos": [], "neg": []})
        r["peaks"].append(float(heat[m].max()))
        log(f"  r={les['radius']} {les['contrast']} {les['kind']}: peak {r['peaks'][-1]:.2f}, {times[-1]:.1f} s")
        r["pos"].append(heat[m])
        r["neg"].append(heat[::4, ::4][fov[::4, ::4] & ~m[::4, ::4]])
    normal_px = np.concatenate(normal_px)
    per_size = []
    for (radius, contrast), r in sorted(rows.items()):
        p, n = np.concatenate(r["pos"]), np.concatenate(r["neg"] + [normal_px])
        labels = np.r_[np.ones(p.size, bool), np.zeros(n.size, bool)]
        peaks = np.asarray(r["peaks"])
        per_size.append(
            {
                "radius_px": radius,
                "contrast": contrast,
                "lesions": len(peaks),
                "detected": round(float((peaks >= thr).mean()), 3),
                "detected_by_rule": {rule: round(float((peaks >= lv).mean()), 3) for rule, lv in levels.items()},
                "pixel_auroc": round(float(auroc(labels, np.r_[p, n])), 4),
            }
        )
    return {
        "method": method,
        "modality": modality,
        "tiles": tiles,
        "fit_s": round(fit_s, 1),
        "predict_s_per_image": round(float(np.mean(times)), 2),
        "bank_size": model.card.metrics.get("bank_size"),
        "pixel_threshold": round(thr, 3),
        "contour_rule": model.config.resolved_contour_rule(),
        "levels": {rule: round(lv, 3) for rule, lv in levels.items()},
        "normal_peaks": [round(v, 3) for v in normal_peaks],
        "normal_false_alarm": round(float(np.mean([v >= thr for v in normal_peaks])), 3),
        "normal_false_alarm_by_rule": {rule: round(float(np.mean([v >= lv for v in normal_peaks])), 3) for rule, lv in levels.items()},
        "per_size": per_size,
    }


def add_ratios(results: list[dict]) -> None:
    """Time and detection of each run against ``tiles=1`` of the same method in the same run."""
    base = {r["method"]: r for r in results if r["tiles"] == 1}
    for r in results:
        b = base.get(r["method"])
        if b is None:
            continue
        r["predict_time_ratio"] = round(r["predict_s_per_image"] / max(b["predict_s_per_image"], 1e-9), 2)
        r["fit_time_ratio"] = round(r["fit_s"] / max(b["fit_s"], 1e-9), 2)


def table(results: list[dict]) -> str:
    sizes = sorted({row["radius_px"] for r in results for row in r["per_size"]})
    head = (
        "| method | tiles | contour | contrast | " + " | ".join(f"r={s} px" for s in sizes) + " | normals alarmed | s/image (x tiles=1) |"
    )
    lines = [head, "|" + " --- |" * (len(sizes) + 6)]
    for r in results:
        for rule, level in r["levels"].items():
            own = " (model's)" if rule == r["contour_rule"] else ""
            for contrast in sorted({row["contrast"] for row in r["per_size"]}):
                cells = {row["radius_px"]: row for row in r["per_size"] if row["contrast"] == contrast}
                vals = [f"{cells[s]['detected_by_rule'][rule]:.0%} / {cells[s]['pixel_auroc']:.3f}" if s in cells else "-" for s in sizes]
                ratio = r.get("predict_time_ratio", 1.0)
                lines.append(
                    f"| {r['method']} | {r['tiles']} | {rule} {level:.2f}{own} | {contrast} | "
                    + " | ".join(vals)
                    + f" | {r['normal_false_alarm_by_rule'][rule]:.0%} | {r['predict_s_per_image']:.2f} ({ratio:.2f}x) |"
                )
    return "\n".join(lines) + "\n\ncells: detected share / pixel AUROC; contour: the rule and level a detection is judged at"


def main(argv=None) -> int:
    from bench.common import demo_workspace, device_info

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="patchcore")
    ap.add_argument("--tiles", default="1,2")
    ap.add_argument("--sizes", default="3,6,10,20,40")
    ap.add_argument("--contrasts", default="faint,strong")
    ap.add_argument("--normals", type=int, default=8, help="training normal photos to fit on")
    ap.add_argument("--images", type=int, default=4, help="held-out normal photos that get lesions")
    ap.add_argument("--modality", default="fundus", choices=("fundus", "oct"), help="fundus photos or OCT B-scans at native size")
    ap.add_argument("--demo", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    demo = demo_workspace(args.demo)
    train, held = photos(demo, args.normals, args.images, args.modality)
    if not train or not held:
        raise SystemExit(f"the demo workspace has no training normals or held-out normal {args.modality} images")
    lesions = lesion_set(held, _ints(args.sizes), tuple(c for c in args.contrasts.split(",") if c), args.modality)
    log(f"{args.modality}: {len(train)} training normals, {len(held)} held-out normals, {len(lesions)} lesion images")
    results = []
    for method in [m for m in args.methods.split(",") if m]:
        for t in _ints(args.tiles):
            results.append(run_one(method, t, train, held, lesions, args.device, log, args.modality))
    add_ratios(results)
    doc = {"device": device_info(), "modality": args.modality, "normals": len(train), "held_out": len(held), "results": results}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(doc, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
