"""Ophthalmic DICOM: Ophthalmic Photography (OP, 8/16 bit) and Ophthalmic Tomography (OPT) with pydicom.

Pixel data is decoded by pydicom's own pixel handlers (native, RLE, and JPEG baseline / JPEG 2000
through the installed pylibjpeg plugins); YBR colour is converted to RGB by pydicom. Before
anything is decoded the header's claimed size is checked against the pixel budget and, for
uncompressed transfer syntaxes, against the file size (:mod:`core.io.limits`).

B-scan positions come from each frame's Ophthalmic Frame Location Sequence (0022,0031):
Reference Coordinates (0022,0032) are row/column pairs in the referenced image, with the top-left
corner of the top-left pixel at 0.0\\0.0 (its centre at 0.5\\0.5); they are converted to the
pixel-index convention of :mod:`core.io.ophthalmic` (subtract 0.5).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CorruptFileError, EmptyFileError, UnsupportedFormatError, WrongDimensionError
from core.io.limits import check_dimensions, check_pixel_budget
from core.io.ophthalmic import OctSpacing, OctVolume, OphthalmicPhoto, laterality_code, sniff

OP_8BIT = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
OP_16BIT = "1.2.840.10008.5.1.4.1.1.77.1.5.2"
OPT = "1.2.840.10008.5.1.4.1.1.77.1.5.4"
PHOTO_CLASSES = {
    OP_8BIT: "Ophthalmic Photography 8 Bit",
    OP_16BIT: "Ophthalmic Photography 16 Bit",
    "1.2.840.10008.5.1.4.1.1.77.1.4": "VL Photographic",
    "1.2.840.10008.5.1.4.1.1.77.1.5.5": "Wide Field Ophthalmic Photography (stereographic)",
    "1.2.840.10008.5.1.4.1.1.77.1.5.6": "Wide Field Ophthalmic Photography (3-D coordinates)",
}


def is_dicom_file(path: Path) -> bool:
    """A Part-10 file (``DICM`` at byte 128) or a ``.dcm`` file."""
    return path.suffix.lower() == ".dcm" or sniff(path)[128:132] == b"DICM"


def _header(path: Path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not path.is_file():
        raise CorruptFileError(path, "file does not exist" if not path.exists() else "is not a regular file")
    if path.stat().st_size == 0:
        raise EmptyFileError(path, "file is empty (0 bytes)")
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise CorruptFileError(path, f"not a DICOM file ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for damaged headers
        raise CorruptFileError(path, f"cannot read the DICOM header: {exc.__class__.__name__}: {exc}") from None


def ophthalmic_kind(path: str | Path) -> str | None:
    """'opt' for an OCT volume, 'op' for an ophthalmic photo, None for any other (or unreadable) DICOM."""
    try:
        ds = _header(Path(path))
    except CorruptFileError:
        return None
    return _kind(ds)


def _kind(ds) -> str | None:
    sop = str(getattr(ds, "SOPClassUID", ""))
    modality = str(getattr(ds, "Modality", "")).upper()
    if sop == OPT or (modality == "OPT" and sop not in PHOTO_CLASSES):
        return "opt"
    if sop in PHOTO_CLASSES or modality in ("OP", "XC") and int(getattr(ds, "NumberOfFrames", 1) or 1) == 1:
        return "op"
    return None


def read_ophthalmic_dicom(path: str | Path) -> OctVolume | OphthalmicPhoto:
    """Read an OP photo or an OPT volume; any other DICOM is refused with the reason."""
    path = Path(path)
    header = _header(path)
    if not getattr(header, "SOPClassUID", None) and not getattr(header, "Modality", None):
        raise CorruptFileError(path, "DICOM file without an image header (no SOP Class UID, no Modality)")
    kind = _kind(header)
    if kind is None:
        what = f"{getattr(header, 'Modality', '?')} ({getattr(header, 'SOPClassUID', 'no SOP class')})"
        raise UnsupportedFormatError(path, f"DICOM {what} is not an ophthalmic photo (OP) or OCT volume (OPT)")
    pixels, ds = _decode(path, header, kind)
    common: dict[str, Any] = dict(
        laterality=_laterality(ds),
        acquired=_acquired(ds),
        device=" ".join(str(getattr(ds, k, "") or "") for k in ("Manufacturer", "ManufacturerModelName")).strip(),
        path=str(path),
        uids=_uids(ds),
    )
    if kind == "op":
        spacing = _floats(getattr(ds, "PixelSpacing", None), 2)
        return OphthalmicPhoto(
            pixels=pixels,
            spacing_um=(spacing[1] * 1000.0, spacing[0] * 1000.0) if spacing else None,
            photometric=str(getattr(ds, "PhotometricInterpretation", "")),
            source_format=f"DICOM {PHOTO_CLASSES.get(str(ds.SOPClassUID), 'OP')}",
            **common,
        )
    positions, loc_uid, warnings = _frame_locations(ds, pixels.shape[0])
    if loc_uid:
        common["uids"]["localizer_uid"] = loc_uid
    return OctVolume(
        bscans=pixels,
        positions=positions,
        spacing=_opt_spacing(ds),
        source_format="DICOM Ophthalmic Tomography",
        warnings=warnings,
        **common,
    )


def _decode(path: Path, header, kind: str):
    import pydicom

    try:
        rows, cols = check_dimensions(path, {"Rows": header.Rows, "Columns": header.Columns})
        frames, spp = check_dimensions(
            path, {"NumberOfFrames": getattr(header, "NumberOfFrames", 1) or 1, "SamplesPerPixel": header.SamplesPerPixel}
        )
        bits = int(header.BitsAllocated)
    except AttributeError as exc:
        raise CorruptFileError(path, f"DICOM image without {exc.args[0] if exc.args else 'its image attributes'}") from None
    if bits not in (8, 16) or spp not in (1, 3):
        raise UnsupportedFormatError(path, f"{bits}-bit pixels with {spp} samples per pixel are not supported")
    ts = getattr(getattr(header, "file_meta", None), "TransferSyntaxUID", None)
    compressed = bool(ts is not None and getattr(ts, "is_compressed", False))
    check_pixel_budget(path, rows * cols * frames * spp, bits / 8, stored_raw=not compressed)
    if kind == "op" and frames != 1:
        raise WrongDimensionError(path, f"ophthalmic photo with {frames} frames; expected one image")
    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except MemoryError:
        raise CorruptFileError(path, "pixel data cannot be decoded within the memory available") from None
    except Exception as exc:  # noqa: BLE001 - decoders raise many types for damaged data
        raise CorruptFileError(path, f"cannot decode DICOM pixel data: {exc.__class__.__name__}: {exc}") from None
    expect = ((frames,) if frames > 1 else ()) + (rows, cols) + ((3,) if spp == 3 else ())
    if tuple(pixels.shape) != expect:
        raise CorruptFileError(path, f"decoded pixels of shape {pixels.shape}; the header claims {expect}")
    if pixels.dtype.kind == "i":
        if pixels.size and int(pixels.min()) < 0:
            raise UnsupportedFormatError(path, "signed pixel values below 0 are not supported for ophthalmic images")
        pixels = pixels.astype(np.uint16 if bits == 16 else np.uint8)
    if str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1":  # 0 is white: store as MONOCHROME2
        top = (1 << int(getattr(ds, "BitsStored", bits) or bits)) - 1
        pixels = (top - np.minimum(pixels, top)).astype(pixels.dtype)
    if kind == "opt":
        if spp != 1:
            raise UnsupportedFormatError(path, "colour OCT B-scans are not supported; expected MONOCHROME frames")
        if pixels.ndim == 2:
            pixels = pixels[None]
    return np.ascontiguousarray(pixels), ds


def _values(value) -> list:
    if value is None or isinstance(value, str | bytes):
        return [] if value is None else [value]
    try:
        return list(value)
    except TypeError:
        return [value]


def _floats(value, n: int | None = None) -> list[float] | None:
    """Positive finite numbers (``n`` of them when given), else None."""
    try:
        seq = [float(v) for v in _values(value)]
    except (TypeError, ValueError):
        return None
    if not seq or (n is not None and len(seq) != n) or not all(np.isfinite(seq)) or any(v <= 0 for v in seq):
        return None
    return seq


def _first_item(ds, *path: str):
    """Follow sequence names, taking item 0 of each; None when any step is missing."""
    obj = ds
    for name in path:
        seq = getattr(obj, name, None)
        if not seq:
            return None
        obj = seq[0]
    return obj


def _laterality(ds) -> str | None:
    for value in (getattr(ds, "ImageLaterality", None), getattr(ds, "Laterality", None)):
        if laterality_code(value):
            return laterality_code(value)
    anatomy = _first_item(ds, "SharedFunctionalGroupsSequence", "FrameAnatomySequence")
    return laterality_code(getattr(anatomy, "FrameLaterality", None)) if anatomy is not None else None


def _acquired(ds) -> str | None:
    from pydicom.valuerep import DA, DT, TM

    try:
        if getattr(ds, "AcquisitionDateTime", None):
            return DT(ds.AcquisitionDateTime).isoformat()
        for d, t in (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime"), ("StudyDate", "StudyTime")):
            if getattr(ds, d, None):
                date = DA(getattr(ds, d))
                time = TM(getattr(ds, t)) if getattr(ds, t, None) else _dt.time()
                return _dt.datetime.combine(date, time).isoformat()
    except (ValueError, TypeError):
        return None
    return None


def _uids(ds) -> dict:
    out: dict[str, Any] = {
        "study_uid": str(getattr(ds, "StudyInstanceUID", "") or ""),
        "series_uid": str(getattr(ds, "SeriesInstanceUID", "") or ""),
        "sop_instance_uid": str(getattr(ds, "SOPInstanceUID", "") or ""),
        "sop_class_uid": str(getattr(ds, "SOPClassUID", "") or ""),
    }
    items = [*(getattr(ds, "ReferencedImageSequence", None) or []), *(getattr(ds, "SourceImageSequence", None) or [])]
    refs = [str(getattr(item, "ReferencedSOPInstanceUID", "")) for item in items]
    refs = [r for r in refs if r]
    if refs:
        out["referenced_uids"] = refs
    return {k: v for k, v in out.items() if v}


def _opt_spacing(ds) -> OctSpacing:
    measures = _first_item(ds, "SharedFunctionalGroupsSequence", "PixelMeasuresSequence") or _first_item(
        ds, "PerFrameFunctionalGroupsSequence", "PixelMeasuresSequence"
    )
    px = _floats(getattr(measures, "PixelSpacing", None), 2) if measures is not None else None
    between = None
    frames = getattr(ds, "PerFrameFunctionalGroupsSequence", None) or []
    if len(frames) >= 2:
        try:
            pos = [np.array(f.PlanePositionSequence[0].ImagePositionPatient, dtype=np.float64) for f in frames]
            steps = np.linalg.norm(np.diff(np.stack(pos), axis=0), axis=1)
            if np.isfinite(steps).all() and steps.min() > 0:
                between = float(np.median(steps)) * 1000.0
        except (AttributeError, IndexError, ValueError, TypeError):
            between = None
    if between is None and measures is not None:
        thick = _floats(getattr(measures, "SliceThickness", None), 1)
        between = thick[0] * 1000.0 if thick else None
    return OctSpacing(x_um=px[1] * 1000.0 if px else None, axial_um=px[0] * 1000.0 if px else None, between_um=between)


def _frame_locations(ds, n: int) -> tuple[np.ndarray | None, str | None, list[str]]:
    """Per-frame start/end of each B-scan on the referenced image, and that image's SOP Instance UID."""
    frames = getattr(ds, "PerFrameFunctionalGroupsSequence", None) or []
    locs = [_first_item(f, "OphthalmicFrameLocationSequence") for f in frames]
    ref = next((str(getattr(x, "ReferencedSOPInstanceUID", "")) for x in locs if x is not None), None)
    if ref is None:
        items = getattr(ds, "ReferencedImageSequence", None) or []
        ref = str(getattr(items[0], "ReferencedSOPInstanceUID", "")) if items else None
    if not any(x is not None for x in locs):
        return None, ref or None, []
    if len(frames) != n or any(x is None for x in locs):
        return None, ref or None, [f"B-scan positions are given for {sum(x is not None for x in locs)} of {n} frames; ignored"]
    out = np.empty((n, 2, 2), dtype=np.float64)
    for i, loc in enumerate(locs):
        coords = _coords(getattr(loc, "ReferenceCoordinates", None))
        if coords is None:
            return None, ref or None, [f"frame {i + 1}: Reference Coordinates are not row/column pairs; B-scan positions ignored"]
        (r0, c0), (r1, c1) = coords[0], coords[-1]
        out[i] = ((c0 - 0.5, r0 - 0.5), (c1 - 0.5, r1 - 0.5))
    if len({str(getattr(x, "ReferencedSOPInstanceUID", "")) for x in locs}) > 1:
        return None, ref or None, ["B-scan positions refer to several images; ignored"]
    return out, ref or None, []


def _coords(value) -> list[tuple[float, float]] | None:
    if value is None:
        return None
    try:
        flat = [float(v) for v in _values(value)]
    except (TypeError, ValueError):
        return None
    if len(flat) < 4 or len(flat) % 2 or not all(np.isfinite(flat)):
        return None
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def header_summary(path: str | Path) -> dict:
    """What grouping needs, from the header only: kind, UIDs, laterality, references, colour."""
    path = Path(path)
    ds = _header(path)
    refs = set(_uids(ds).get("referenced_uids", []))
    for frame in getattr(ds, "PerFrameFunctionalGroupsSequence", None) or []:
        loc = _first_item(frame, "OphthalmicFrameLocationSequence")
        if loc is not None and getattr(loc, "ReferencedSOPInstanceUID", None):
            refs.add(str(loc.ReferencedSOPInstanceUID))
    return {
        "path": path,
        "kind": _kind(ds),
        "study_uid": str(getattr(ds, "StudyInstanceUID", "") or ""),
        "sop_uid": str(getattr(ds, "SOPInstanceUID", "") or ""),
        "laterality": _laterality(ds),
        "refs": refs,
        "colour": int(getattr(ds, "SamplesPerPixel", 1) or 1) == 3,
    }
