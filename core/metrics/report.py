"""Evaluation reports: JSON + CSV + Markdown + HTML with ROC/PR plots (PNG), the metric table laid
out like the papers' tables, a per-symptom-class breakdown and a gallery of the best and worst
cases with overlays. Plots use matplotlib's Agg canvas (no GUI toolkit)."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.io.atomic import atomic_path, atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    from core.workspace.workspace import Workspace

TABLE_COLUMNS = [
    ("image_auroc", "I-AUROC"),
    ("pixel_auroc", "P-AUROC"),
    ("pro", "PRO"),
    ("pixel_aupr", "AUPR"),
    ("dice_at_threshold", "Dice@thr"),
    ("oracle_dice", "Dice (oracle thr.)"),
    ("mask_dice_mean", "mask Dice"),
    ("balanced_accuracy", "Bal. acc."),
    ("image_aupr", "I-AUPR"),
    ("voxel_auprc", "voxel AUPRC"),
    ("dice_3d_at_threshold", "3-D Dice@thr"),
    ("slice_auroc", "slice AUROC"),
    ("bscan_auroc", "B-scan AUROC"),
]


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _figure(width: float = 4.2, height: float = 3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")


def plot_curves(reports: list[dict], key: str, title: str, xlabel: str, ylabel: str, path: Path, diagonal: bool) -> bool:
    fig = _figure()
    ax = fig.add_subplot(111)
    drawn = False
    for rep in reports:
        c = rep.get("curves", {}).get(key)
        if not c:
            continue
        metric = rep["metrics"].get(
            {"image_roc": "image_auroc", "pixel_roc": "pixel_auroc", "image_pr": "image_aupr", "pixel_pr": "pixel_aupr"}[key]
        )
        ax.plot(c["x"], c["y"], lw=1.8, label=f"{rep['model']} ({metric:.3f})" if metric is not None else rep["model"])
        drawn = True
    if not drawn:
        return False
    if diagonal:
        ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right" if diagonal else "lower left", fontsize=8)
    _save(fig, path)
    return True


def _overlay(
    ws: Workspace, case_id: str, image_name: str, model: str, version: str, threshold: float, size: int = 320
) -> np.ndarray | None:
    """Image with the heatmap (inferno), the iso-contour at the pixel threshold (cyan) and the
    ground truth outline (green), resized to ``size`` px on the long side."""
    from matplotlib import colormaps
    from scipy import ndimage

    from core.io.images import to_display_rgb
    from core.metrics.evaluate import ground_truth_mask

    res = ws.results.get(model, version, case_id)
    if res is None:
        return None
    case = ws.case(case_id)
    rec = next(im for im in case.images if im.name == image_name)
    if rec.is_volume:
        return None
    pixels = ws.read_pixels(rec)
    heat, _ = ws.results.image_arrays(res, image_name)
    if rec.is_stack:  # an OCT volume: its highest-scoring B-scan (old results: the middle B-scan's 2-D map)
        top = res.slices.top if res.slices is not None and res.slices.plane == "bscan" and res.slices.top is not None else None
        page = top if heat is not None and heat.ndim == 3 and top is not None else pixels.shape[0] // 2
        pixels = pixels[page]
        heat = heat[page] if heat is not None and heat.ndim == 3 else heat
    if heat is None or heat.shape != pixels.shape[:2]:
        return None
    h, w = heat.shape
    step = max(1, int(np.ceil(max(h, w) / size)))
    base = to_display_rgb(pixels)[::step, ::step].astype(np.float32) / 255.0
    hm = heat[::step, ::step]
    norm = np.clip((hm - 0.0) / max(threshold * 2.0, 1e-6), 0, 1)
    colour = colormaps["inferno"](norm)[..., :3]
    alpha = (np.clip(norm, 0, 1) * 0.6)[..., None]
    out = base * (1 - alpha) + colour * alpha
    above = hm >= threshold
    contour = above & ~ndimage.binary_erosion(above)
    out[contour] = (0.2, 0.9, 1.0)
    gt = ground_truth_mask(ws, rec)
    if gt is not None and gt.any():
        g = gt[::step, ::step]
        edge = g & ~ndimage.binary_erosion(g)
        out[ndimage.binary_dilation(edge)] = (0.2, 1.0, 0.3)
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def gallery(ws: Workspace, rep: dict, path: Path, per_group: int = 4) -> list[dict]:
    """Best detections, worst misses and worst false alarms, with overlays, in one PNG."""
    rows = [r for r in rep["images"] if r["truth"] is not None and r["score"] is not None]
    abnormal = sorted((r for r in rows if r["truth"]), key=lambda r: -r["score"])
    normal = sorted((r for r in rows if not r["truth"]), key=lambda r: -r["score"])
    groups = [
        ("best detections (highest-scored abnormal)", abnormal[:per_group]),
        ("worst misses (lowest-scored abnormal)", abnormal[::-1][:per_group]),
        ("worst false alarms (highest-scored normal)", normal[:per_group]),
    ]
    groups = [(t, g) for t, g in groups if g]
    if not groups:
        return []
    fig = _figure(3.0 * per_group, 3.3 * len(groups))
    shown = []
    for gi, (title, items) in enumerate(groups):
        for j, r in enumerate(items):
            ax = fig.add_subplot(len(groups), per_group, gi * per_group + j + 1)
            img = _overlay(ws, r["case"], r["image"], rep["model"], rep["version"], rep["pixel_threshold"])
            if img is not None:
                ax.imshow(img)
            ax.set_axis_off()
            ax.set_title(f"{r['case']} / {r['image']}\nscore {r['score']:.2f}" + (" (abn.)" if r["truth"] else ""), fontsize=8)
            shown.append({"group": title, **{k: r[k] for k in ("case", "image", "score", "truth")}})
        fig.text(0.01, 1 - (gi + 0.02) / len(groups), title, fontsize=10, weight="bold", va="top")
    fig.subplots_adjust(top=0.93, hspace=0.45)
    _save(fig, path)
    return shown


def metric_table_md(reports: list[dict]) -> str:
    cols = [c for c in TABLE_COLUMNS if any(c[0] in r["metrics"] for r in reports)]
    lines = ["| Method | " + " | ".join(t for _, t in cols) + " |", "|---|" + "---:|" * len(cols)]
    for r in reports:
        lines.append(f"| {r['model']} | " + " | ".join(_fmt(r["metrics"].get(k)) for k, _ in cols) + " |")
    return "\n".join(lines)


def class_table_md(rep: dict) -> str:
    if not rep.get("per_class"):
        return "_No pixel labels with symptom classes among the evaluated images._"
    lines = ["| Symptom class | images | pixels | P-AUROC | I-AUROC |", "|---|---:|---:|---:|---:|"]
    for label, e in rep["per_class"].items():
        lines.append(f"| {label} | {e['images']} | {e['pixels']} | {_fmt(e.get('pixel_auroc'))} | {_fmt(e.get('image_auroc'))} |")
    return "\n".join(lines)


def _md_to_html_table(md: str) -> str:
    rows = [r.strip().strip("|").split("|") for r in md.splitlines() if r.strip() and not set(r.strip()) <= set("|-: ")]
    if not rows:
        return f"<p>{html.escape(md)}</p>"
    head, body = rows[0], rows[1:]
    out = ["<table><thead><tr>" + "".join(f"<th>{html.escape(c.strip())}</th>" for c in head) + "</tr></thead><tbody>"]
    for r in body:
        out.append("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in r) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def write_report(ws: Workspace, rep: dict, out: Path) -> dict:
    """Write report.json, images.csv, metrics.csv, roc/pr PNGs, gallery.png, report.md, report.html."""
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, title, xl, yl, diag in (
        ("image_roc", "Image-level ROC", "false positive rate", "true positive rate", True),
        ("pixel_roc", "Pixel-level ROC", "false positive rate", "true positive rate", True),
        ("image_pr", "Image-level precision-recall", "recall", "precision", False),
        ("pixel_pr", "Pixel-level precision-recall", "recall", "precision", False),
    ):
        if plot_curves([rep], key, title, xl, yl, out / f"{key}.png", diag):
            files[key] = f"{key}.png"
    shown = gallery(ws, rep, out / "gallery.png")
    if shown:
        files["gallery"] = "gallery.png"
    rep = dict(rep, files=files, gallery=shown)
    atomic_write_json(out / "report.json", rep)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["case", "image", "score", "truth", "classes", "dice_mask"])
    for r in rep["images"]:
        w.writerow([r["case"], r["image"], r["score"], r["truth"], ";".join(r.get("classes", [])), r.get("dice_mask", "")])
    atomic_write_text(out / "images.csv", buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "version", *rep["metrics"].keys()])
    w.writerow([rep["model"], rep["version"], *rep["metrics"].values()])
    atomic_write_text(out / "metrics.csv", buf.getvalue())
    m = rep["metrics"]
    md = [
        f"# Evaluation: {rep['model']} ({rep['version']})",
        "",
        f"{m.get('n_images', 0)} test images ({m.get('n_abnormal', 0)} abnormal). Operating threshold "
        f"{rep['threshold']:.2f} (calibrated score), heatmap contour at {rep['pixel_threshold']:.2f}.",
        "",
        "## Metrics",
        "",
        metric_table_md([rep]),
        "",
        "## Per symptom class",
        "",
        class_table_md(rep),
        "",
    ]
    for key, title in (("image_roc", "Image ROC"), ("image_pr", "Image PR"), ("pixel_roc", "Pixel ROC"), ("pixel_pr", "Pixel PR")):
        if key in files:
            md.append(f"![{title}]({files[key]})")
    if "gallery" in files:
        md += ["", "## Gallery", "", "Heatmap (inferno), threshold contour (cyan), ground truth (green).", "", "![gallery](gallery.png)"]
    atomic_write_text(out / "report.md", "\n".join(md) + "\n")
    atomic_write_text(out / "report.html", _html(f"Evaluation: {rep['model']}", [rep], files))
    return rep


def _html(title: str, reports: list[dict], files: dict) -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}th:first-child,td:first-child{text-align:left}"
        "img{max-width:46%;margin:4px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Metrics</h2>",
        _md_to_html_table(metric_table_md(reports)),
    ]
    for rep in reports:
        if rep.get("per_class"):
            parts += [f"<h2>Per symptom class: {html.escape(rep['model'])}</h2>", _md_to_html_table(class_table_md(rep))]
    for key in ("image_roc", "image_pr", "pixel_roc", "pixel_pr"):
        if key in files:
            parts.append(f"<img src='{files[key]}' alt='{key}'>")
    if "gallery" in files:
        parts += [
            "<h2>Gallery</h2><p>Heatmap (inferno), threshold contour (cyan), ground truth (green).</p>",
            "<img style='max-width:100%' src='gallery.png' alt='gallery'>",
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_comparison(reports: list[dict], out: Path) -> None:
    """One table (and overlaid curves) for several models evaluated on the same workspace."""
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, title, xl, yl, diag in (
        ("image_roc", "Image-level ROC", "FPR", "TPR", True),
        ("pixel_roc", "Pixel-level ROC", "FPR", "TPR", True),
        ("pixel_pr", "Pixel-level PR", "recall", "precision", False),
    ):
        if plot_curves(reports, key, title, xl, yl, out / f"compare_{key}.png", diag):
            files[key] = f"compare_{key}.png"
    atomic_write_json(
        out / "comparison.json", {"models": [{k: r[k] for k in ("model", "version", "metrics")} for r in reports], "files": files}
    )
    md = ["# Model comparison", "", metric_table_md(reports), ""] + [f"![{k}]({v})" for k, v in files.items()]
    atomic_write_text(out / "comparison.md", "\n".join(md) + "\n")
    atomic_write_text(out / "comparison.html", _html("Model comparison", reports, files))
