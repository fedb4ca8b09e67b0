"""Size checks made before any decoder allocates memory for pixels.

A file claims its dimensions in a header; a hostile or damaged file can claim billions of pixels
in a few bytes. Readers call :func:`check_pixel_budget` with the claimed pixel count before they
decode, so a refusal costs nothing. The budget is configurable with the environment variable
``ANOMALY_STUDIO_PIXEL_BUDGET`` (pixels or voxels per image; default 600 million, which holds a
128 x 1024 x 1024 OCT cube four times over and a 4,000 x 4,000 fundus photo forty times).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.errors import CorruptFileError, WrongDimensionError

DEFAULT_PIXEL_BUDGET = 600_000_000
MAX_SIDE = 65_535  # no single axis of a medical image is longer (DICOM Rows/Columns are 16-bit)


class TooLargeError(WrongDimensionError):
    """The file claims more pixels than the configured budget allows."""


def pixel_budget() -> int:
    """The pixel budget in force (``ANOMALY_STUDIO_PIXEL_BUDGET`` or the default)."""
    raw = os.environ.get("ANOMALY_STUDIO_PIXEL_BUDGET", "").strip()
    if raw:
        try:
            value = int(float(raw))
        except ValueError:
            return DEFAULT_PIXEL_BUDGET
        if value > 0:
            return value
    return DEFAULT_PIXEL_BUDGET


def check_dimensions(path: str | Path, dims: dict[str, Any]) -> tuple[int, ...]:  # values: untrusted header fields
    """Each claimed dimension is a whole number in 1..MAX_SIDE; returns them as ints."""
    out = []
    for name, value in dims.items():
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise WrongDimensionError(path, f"{name} is not a number ({value!r})") from None
        if not number.is_integer() or not 1 <= number <= MAX_SIDE:
            raise WrongDimensionError(path, f"{name} = {value!r} is not a whole number in 1..{MAX_SIDE}")
        out.append(int(number))
    return tuple(out)


def check_pixel_budget(path: str | Path, n_pixels: int, bytes_per_pixel: float, *, stored_raw: bool = False, offset: int = 0) -> None:
    """Refuse a file whose claimed pixel count exceeds the budget, or - when its pixels are stored
    uncompressed (``stored_raw``) - whose size is smaller than the pixels it claims (truncated)."""
    n_pixels = int(n_pixels)
    budget = pixel_budget()
    if n_pixels <= 0:
        raise WrongDimensionError(path, f"claims {n_pixels} pixels")
    if n_pixels > budget:
        raise TooLargeError(
            path,
            f"claims {n_pixels:,} pixels ({n_pixels * bytes_per_pixel / 2**30:.1f} GiB decoded), over the budget of "
            f"{budget:,} (set ANOMALY_STUDIO_PIXEL_BUDGET to allow more)",
        )
    if stored_raw:
        need = offset + int(n_pixels * bytes_per_pixel)
        have = Path(path).stat().st_size
        if have < need:
            raise CorruptFileError(path, f"file is truncated: {have:,} bytes, the header claims {need:,}")
