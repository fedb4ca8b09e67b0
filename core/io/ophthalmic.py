"""What the ophthalmic readers return: an OCT volume with its localizer, or an ophthalmic photo.

Conventions shared by every reader:

* ``OctVolume.bscans`` is ``(N, H, W)``: B-scan ``i`` in the order the device stored it, rows run
  from the vitreous (top) to the choroid, columns are A-scans.
* ``OctVolume.positions[i]`` is ``((x0, y0), (x1, y1))``: where column 0 and column ``W - 1`` of
  B-scan ``i`` lie on the localizer, in localizer pixel-index coordinates (x = column, y = row,
  the centre of the top-left pixel is (0, 0)), the same convention as :class:`core.domain.ScanLine`.
* Spacing is in micrometres: ``x_um`` between A-scans, ``axial_um`` between rows, ``between_um``
  between neighbouring B-scans.
* Laterality is ``"R"`` / ``"L"`` (or None); acquisition time an ISO 8601 string (or None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import CorruptFileError, WrongDimensionError


@dataclass(frozen=True)
class OctSpacing:
    x_um: float | None = None  # between A-scans (lateral)
    axial_um: float | None = None  # between rows of a B-scan (depth)
    between_um: float | None = None  # between neighbouring B-scans

    def as_mm(self) -> list[float | None]:
        """Array-axis order (B-scan, row, column) in mm, the workspace's ``ImageMeta.spacing``."""
        return [None if v is None else v / 1000.0 for v in (self.between_um, self.axial_um, self.x_um)]


@dataclass
class OctVolume:
    bscans: np.ndarray  # (N, H, W) uint8 / uint16 / float32
    localizer: np.ndarray | None = None  # (h, w) or (h, w, 3): the en-face image the positions refer to
    positions: np.ndarray | None = None  # (N, 2, 2) float64: [[x0, y0], [x1, y1]] per B-scan, localizer pixels
    spacing: OctSpacing = field(default_factory=OctSpacing)
    localizer_spacing_um: tuple[float, float] | None = None  # (x, y) micrometres per localizer pixel
    laterality: str | None = None
    acquired: str | None = None
    device: str = ""
    source_format: str = ""
    path: str = ""
    uids: dict = field(default_factory=dict)  # study_uid, series_uid, sop_instance_uid, sop_class_uid, localizer_uid
    warnings: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_volume(self)

    @property
    def n_bscans(self) -> int:
        return int(self.bscans.shape[0])


@dataclass
class OphthalmicPhoto:
    pixels: np.ndarray  # (H, W) grey or (H, W, 3) RGB; uint8 or uint16
    laterality: str | None = None
    acquired: str | None = None
    device: str = ""
    source_format: str = ""
    path: str = ""
    spacing_um: tuple[float, float] | None = None  # (x, y) micrometres per pixel
    photometric: str = ""  # the file's photometric interpretation (decoded pixels are grey or RGB)
    uids: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def laterality_code(value) -> str | None:
    """'R' / 'L' from the spellings devices use (OD/OS, R/L, right/left); None otherwise."""
    if value is None:
        return None
    text = str(value).strip().upper().rstrip("\x00")
    if text in ("R", "OD", "RIGHT", "RE"):
        return "R"
    if text in ("L", "OS", "LEFT", "LE"):
        return "L"
    return None


def validate_volume(vol: OctVolume) -> None:
    """Shape and value checks every reader's result passes (so nothing half-right reaches a case)."""
    path = vol.path or None
    b = vol.bscans
    if not isinstance(b, np.ndarray) or b.ndim != 3:
        raise WrongDimensionError(path, f"B-scans of shape {getattr(b, 'shape', None)}; expected (N, H, W)")
    if min(b.shape) < 1 or min(b.shape[1:]) < 2:
        raise WrongDimensionError(path, f"B-scans of shape {b.shape} are too small to use")
    if b.dtype.kind == "f" and not np.isfinite(b).all():
        raise CorruptFileError(path, "B-scans hold NaN or infinite values")
    if vol.localizer is not None:
        loc = vol.localizer
        if loc.ndim not in (2, 3) or (loc.ndim == 3 and loc.shape[-1] != 3) or min(loc.shape[:2]) < 2:
            raise WrongDimensionError(path, f"localizer of shape {loc.shape}; expected (H, W) or (H, W, 3)")
    if vol.positions is not None:
        p = np.asarray(vol.positions, dtype=np.float64)
        if p.shape != (b.shape[0], 2, 2):
            raise WrongDimensionError(path, f"{p.shape[0] if p.ndim else 0} B-scan positions for {b.shape[0]} B-scans")
        if not np.isfinite(p).all():
            raise CorruptFileError(path, "B-scan positions hold NaN or infinite values")
        vol.positions = p
    for name in ("x_um", "axial_um", "between_um"):
        v = getattr(vol.spacing, name)
        if v is not None and not (np.isfinite(v) and v > 0):
            vol.warnings.append(f"{name} spacing {v!r} is not a positive number; ignored")
            vol.spacing = OctSpacing(**{**vol.spacing.__dict__, name: None})


def sniff(path: Path, n: int = 132) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(n)
    except OSError:
        return b""
