"""Image and pixel metrics (numpy only): AUROC, AUPR, PRO/AUPRO, Dice, balanced accuracy."""

from core.metrics.classification import auroc, average_precision, balanced_accuracy, pr_curve, roc_curve
from core.metrics.segmentation import aupro, best_dice, dice, pro_curve

__all__ = ["auroc", "average_precision", "balanced_accuracy", "roc_curve", "pr_curve", "aupro", "best_dice", "dice", "pro_curve"]
