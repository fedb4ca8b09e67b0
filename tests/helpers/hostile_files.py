"""Generators of hostile and broken input files (small on disk; they only *claim* to be large).

Used by the hostile-input tests (tests/core/hostile/) and by ``bench/robustness.py``. Every
generator writes into a folder it is given and returns the path it wrote.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np


# -- PNG / JPEG / BMP ------------------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(path: Path, width: int, height: int, colour_type: int = 0, bit_depth: int = 8, idat: bytes | None = None) -> Path:
    """A PNG whose header claims ``width`` x ``height`` with almost no data behind it."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = zlib.compress(b"\x00" * 64) if idat is None else idat
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))
    return path


def jpeg_claiming(path: Path, width: int, height: int) -> Path:
    """A real 16x16 JPEG whose SOF header is patched to claim ``width`` x ``height``."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def bmp_claiming(path: Path, width: int, height: int) -> Path:
    header = b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 16, 2835, 2835, 0, 0)
    path.write_bytes(header + info + b"\x00" * 16)
    return path


def truncated_copy(src: Path, path: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * fraction))])
    return path


def valid_png(path: Path, shape=(64, 64), seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(path)
    return path


# -- TIFF -----------------------------------------------------------------------------------------
def tiff_raw(
    path: Path, width: int, height: int, samples: int = 1, bits: int = 8, rows_per_strip: int | None = None, data: bytes = b""
) -> Path:
    """A minimal little-endian TIFF written by hand, so its tags can say anything."""
    data = data or b"\x00" * 64
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, bits),
        (259, 3, 1, 1),
        (262, 3, 1, 1 if samples == 1 else 2),
        (273, 4, 1, 8),  # strip offset: the data right after the header
        (277, 3, 1, samples),
        (278, 4, 1, height if rows_per_strip is None else rows_per_strip),
        (279, 4, 1, len(data)),
    ]
    ifd_offset = 8 + len(data)
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        packed = struct.pack("<HHI", tag, typ, count) + (struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value))
        ifd += packed
    ifd += struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", ifd_offset) + data + ifd)
    return path


def tiff_float(path: Path, values: np.ndarray) -> Path:
    import tifffile

    tifffile.imwrite(path, np.asarray(values, np.float32))
    return path


def tiff_channels(path: Path, n: int = 5) -> Path:
    import tifffile

    tifffile.imwrite(path, np.zeros((32, 32, n), np.uint8), photometric="minisblack", planarconfig="contig")
    return path


def tiff_inconsistent_pages(path: Path) -> Path:
    import tifffile

    with tifffile.TiffWriter(path) as w:
        w.write(np.zeros((32, 32), np.uint8))
        w.write(np.zeros((16, 32), np.uint8))
        w.write(np.zeros((32, 32), np.uint8))
    return path


# -- NIfTI ------------------------------------------------------------------------------------------
def nifti_header_bytes(
    shape=(4, 4, 4), datatype: int = 16, bitpix: int = 32, pixdim=(1.0, 1.0, 1.0), dims: list[int] | None = None, nan_affine: bool = False
) -> bytes:
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.float32)
    hdr.set_data_shape((4, 4, 4))
    hdr.set_zooms((1.0, 1.0, 1.0))
    hdr.set_sform(np.eye(4), 1)
    raw = bytearray(hdr.binaryblock)
    dim = dims if dims is not None else [len(shape), *shape] + [1] * (7 - len(shape))
    raw[40:56] = struct.pack("<8h", *(dim + [1] * (8 - len(dim)))[:8])
    raw[70:72] = struct.pack("<h", datatype)
    raw[72:74] = struct.pack("<h", bitpix)
    raw[80:92] = struct.pack("<3f", *pixdim)
    if nan_affine:
        raw[280:328] = struct.pack("<12f", *([float("nan")] * 12))
    return bytes(raw) + b"\x00" * 4  # extension flag bytes up to vox_offset 352


def nifti_claiming(
    path: Path,
    shape=(2000, 2000, 2000),
    datatype: int = 16,
    bitpix: int = 32,
    dims=None,
    payload: bytes = b"",
    pixdim=(1.0, 1.0, 1.0),
    nan_affine=False,
) -> Path:
    """A NIfTI (gzipped for .nii.gz) whose header says anything, followed by ``payload``."""
    data = nifti_header_bytes(shape, datatype, bitpix, pixdim, dims, nan_affine) + payload
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def nifti_values(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), str(path))
    return path


# -- DICOM ------------------------------------------------------------------------------------------
def dicom_series(folder: Path, n: int = 2, **overrides) -> Path:
    """A small series (pydicom's MR_small) with attributes overridden, e.g. bad orientation;
    ``patch={b"7.77": b"abc "}`` rewrites stored bytes pydicom would refuse to write."""
    import pydicom
    from pydicom import config
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    uid = generate_uid()
    mode = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE  # write values a valid file cannot hold
    try:
        _write_series(folder, base, uid, n, overrides)
    finally:
        config.settings.writing_validation_mode = mode
    return folder


def _write_series(folder: Path, base, uid: str, n: int, overrides: dict) -> None:
    import copy

    from pydicom.uid import generate_uid

    for k in range(n):
        ds = copy.deepcopy(base)
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = generate_uid()
        ds.ImagePositionPatient = [0.0, 0.0, float(2 * k)]
        patch = overrides.get("patch", {})  # {placeholder bytes: garbage of the same length}, applied to the file
        for key, value in overrides.items():
            if key != "patch":
                setattr(ds, key, value)
        path = folder / f"s{k}.dcm"
        ds.save_as(path, enforce_file_format=True)
        data = path.read_bytes()
        for old, new in patch.items():
            assert len(old) == len(new) and old in data, (old, new)
            data = data.replace(old, new)
        path.write_bytes(data)


# -- JSON / LabelMe ---------------------------------------------------------------------------------
def labelme_doc(path: Path, image_path: str = "img.png", shapes=None, **extra) -> Path:
    doc = {"version": "5.5.0", "flags": {}, "shapes": shapes if shapes is not None else [], "imagePath": image_path}
    doc.update({"imageData": None, "imageHeight": 64, "imageWidth": 64})
    doc.update(extra)
    path.write_text(json.dumps(doc))
    return path


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth
