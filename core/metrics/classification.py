"""Threshold-free ranking metrics with exact tie handling (match scikit-learn)."""

from __future__ import annotations

import numpy as np


def _prepare(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} differ in length")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinite values")
    return y, s


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), thresholds decreasing, starting at (0, 0)."""
    y, s = _prepare(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.where(np.diff(s))[0]
    idx = np.r_[distinct, y.size - 1]
    tps = np.cumsum(y)[idx]
    fps = (idx + 1) - tps
    P, N = y.sum(), (~y).sum()
    if P == 0 or N == 0:
        raise ValueError("ROC needs both positive and negative samples")
    fpr = np.r_[0.0, fps / N]
    tpr = np.r_[0.0, tps / P]
    thr = np.r_[np.inf, s[idx]]
    return fpr, tpr, thr


def auroc(labels, scores) -> float:
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def pr_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) with recall decreasing to 0, as scikit-learn."""
    y, s = _prepare(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.where(np.diff(s))[0]
    idx = np.r_[distinct, y.size - 1]
    tps = np.cumsum(y)[idx]
    fps = (idx + 1) - tps
    P = y.sum()
    if P == 0:
        raise ValueError("precision-recall needs positive samples")
    precision = tps / (tps + fps)
    recall = tps / P
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], s[idx][::-1]


def average_precision(labels, scores) -> float:
    """Step-wise AP = sum (R_n - R_{n-1}) P_n (scikit-learn's average_precision_score)."""
    precision, recall, _ = pr_curve(labels, scores)
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def balanced_accuracy(labels, predictions) -> float:
    y = np.asarray(labels).astype(bool).ravel()
    p = np.asarray(predictions).astype(bool).ravel()
    tpr = (p & y).sum() / max(y.sum(), 1)
    tnr = (~p & ~y).sum() / max((~y).sum(), 1)
    return float((tpr + tnr) / 2)


def best_balanced_accuracy(labels, scores) -> tuple[float, float]:
    """(best balanced accuracy over thresholds, the threshold)."""
    fpr, tpr, thr = roc_curve(labels, scores)
    ba = (tpr + 1 - fpr) / 2
    i = int(np.argmax(ba))
    return float(ba[i]), float(thr[i])
