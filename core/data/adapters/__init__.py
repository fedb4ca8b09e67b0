"""Adapters for public dataset layouts: IDRiD, BMAD, BraTS, MMR-style pairs, EyeQ-style CSVs.

Each adapter recognises its folder layout and plans cases (images, split, truth, labels); the
shared :func:`apply_plan` adds them to a workspace and reports what was imported or skipped.
"""

from core.data.adapters.base import ADAPTERS, PlannedCase, apply_plan, detect_layout, get_adapter

__all__ = ["ADAPTERS", "PlannedCase", "apply_plan", "detect_layout", "get_adapter"]
