"""DICOM series folders to a :class:`Volume` with a RAS+ affine (as dcm2niix computes it)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from core.errors import CorruptFileError, EmptyFileError, UnsupportedFormatError, WrongDimensionError
from core.io.volume import Volume

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _is_dicom(path: Path) -> bool:
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
    for path in groups[series_uid]:
        try:
            ds = pydicom.dcmread(path)
            pixels = ds.pixel_array
        except (InvalidDicomError, AttributeError, ValueError, OSError, EOFError) as exc:
            raise CorruptFileError(path, f"cannot decode DICOM pixel data: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types for damaged files
            raise CorruptFileError(path, f"cannot decode DICOM pixel data: {exc}") from exc
        if pixels.ndim != 2:
            raise WrongDimensionError(path, f"pixel data of shape {pixels.shape}; expected one 2-D slice per file")
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        inter = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        slices.append((ds, pixels.astype(np.float32) * slope + inter, path))
    shapes = {s[1].shape for s in slices}
    if len(shapes) > 1:
        raise WrongDimensionError(folder, f"slices of different sizes in one series: {sorted(shapes)}")

    ds0 = slices[0][0]
    iop = np.array(getattr(ds0, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), dtype=np.float64)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    spacing_rc = [float(x) for x in getattr(ds0, "PixelSpacing", [1.0, 1.0])]

    def position(ds) -> np.ndarray:
        return np.array(getattr(ds, "ImagePositionPatient", [0.0, 0.0, 0.0]), dtype=np.float64)

    if len(slices) > 1:
        slices.sort(key=lambda s: float(position(s[0]) @ normal))
        positions = [float(position(s[0]) @ normal) for s in slices]
        if len(set(np.round(positions, 4))) != len(positions):
            raise WrongDimensionError(folder, "several slices share one position (multiple echoes or time points?)")
        step = (position(slices[-1][0]) - position(slices[0][0])) / (len(slices) - 1)
    else:
        thickness = float(getattr(ds0, "SpacingBetweenSlices", 0) or getattr(ds0, "SliceThickness", 1.0) or 1.0)
        step = normal * thickness

    # Voxel (i, j, k): i runs along a row (column index), j down the rows, k across slices.
    data = np.stack([s[1].T for s in slices], axis=-1)
    lps = np.eye(4)
    lps[:3, 0] = row_dir * spacing_rc[1]
    lps[:3, 1] = col_dir * spacing_rc[0]
    lps[:3, 2] = step
    lps[:3, 3] = position(slices[0][0])
    affine = LPS_TO_RAS @ lps
    spacing = (spacing_rc[1], spacing_rc[0], float(np.linalg.norm(step)))
    meta = {
        "series_uid": series_uid,
        "modality": str(getattr(ds0, "Modality", "")),
        "series_description": str(getattr(ds0, "SeriesDescription", "")),
        "files": len(slices),
    }
    return Volume(data=np.ascontiguousarray(data), affine=affine, spacing=spacing, header=None, meta=meta)
