"""Size checks made before any decoder allocates memory for pixels.

A file claims its dimensions in a header; a hostile or damaged file can claim billions of pixels
in a few bytes. Readers call :func:`check_pixel_budget` with the claimed count before they
decode, so a refusal costs nothing. Three checks:

* the claimed number of values (pixels x channels x pages, or voxels) against a budget: the
  environment variable ``ANOMALY_STUDIO_PIXEL_BUDGET`` (or ``ANOMALY_STUDIO_MAX_PIXELS``), else the
  ``max_pixels`` setting (handed over by :mod:`core.settings` when settings load), else 600 million, which holds a 128 x 1024 x 1024 OCT cube four times
  over and a 4,000 x 4,000 fundus photo forty times;
* data stored uncompressed (``stored_raw``) must fit in the file (else it is truncated);
* compressed data (``max_ratio``) cannot expand more than its codec allows: deflate stays under
  about 1032:1, so a few hundred bytes of ``.nii.gz`` or PNG claiming gigabytes is a
  decompression bomb or a damaged header, refused before decoding.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from core.errors import CorruptFileError, TooLargeError, WrongDimensionError

__all__ = [
    "DEFAULT_PIXEL_BUDGET",
    "DEFLATE_MAX_RATIO",
    "ENV_MAX_PIXELS",
    "MAX_SIDE",
    "TooLargeError",
    "check_dimensions",
    "check_file_size",
    "check_pixel_budget",
    "configure_budget",
    "max_pixels",
    "pixel_budget",
]

DEFAULT_PIXEL_BUDGET = 600_000_000
MAX_SIDE = 65_535  # no single axis of a medical image is longer (DICOM Rows/Columns are 16-bit)
ENV_MAX_PIXELS = "ANOMALY_STUDIO_PIXEL_BUDGET"
ENV_ALIASES = (ENV_MAX_PIXELS, "ANOMALY_STUDIO_MAX_PIXELS")
DEFLATE_MAX_RATIO = 1100  # deflate's best case is about 1032:1; a little room for container overhead
SLACK_BYTES = 64 * 1024


_configured: int | None = None  # the ``max_pixels`` setting, pushed here by core.settings


def configure_budget(value: int | None) -> None:
    """Set the budget from the ``max_pixels`` setting (the environment still overrides it)."""
    global _configured
    _configured = value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def pixel_budget() -> int:
    """The budget in force (values per image): environment, then the ``max_pixels`` setting."""
    for name in ENV_ALIASES:
        raw = os.environ.get(name, "").strip()
        if raw:
            try:
                value = int(float(raw))
            except (ValueError, OverflowError):
                continue
            if value > 0:
                return value
    return _configured or DEFAULT_PIXEL_BUDGET


max_pixels = pixel_budget  # the name the hostile-input readers use


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


def check_pixel_budget(
    path: str | Path,
    n_pixels: int,
    bytes_per_pixel: float = 1,
    *,
    stored_raw: bool = False,
    offset: int = 0,
    max_ratio: float | None = None,
    what: str = "pixels",
) -> None:
    """Refuse a file whose claimed count exceeds the budget; when its data is stored uncompressed
    (``stored_raw``), one smaller than the data it claims (truncated); with ``max_ratio``, one
    claiming more bytes than its codec can expand the file to (a decompression bomb)."""
    path = Path(path)
    try:
        n = int(n_pixels)
    except (TypeError, ValueError, OverflowError):
        raise CorruptFileError(path, f"header claims a nonsense number of {what} ({n_pixels!r})") from None
    if n <= 0:
        raise WrongDimensionError(path, f"claims {n} {what}")
    budget = pixel_budget()
    claimed = n * float(bytes_per_pixel)
    if n > budget:
        raise TooLargeError(
            path,
            f"claims {n:,} {what} ({claimed / 2**30:.1f} GiB decoded), over the budget of {budget:,} (set {ENV_MAX_PIXELS} to allow more)",
        )
    if not stored_raw and max_ratio is None:
        return
    try:
        have = path.stat().st_size
    except OSError:
        return
    if stored_raw:
        need = offset + int(claimed)
        if have < need:
            raise CorruptFileError(path, f"file is truncated: {have:,} bytes, the header claims {need:,}")
    elif max_ratio is not None and math.isfinite(claimed) and claimed > have * max_ratio + SLACK_BYTES:
        raise TooLargeError(
            path,
            f"claims {claimed / 2**20:,.1f} MB of {what} from a {have:,}-byte file, more than its compression can yield "
            "(a decompression bomb or a damaged header)",
        )


def check_file_size(path: str | Path, max_bytes: int, what: str = "file") -> int:
    """Refuse a file larger than ``max_bytes`` before reading it; returns its size."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    if size > max_bytes:
        raise TooLargeError(path, f"{what} is {size / 2**20:,.1f} MB; the most we read is {max_bytes / 2**20:,.0f} MB")
    return size
