"""The inputs of ``bench/robustness.py``: several hundred hostile or broken inputs, one command
line each. Files come from ``tests/helpers/hostile_files.py`` (generated, small on disk) plus
seeded byte mutations of valid files.

Each input is a :class:`Case`: the arguments after ``anomaly-studio``, whether it must be refused
(exit 2 naming ``names``) or may also be accepted (a mutation that still decodes), and its class.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.helpers import hostile_files as H


@dataclass
class Case:
    name: str
    klass: str
    argv: list[str]
    must_refuse: bool = True
    names: str = ""  # text the refusal must contain (the file or id); "" = any
    env: dict = field(default_factory=dict)
    expect_rc: int | None = None  # a specific exit code (restore: 0, closed pipe: 141)
    closed_stdout: bool = False
    hold_db: str | None = None  # a workspace whose database another process holds during the run
    full_disk_mb: int | None = None  # run inside a private tmpfs of this size holding a copy of the workspace
    mention: str = ""  # an accepted run (exit 0) must still say this on stderr (e.g. the image it skipped)


def fresh_dir(folder: Path, name: str) -> Path:
    d = folder / name
    d.mkdir(parents=True)
    return d


def import_case(src: Path, ws: Path, klass: str, name: str, must=True, names=None) -> Case:
    return Case(name, klass, ["import", str(src), "-w", str(ws)], must, names if names is not None else name)


def image_cases(root: Path, ws: Path) -> list[Case]:
    out = []
    bombs = [(20000, 20000), (17000, 17000), (100000, 3000), (3000, 100000), (65535, 65535), (16385, 16385)]
    for i, (w, h) in enumerate(bombs):
        for kind, make in (("png", H.png_claiming), ("jpg", H.jpeg_claiming), ("bmp", H.bmp_claiming), ("tif", H.tiff_raw)):
            if kind == "jpg" and max(w, h) > 65535:
                continue
            d = fresh_dir(root, f"bomb-{kind}-{i}")
            make(d / f"bomb{i}.{kind}", w, h)
            out.append(import_case(d, ws, "decompression bomb", f"bomb{i}.{kind}"))
    for i, (w, h) in enumerate([(4000, 4000), (8000, 2000), (12000, 12000)]):
        d = fresh_dir(root, f"ratio-png-{i}")
        H.png_claiming(d / f"ratio{i}.png", w, h, colour_type=2, bit_depth=16)
        out.append(import_case(d, ws, "decompression bomb", f"ratio{i}.png"))
    src_png = H.valid_png(root / "valid.png", (96, 128), seed=3)
    from PIL import Image

    Image.open(src_png).save(root / "valid.jpg", quality=90)
    import tifffile

    tifffile.imwrite(root / "valid.tif", np.random.default_rng(4).integers(0, 255, (3, 64, 80), dtype=np.uint8))
    for ext in ("png", "jpg", "tif"):
        for i, frac in enumerate((0.05, 0.2, 0.4, 0.6, 0.8, 0.95)):
            d = fresh_dir(root, f"trunc-{ext}-{i}")
            H.truncated_copy(root / f"valid.{ext}", d / f"trunc{i}.{ext}", frac)
            out.append(import_case(d, ws, "truncated file", f"trunc{i}.{ext}", must=False))
    structured = {
        "rps0.tif": lambda p: H.tiff_raw(p, 32, 32, rows_per_strip=0),
        "width0.tif": lambda p: H.tiff_raw(p, 0, 32),
        "bits3.tif": lambda p: H.tiff_raw(p, 8, 8, bits=3),
        "bits64.tif": lambda p: H.tiff_raw(p, 8, 8, bits=64),
        "samples5.tif": lambda p: H.tiff_raw(p, 8, 8, samples=5, data=bytes(320)),
        "samples9_oct.tif": lambda p: H.tiff_raw(p, 8, 8, samples=9, data=bytes(576)),
        "channels5_oct.tif": lambda p: H.tiff_channels(p, 5),
        "channels7_oct.tif": lambda p: H.tiff_channels(p, 7),
        "pages_oct.tif": H.tiff_inconsistent_pages,
        "nan.tif": lambda p: H.tiff_float(p, np.full((8, 8), np.nan)),
        "inf.tif": lambda p: H.tiff_float(p, np.full((8, 8), np.inf)),
        "ninf.tif": lambda p: H.tiff_float(p, np.full((8, 8), -np.inf)),
        "huge.tif": lambda p: H.tiff_float(p, np.full((8, 8), 7.9e19)),
        "empty.png": lambda p: p.write_bytes(b""),
        "empty.tif": lambda p: p.write_bytes(b""),
        "one_pixel.png": lambda p: H.valid_png(p, (1, 1)),
        "noise.png": lambda p: p.write_bytes(np.random.default_rng(7).bytes(4096)),
        "noise.jpg": lambda p: p.write_bytes(np.random.default_rng(8).bytes(4096)),
        "noise.tif": lambda p: p.write_bytes(b"II*\x00" + np.random.default_rng(9).bytes(4096)),
        "noise_be.tif": lambda p: p.write_bytes(b"MM\x00*" + np.random.default_rng(10).bytes(4096)),
        "html.png": lambda p: p.write_text("<html>not an image</html>"),
        "ifd_loop.tif": lambda p: p.write_bytes(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 0) + struct.pack("<I", 8)),
    }
    for fname, make in structured.items():
        d = fresh_dir(root, f"bad-{fname}")
        make(d / fname)
        out.append(import_case(d, ws, "broken image header or values", fname))
    return out + mutations(root, ws) + dicom_mutations(root, ws)


def dicom_mutations(root: Path, ws: Path, n: int = 18) -> list[Case]:
    series = H.dicom_series(root / "valid-dicom", n=2)
    files = sorted(series.iterdir())
    out = []
    for seed in range(n):
        rng = np.random.default_rng(2000 + seed)
        d = fresh_dir(root, f"mut-dcm-{seed}") / f"mutdcm{seed}"
        d.mkdir()
        for f in files:
            buf = bytearray(f.read_bytes())
            for _ in range(int(rng.integers(1, 20))):
                pos = int(rng.integers(132, len(buf)))
                buf[pos] = int(rng.integers(0, 256))
            (d / f.name).write_bytes(bytes(buf))
        out.append(import_case(d.parent, ws, "mutated file", f"mutdcm{seed}", must=False))
    return out


def mutations(root: Path, ws: Path, per_kind: int = 36) -> list[Case]:
    """Seeded random byte flips of valid files (past the magic bytes): accept or refuse, never crash."""
    out = []
    H.nifti_values(root / "valid.nii.gz", np.random.default_rng(5).random((8, 9, 10)).astype(np.float32))
    H.nifti_values(root / "valid.nii", np.random.default_rng(6).random((8, 9, 10)).astype(np.float32))
    for ext in ("png", "jpg", "tif", "nii.gz", "nii"):
        data = (root / f"valid.{ext}").read_bytes()
        for seed in range(per_kind if ext in ("png", "jpg", "tif") else per_kind // 2):
            rng = np.random.default_rng(1000 + seed)
            buf = bytearray(data)
            for _ in range(int(rng.integers(1, 12))):
                pos = int(rng.integers(8, len(buf)))
                buf[pos] = int(rng.integers(0, 256))
            d = fresh_dir(root, f"mut-{ext}-{seed}")
            (d / f"mut{seed}.{ext}").write_bytes(bytes(buf))
            out.append(import_case(d, ws, "mutated file", f"mut{seed}.{ext}", must=False))
    return out


def nifti_cases(root: Path, ws: Path) -> list[Case]:
    specs = {
        "bomb2000.nii.gz": {},
        "bomb600.nii.gz": {"shape": (600, 600, 600)},
        "bomb300.nii.gz": {"shape": (300, 300, 300)},
        "bomb_i16.nii.gz": {"shape": (1000, 1000, 1000), "datatype": 4, "bitpix": 16},
        "bomb_4d.nii.gz": {"shape": (200, 200, 200, 50)},
        "neg.nii.gz": {"dims": [3, -5, 4, 4]},
        "zero.nii.gz": {"dims": [3, 0, 4, 4]},
        "ndim0.nii.gz": {"dims": [0, 4, 4, 4]},
        "ndim8.nii.gz": {"dims": [8, 2, 2, 2, 2, 2, 2, 2], "payload": bytes(1024)},
        "ndim_neg.nii.gz": {"dims": [-3, 4, 4, 4]},
        "dt0.nii.gz": {"shape": (4, 4, 4), "datatype": 0, "payload": bytes(256)},
        "dt9999.nii.gz": {"shape": (4, 4, 4), "datatype": 9999, "payload": bytes(256)},
        "dt_complex.nii.gz": {"shape": (4, 4, 4), "datatype": 32, "bitpix": 64, "payload": bytes(512)},
        "dt_rgb.nii.gz": {"shape": (4, 4, 4), "datatype": 128, "bitpix": 24, "payload": bytes(192)},
        "dt_rgba.nii.gz": {"shape": (4, 4, 4), "datatype": 2304, "bitpix": 32, "payload": bytes(256)},
        "dt_binary.nii.gz": {"shape": (4, 4, 4), "datatype": 1, "bitpix": 1, "payload": bytes(8)},
        "trunc_raw.nii": {"shape": (64, 64, 64), "payload": bytes(100)},
        "nan_affine.nii.gz": {"shape": (4, 4, 4), "payload": bytes(256), "nan_affine": True},
        "nan_pixdim.nii.gz": {"shape": (4, 4, 4), "payload": bytes(256), "pixdim": (float("nan"), 1.0, 1.0)},
        "neg_pixdim.nii.gz": {"shape": (4, 4, 4), "payload": bytes(256), "pixdim": (-1.0, -1.0, -1.0)},
        "inf_pixdim.nii.gz": {"shape": (4, 4, 4), "payload": bytes(256), "pixdim": (float("inf"), 1.0, 1.0)},
    }
    out = []
    for fname, kw in specs.items():
        d = fresh_dir(root, f"nii-{fname}")
        H.nifti_claiming(d / fname, **kw)
        out.append(import_case(d, ws, "NIfTI header", fname, must=fname not in ("neg_pixdim.nii.gz",)))
    for fname, values in (("inf_vox.nii.gz", np.inf), ("nan_vox.nii.gz", np.nan), ("big_vox.nii.gz", 3e38)):
        d = fresh_dir(root, f"nii-{fname}")
        H.nifti_values(d / fname, np.full((4, 4, 4), values, np.float32))
        out.append(import_case(d, ws, "NIfTI values", fname, must=fname == "inf_vox.nii.gz"))
    d = fresh_dir(root, "nii-garbage")
    (d / "garbage.nii.gz").write_bytes(b"\x1f\x8b" + np.random.default_rng(3).bytes(300))
    out.append(import_case(d, ws, "NIfTI header", "garbage.nii.gz"))
    return out


def dicom_cases(root: Path, ws: Path) -> list[Case]:
    specs = {
        "iop3": {"ImageOrientationPatient": [1, 0, 0]},
        "iop0": {"ImageOrientationPatient": [0] * 6},
        "iop_parallel": {"ImageOrientationPatient": [1, 0, 0, 1, 0, 0]},
        "iop_long": {"ImageOrientationPatient": [5, 0, 0, 0, 5, 0]},
        "iop_text": {"ImageOrientationPatient": ["1.11", "0", "0", "0", "1", "0"], "patch": {b"1.11": b"x\x00y!"}},
        "slope_text": {"RescaleSlope": "7.77", "patch": {b"7.77": b"abc "}},
        "slope_nan": {"RescaleSlope": "7.77", "patch": {b"7.77": b"nan "}},
        "slope_inf": {"RescaleSlope": "7.77", "patch": {b"7.77": b"inf "}},
        "slope_huge": {"RescaleSlope": 1e38},
        "slope_zero": {"RescaleSlope": 0},
        "intercept_text": {"RescaleIntercept": "7.77", "patch": {b"7.77": b"--1 "}},
        "spacing_zero": {"PixelSpacing": [0, 0]},
        "spacing_neg": {"PixelSpacing": [-1, 1]},
        "spacing_one": {"PixelSpacing": ["1"]},
        "spacing_text": {"PixelSpacing": ["7.77", "1"], "patch": {b"7.77": b"e9e9"}},
        "position_text": {"ImagePositionPatient": ["7.77", "0", "0"], "patch": {b"7.77": b"nan "}},
        "rows_huge": {"Rows": 60000, "Columns": 60000},
        "rows_zero": {"Rows": 0},
        "frames_huge": {"NumberOfFrames": 100000},
        "bits_zero": {"BitsAllocated": 0},
        "samples_7": {"SamplesPerPixel": 7},
    }
    out = []
    for name, kw in specs.items():
        d = fresh_dir(root, f"dcm-{name}")
        H.dicom_series(d / f"series_{name}", **kw)
        out.append(import_case(d, ws, "DICOM attributes", f"series_{name}", must=name not in ("iop_long",)))
    return out


def json_cases(root: Path, ws: Path) -> list[Case]:
    sidecars = {
        "utf16": "{}".encode("utf-16"),
        "latin1": '{"truth": "\xe9"}'.encode("latin-1"),
        "deep": H.deep_json(100000).encode(),
        "deep_obj": ('{"a":' * 500 + "1" + "}" * 500).encode(),
        "nan": b'{"scan_line": [[0, 0], [NaN, 1]]}',
        "list": b"[1, 2, 3]",
        "split_obj": b'{"split": {"x": 1}}',
        "truth_list": b'{"truth": [1]}',
        "scanline_bad": b'{"scan_line": "left"}',
        "scanline_short": b'{"scan_line": [[0]]}',
        "laterality_obj": b'{"laterality": {"L": 1}}',
        "truncated": b'{"split": "tra',
        "nul": b'{"split": "a\\u0000b"}',
        "huge_number": b'{"scan_line": [[1e999, 0], [1, 1]]}',
        "bom_garbage": b"\xef\xbb\xbf\xff\xfe",
    }
    out = []
    for name, content in sidecars.items():
        d = fresh_dir(root, f"json-{name}")
        stem = f"SIDE{name}"
        H.valid_png(d / f"{stem}_fundus.png", (40, 50), seed=11)
        (d / f"{stem}.json").write_bytes(content)
        out.append(import_case(d, ws, "sidecar JSON", f"{stem}.json"))
    return out
