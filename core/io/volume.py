"""An MRI volume in its own voxel order together with the affine that places it in the scanner."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Volume:
    data: np.ndarray  # (X, Y, Z) in the file's own voxel order, never reoriented
    affine: np.ndarray  # (4, 4) float64 voxel -> RAS+ millimetres, exactly as stored
    spacing: tuple[float, ...]  # voxel size in mm along the three array axes (readers build it from the header's zooms)
    header: object | None = None  # the nibabel header, kept so label exports copy it exactly
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.data.shape
        return s[0], s[1], s[2]

    def orientation(self) -> str:
        """Axis codes of the voxel grid, e.g. ``'RAS'`` or ``'LPS'``."""
        import nibabel as nib

        return "".join(nib.aff2axcodes(self.affine))
