"""PatchCore's settings (the offline default runs on LiteMedSAM's TinyViT; see the model card)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.models.bank_settings import CnnBankSettings


@dataclass(frozen=True)
class PatchCoreSettings(CnnBankSettings):
    METHOD: ClassVar[str] = "patchcore"
