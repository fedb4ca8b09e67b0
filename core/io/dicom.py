"""DICOM series folders to a :class:`Volume` with a RAS+ affine (as dcm2niix computes it)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from core.errors import CorruptFileError, EmptyFileError, InputError, TooLargeError, UnsupportedFormatError, WrongDimensionError
from core.io.limits import check_pixel_budget, max_pixels
from core.io.volume import Volume

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _is_dicom(path: Path) -> bool:
    if not path.is_file():  # never open a FIFO or a device (open() would block or read forever)
        return False
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def list_series(folder: str | Path) -> dict[str, list[Path]]:
    """Group the DICOM files under ``folder`` (recursively) by SeriesInstanceUID."""
    import pydicom

    folder = Path(folder)
    if not folder.is_dir():
        raise UnsupportedFormatError(folder, "expected a folder of DICOM files")
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and _is_dicom(p)):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - an unreadable file is reported when the series is read
            groups["<unreadable>"].append(path)
            continue
        groups[str(getattr(ds, "SeriesInstanceUID", "<no series uid>"))].append(path)
    return dict(groups)


def read_dicom_series(folder: str | Path, series_uid: str | None = None) -> Volume:
    """Read one series from a folder. With several series present, ``series_uid`` picks one."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    folder = Path(folder)
    groups = list_series(folder)
    bad = groups.pop("<unreadable>", [])
    if bad and not groups:
        raise CorruptFileError(bad[0], "not a readable DICOM file")
    if not groups:
        raise EmptyFileError(folder, "folder holds no DICOM files")
    if series_uid is None:
        if len(groups) > 1:
            raise WrongDimensionError(folder, f"folder holds {len(groups)} DICOM series; import them one at a time")
        series_uid = next(iter(groups))
    if series_uid not in groups:
        raise UnsupportedFormatError(folder, f"series {series_uid} not found")
    slices = []
    total = 0
    for path in groups[series_uid]:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            total += _claimed_values(path, ds)
            if total > max_pixels():
                raise TooLargeError(folder, f"series claims {total:,} voxels; the limit is {max_pixels():,}")
            ds = pydicom.dcmread(path)
            pixels = ds.pixel_array
        except InputError:
            raise
        except MemoryError:
            raise TooLargeError(path, "pixel data is too large to decode in the available memory") from None
        except (InvalidDicomError, AttributeError, ValueError, OSError, EOFError) as exc:
            raise CorruptFileError(path, f"cannot decode DICOM pixel data: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types for damaged files
            raise CorruptFileError(path, f"cannot decode DICOM pixel data: {exc}") from exc
        if pixels.ndim != 2:
            raise WrongDimensionError(path, f"pixel data of shape {pixels.shape}; expected one 2-D slice per file")
        slope = _number(path, ds, "RescaleSlope", 1.0)
        inter = _number(path, ds, "RescaleIntercept", 0.0)
        if slope == 0:
            raise CorruptFileError(path, "RescaleSlope is 0 (every voxel would have the same value)")
        with np.errstate(over="ignore", invalid="ignore"):
            values = pixels.astype(np.float32) * np.float32(slope) + np.float32(inter)
        if not np.isfinite(values).all():
            raise CorruptFileError(path, f"rescale (slope {slope:g}, intercept {inter:g}) gives values beyond float32")
        slices.append((ds, values, path))
    shapes = {s[1].shape for s in slices}
    if len(shapes) > 1:
        raise WrongDimensionError(folder, f"slices of different sizes in one series: {sorted(shapes)}")

    ds0, path0 = slices[0][0], slices[0][2]
    row_dir, col_dir = _orientation(path0, ds0)
    normal = np.cross(row_dir, col_dir)
    spacing_rc = _vector(path0, ds0, "PixelSpacing", 2, [1.0, 1.0])
    if not all(v > 0 for v in spacing_rc):
        raise CorruptFileError(path0, f"PixelSpacing {spacing_rc} must be two positive numbers")
    for ds, _, p in slices:
        _vector(p, ds, "ImagePositionPatient", 3, [0.0, 0.0, 0.0])

    def position(ds) -> np.ndarray:
        return np.array(_vector(None, ds, "ImagePositionPatient", 3, [0.0, 0.0, 0.0]), dtype=np.float64)

    if len(slices) > 1:
        slices.sort(key=lambda s: float(position(s[0]) @ normal))
        positions = [float(position(s[0]) @ normal) for s in slices]
        if len(set(np.round(positions, 4))) != len(positions):
            raise WrongDimensionError(folder, "several slices share one position (multiple echoes or time points?)")
        step = (position(slices[-1][0]) - position(slices[0][0])) / (len(slices) - 1)
    else:
        thickness = _number(path0, ds0, "SpacingBetweenSlices", 0.0) or _number(path0, ds0, "SliceThickness", 1.0) or 1.0
        if thickness <= 0:
            raise CorruptFileError(path0, f"slice thickness {thickness:g} must be positive")
        step = normal * thickness

    # Voxel (i, j, k): i runs along a row (column index), j down the rows, k across slices.
    data = np.stack([s[1].T for s in slices], axis=-1)
    lps = np.eye(4)
    lps[:3, 0] = row_dir * spacing_rc[1]
    lps[:3, 1] = col_dir * spacing_rc[0]
    lps[:3, 2] = step
    lps[:3, 3] = position(slices[0][0])
    affine = LPS_TO_RAS @ lps
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise CorruptFileError(folder, "slice positions and orientation do not form a valid 3-D grid")
    spacing = (spacing_rc[1], spacing_rc[0], float(np.linalg.norm(step)))
    meta = {
        "series_uid": series_uid,
        "modality": str(getattr(ds0, "Modality", "")),
        "series_description": str(getattr(ds0, "SeriesDescription", "")),
        "files": len(slices),
    }
    return Volume(data=np.ascontiguousarray(data), affine=affine, spacing=spacing, header=None, meta=meta)


def _claimed_values(path: Path, ds) -> int:
    """Rows x columns x frames x samples from the header, checked against the budget and file size."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
        bits = int(getattr(ds, "BitsAllocated", 16) or 16)
    except (AttributeError, TypeError, ValueError) as exc:
        raise CorruptFileError(path, f"image size attributes are missing or not numbers ({exc})") from None
    if min(rows, cols, frames, samples, bits) <= 0:
        raise CorruptFileError(path, f"claims {cols}x{rows} pixels, {frames} frame(s), {samples} sample(s), {bits} bits")
    n = rows * cols * frames * samples
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    compressed = bool(syntax is not None and getattr(syntax, "is_compressed", False))
    check_pixel_budget(path, n, bits / 8, stored_raw=not compressed, what="pixels")
    return n


def _attr(path: Path | None, ds, keyword: str):
    try:
        return getattr(ds, keyword, None)
    except Exception as exc:  # noqa: BLE001 - pydicom converts values lazily and raises many types for bad ones
        raise CorruptFileError(path, f"{keyword} cannot be read ({exc})") from None


def _number(path: Path | None, ds, keyword: str, default: float) -> float:
    value = _attr(path, ds, keyword)
    if value is None or value == "":
        return default
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise CorruptFileError(path, f"{keyword} {str(value)[:40]!r} is not a number") from None
    if not np.isfinite(out):
        raise CorruptFileError(path, f"{keyword} is {out}")
    return out


def _vector(path: Path | None, ds, keyword: str, length: int, default: list[float]) -> list[float]:
    value = _attr(path, ds, keyword)
    if value is None or value == "":
        return list(default)
    try:
        out = [
            float(v)
            for v in (value if isinstance(value, (list, tuple)) or hasattr(value, "__len__") and not isinstance(value, str) else [value])
        ]
    except (TypeError, ValueError):
        raise CorruptFileError(path, f"{keyword} {str(value)[:60]!r} is not a list of numbers") from None
    if len(out) != length or not np.isfinite(out).all():
        raise CorruptFileError(path, f"{keyword} must hold {length} finite numbers, got {str(value)[:60]!r}")
    return out


def _orientation(path: Path, ds) -> tuple[np.ndarray, np.ndarray]:
    """Row and column direction cosines: two unit vectors at right angles."""
    iop = np.array(_vector(path, ds, "ImageOrientationPatient", 6, [1, 0, 0, 0, 1, 0]), dtype=np.float64)
    row_dir, col_dir = iop[:3], iop[3:]
    nr, nc = np.linalg.norm(row_dir), np.linalg.norm(col_dir)
    if nr < 1e-3 or nc < 1e-3 or abs(nr - 1) > 0.05 or abs(nc - 1) > 0.05 or abs(float(row_dir @ col_dir)) / (nr * nc) > 0.05:
        raise CorruptFileError(path, f"ImageOrientationPatient {iop.round(4).tolist()} is not two perpendicular unit vectors")
    return row_dir / nr, col_dir / nc
