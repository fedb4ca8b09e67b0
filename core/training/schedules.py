"""Learning-rate schedules (stepped once per epoch by the Trainer)."""

from __future__ import annotations

import math


def warmup_cosine_factor(epoch: int, epochs: int, warmup_epochs: int, min_ratio: float) -> float:
    """LR multiplier at ``epoch`` (0-based): linear warm-up to 1 over ``warmup_epochs``, then cosine
    decay to ``min_ratio`` at the last epoch."""
    if warmup_epochs > 0 and epoch < warmup_epochs:
        return (epoch + 1) / (warmup_epochs + 1)
    span = max(1, epochs - warmup_epochs - 1)
    t = min(1.0, max(0.0, (epoch - warmup_epochs) / span))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


def effective_warmup(warmup_epochs: int, epochs: int, max_fraction: float = 0.25) -> int:
    """The paper's warm-up in epochs, shortened to at most ``max_fraction`` of a short run so a
    run of few epochs still reaches the base learning rate."""
    return max(0, min(int(warmup_epochs), int(epochs * max_fraction)))


def warmup_cosine(optimizer, epochs: int, warmup_epochs: int, min_lr: float):
    """LambdaLR: warm-up then cosine from each group's lr down to ``min_lr``."""
    import torch

    base = optimizer.param_groups[0]["lr"]
    ratio = min_lr / base if base > 0 else 0.0
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: warmup_cosine_factor(e, epochs, warmup_epochs, ratio))
