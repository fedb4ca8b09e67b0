"""ReSAD's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.models.bank_settings import CnnBankSettings
from core.models.config import setting


@dataclass(frozen=True)
class ReSADSettings(CnnBankSettings):
    METHOD: ClassVar[str] = "resad"
    region_radius: int = setting(
        0,
        "Radius of the ReSC region filter in feature-grid cells (0: the paper's 12 cells on a 98 x 98 grid scaled to this grid).",
        paper=12,
        minimum=0,
    )
    attention_temperature: float = setting(1.0, "Temperature of the spatial self-attention softmax.", paper=1.0, minimum=1e-6)
    use_region: bool = setting(True, "Apply the region filter psi_r (ablation switch).", paper=True)
    use_spatial: bool = setting(True, "Apply the spatial self-attention (ablation switch).", paper=True)
    smooth_sigma: float = setting(0.0, "Gaussian smoothing of the anomaly map (ReSAD scores the raw distance map).", paper=0.0, minimum=0.0)
