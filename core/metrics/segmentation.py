"""Pixel metrics: PRO (per-region overlap) curve and AUPRO up to an FPR limit, Dice."""

from __future__ import annotations

import numpy as np


def dice(pred, gt) -> float:
    p = np.asarray(pred, bool)
    g = np.asarray(gt, bool)
    denom = p.sum() + g.sum()
    return 1.0 if denom == 0 else float(2.0 * (p & g).sum() / denom)


def best_dice(scores: list[np.ndarray], gts: list[np.ndarray], n_thresholds: int = 200) -> tuple[float, float]:
    """(best Dice over all pixels pooled, its threshold) scanning score quantiles."""
    s = np.concatenate([np.asarray(a, np.float64).ravel() for a in scores])
    g = np.concatenate([np.asarray(a, bool).ravel() for a in gts])
    qs = np.unique(np.quantile(s, np.linspace(0.5, 1.0, n_thresholds)))
    best, best_t = 0.0, float(qs[-1])
    for t in qs:
        d = dice(s >= t, g)
        if d > best:
            best, best_t = d, float(t)
    return best, best_t


def pro_curve(scores: list[np.ndarray], gts: list[np.ndarray], n_thresholds: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, pro) over thresholds. PRO = mean over ground-truth connected regions of the fraction
    of the region above the threshold; FPR over all normal pixels."""
    from scipy import ndimage

    regions = []
    normal = []
    for s, g in zip(scores, gts):
        s = np.asarray(s, np.float64)
        g = np.asarray(g, bool)
        lab, n = ndimage.label(g)
        for r in range(1, n + 1):
            regions.append(s[lab == r])
        normal.append(s[~g])
    normal_all = np.concatenate(normal) if normal else np.zeros(0)
    if not regions or normal_all.size == 0:
        raise ValueError("PRO needs at least one anomalous region and some normal pixels")
    all_scores = np.concatenate([normal_all] + regions)
    uniq = np.unique(all_scores)
    # exact curve for small inputs, quantile thresholds for large ones
    thresholds = (uniq if uniq.size <= 50 * n_thresholds else np.unique(np.quantile(all_scores, np.linspace(0.0, 1.0, n_thresholds))))[::-1]
    normal_sorted = np.sort(normal_all)
    region_sorted = [np.sort(r) for r in regions]
    fpr = np.array([1.0 - np.searchsorted(normal_sorted, t, side="left") / normal_sorted.size for t in thresholds])
    pro = np.array([np.mean([1.0 - np.searchsorted(r, t, side="left") / r.size for r in region_sorted]) for t in thresholds])
    return np.r_[0.0, fpr, 1.0], np.r_[0.0, pro, 1.0]


def aupro(scores: list[np.ndarray], gts: list[np.ndarray], fpr_limit: float = 0.3, n_thresholds: int = 200) -> float:
    """Area under the PRO curve up to ``fpr_limit``, divided by ``fpr_limit`` (1.0 is perfect)."""
    fpr, pro = pro_curve(scores, gts, n_thresholds)
    order = np.argsort(fpr, kind="mergesort")
    fpr, pro = fpr[order], pro[order]
    keep = fpr <= fpr_limit
    x = np.r_[fpr[keep], fpr_limit]
    y = np.r_[pro[keep], np.interp(fpr_limit, fpr, pro)]
    return float(np.trapezoid(y, x) / fpr_limit)
