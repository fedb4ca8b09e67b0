"""Write a gallery PNG of synthetic anomalies (ReSynthDetect generator and MMRAD simulation, fundus
and OCT) to look at. Normals come from a workspace (--workspace) or, without one, from the
bundled real fundus photo (derived variations) and synthetic OCT B-scans.

    python bench/synthesis_gallery.py --out /tmp/gallery.png [--workspace W] [--seed 0] [--size 256]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


SHORT = {
    "sharpen": "sharp",
    "solarize": "solar",
    "gamma_contrast": "gamma",
    "hue": "hue",
    "colour_temperature": "temp",
    "autocontrast": "autoc",
    "colour_shift": "shift",
}


def resize(image: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    s = size / max(h, w)
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def normals_from_workspace(root: Path, modality: str, size: int, limit: int = 6) -> list[np.ndarray]:
    from core.models.pages import middle_pixels
    from core.models.store import training_normals
    from core.workspace import Workspace

    ws = Workspace.open(root)
    out = []
    for rec in training_normals(ws, modality)[:limit]:
        case = ws.load_case(rec)
        im = case.first(modality)
        out.append(resize(middle_pixels(im), size))
    return out


def bundled_normals(modality: str, size: int, seed: int, n: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    if modality == "fundus":
        from core.data.synthetic import fundus as F

        retina = F.load_retina()
        return [resize(F.random_derivation(rng).apply(retina), size) for _ in range(n)]
    from core.data.synthetic.oct import render_bscan

    return [resize(render_bscan(rng, 496, 512).image, size) for _ in range(n)]


def main(argv=None) -> int:
    from core.data.anomaly_synthesis import ConsistentAnomalyGenerator, MMRADSimulator
    from core.data.anomaly_synthesis.gallery import gallery, write_png

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("synthesis_gallery.png"))
    ap.add_argument("--workspace", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--per-row", type=int, default=6)
    args = ap.parse_args(argv)
    rows = []
    timings = {}
    for modality in ("fundus", "oct"):
        normals = (
            normals_from_workspace(args.workspace, modality, args.size)
            if args.workspace
            else bundled_normals(modality, args.size, args.seed)
        )
        if not normals:
            print(f"no {modality} normals found; skipping")
            continue
        normals = [n for n in normals if n.shape == normals[0].shape]
        gen = ConsistentAnomalyGenerator(normals, modality)
        rng = np.random.default_rng(args.seed)
        t0 = time.perf_counter()
        row = []
        for _ in range(args.per_row):
            s = gen.sample(rng)
            row.append((s.image, s.mask, f"ReSynth {modality}: {'+'.join(SHORT[a] for a in s.info['augmentations'])}"))
        timings[f"resynth_{modality}"] = (time.perf_counter() - t0) / args.per_row
        rows.append(row)
        sim = MMRADSimulator(modality)
        sim.sample(normals[0], np.random.default_rng(0), force=True)  # warm-up: albumentations import
        rng = np.random.default_rng(args.seed + 1)
        t0 = time.perf_counter()
        row = []
        for i in range(args.per_row):
            s = sim.sample(normals[i % len(normals)], rng, force=True)
            row.append((s.image, s.mask, f"MMRAD {modality}" + ("" if s.mask.any() else " (no change)")))
        timings[f"mmrad_{modality}"] = (time.perf_counter() - t0) / args.per_row
        rows.append(row)
    path = write_png(args.out, gallery(rows, tile=args.size))
    print(f"wrote {path}")
    for k, v in timings.items():
        print(f"{k:<16} {v * 1000:7.1f} ms per sample at {args.size} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
