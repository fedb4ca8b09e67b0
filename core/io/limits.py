"""Size budget for decoders: refuse a file before decoding when it claims too much.

Every reader computes what a file *claims* from its header (pixels, voxels, bytes) and calls
:func:`check_pixel_budget` before allocating or decoding anything. Two checks:

* the claimed number of values against a budget (default 2**28 values, about 1 GB as float32),
  set by the ``ANOMALY_STUDIO_MAX_PIXELS`` environment variable or the ``max_pixels`` setting;
* the claimed number of bytes against the file size: uncompressed data cannot be larger than the
  file, and deflate/LZW/JPEG data cannot expand more than about a thousandfold, so a 153-byte
  ``.nii.gz`` claiming 1.5 GB is refused as a decompression bomb (or a truncated file).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from core.errors import CorruptFileError, TooLargeError

ENV_MAX_PIXELS = "ANOMALY_STUDIO_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 2**28
# deflate's best case is about 1032:1; leave room for container overhead on tiny files
MAX_COMPRESSION_RATIO = 1100
SLACK_BYTES = 64 * 1024


def max_pixels() -> int:
    """The budget in values (pixels x channels x pages, or voxels)."""
    text = os.environ.get(ENV_MAX_PIXELS)
    if text:
        try:
            value = int(float(text))
        except ValueError:
            value = 0
        if value > 0:
            return value
    try:
        from core.settings import Settings

        configured = getattr(Settings.load(), "max_pixels", None)
    except Exception:  # noqa: BLE001 - an unreadable settings file must not stop a reader
        configured = None
    if isinstance(configured, int) and not isinstance(configured, bool) and configured > 0:
        return configured
    return DEFAULT_MAX_PIXELS


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def check_pixel_budget(
    path: str | Path,
    n_items: int,
    bytes_per_item: int | float = 1,
    *,
    compressed: bool = True,
    data_offset: int = 0,
    what: str = "pixels",
) -> None:
    """Raise before decoding when ``n_items`` values of ``bytes_per_item`` bytes are more than the
    budget allows or more than ``path`` can hold. ``compressed=False`` (raw data after
    ``data_offset`` bytes) requires the data to fit in the file exactly."""
    path = Path(path)
    try:
        n = int(n_items)
    except (TypeError, ValueError, OverflowError):
        raise CorruptFileError(path, f"header claims a nonsense number of {what} ({n_items!r})") from None
    if n <= 0:
        raise CorruptFileError(path, f"header claims {n} {what}; expected at least one")
    budget = max_pixels()
    claimed = n * float(bytes_per_item)
    if n > budget:
        raise TooLargeError(
            path,
            f"claims {n:,} {what} ({_human(claimed)}); the limit is {budget:,} (raise {ENV_MAX_PIXELS} if this file is genuine)",
        )
    size = _file_size(path)
    if size is None or not math.isfinite(claimed):
        return
    if compressed:
        limit = size * MAX_COMPRESSION_RATIO + SLACK_BYTES
        if claimed > limit:
            raise TooLargeError(
                path,
                f"claims {_human(claimed)} of {what} from a {_human(size)} file, more than any compression "
                "yields (a decompression bomb or a damaged header)",
            )
    elif data_offset + claimed > size:
        raise CorruptFileError(path, f"header claims {_human(claimed)} of {what} but the file holds {_human(max(size - data_offset, 0))}")


def check_file_size(path: str | Path, max_bytes: int, what: str = "file") -> int:
    """Refuse a file larger than ``max_bytes`` before reading it; returns its size."""
    path = Path(path)
    size = _file_size(path)
    if size is not None and size > max_bytes:
        raise TooLargeError(path, f"{what} is {_human(size)}; the most we read is {_human(max_bytes)}")
    return size or 0


def _human(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"
