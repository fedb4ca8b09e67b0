"""Pixel and image losses of the synthetic-anomaly methods (computed in float32 under AMP)."""

from __future__ import annotations


def focal_loss(logits, target, gamma: float = 2.0, weight=None):
    """Binary focal loss (Lin et al.) on logits: -(1-p)^g log p for anomalous pixels and
    -p^g log(1-p) for normal ones (ReSynthDetect eq. 2; no alpha term). ``target`` may be soft;
    ``weight`` (same shape, 0/1) excludes pixels such as image padding."""
    import torch
    import torch.nn.functional as F

    logits, target = logits.float(), target.float()
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    loss = (1 - p_t) ** gamma * ce
    return _reduce(loss, weight)


def bce_loss(logits, target, weight=None):
    import torch.nn.functional as F

    loss = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    return _reduce(loss, weight)


def _reduce(loss, weight):
    if weight is None:
        return loss.mean()
    weight = weight.float()
    return (loss * weight).sum() / weight.sum().clamp(min=1.0)
