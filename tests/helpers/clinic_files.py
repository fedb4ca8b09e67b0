"""Small clinic files built with the field's writers (pydicom for OP/OPT, eyepy's .vol layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.io.ophthalmic import OctSpacing, OctVolume, OphthalmicPhoto
from core.io.ophthalmic_writers import write_heyex_vol, write_op, write_opt

SPACING = OctSpacing(x_um=11.5, axial_um=3.87, between_um=120.0)


def bscans(n: int = 5, h: int = 48, w: int = 64, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    """Distinct B-scans: page i carries its index in the first pixel, so order errors show."""
    rng = np.random.default_rng(seed)
    top = 255 if dtype == np.uint8 else 4095
    b = rng.integers(0, top + 1, (n, h, w)).astype(dtype)
    b[:, 0, 0] = np.arange(n)
    return b


def positions(n: int, x0: float = 10.0, x1: float = 80.0, y_top: float = 15.0, step: float = 6.5) -> np.ndarray:
    """B-scan 0 lowest on the localizer (largest y), as Heidelberg stores a raster."""
    return np.array([[[x0, y_top + (n - 1 - i) * step], [x1, y_top + (n - 1 - i) * step]] for i in range(n)], dtype=np.float64)


def smooth_rgb(h: int = 96, w: int = 112) -> np.ndarray:
    """A smooth colour image (JPEG reproduces it closely)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 150 + 80 * np.sin(x / 17.0)
    g = 90 + 60 * np.cos(y / 13.0)
    b = 60 + 40 * np.sin((x + y) / 23.0)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def write_vol(path: Path, n: int = 5, laterality: str = "L", seed: int = 0) -> OctVolume:
    rng = np.random.default_rng(seed + 1)
    vol = OctVolume(
        bscans(n, seed=seed),
        rng.integers(0, 256, (100, 96), dtype=np.uint8),
        positions(n),
        SPACING,
        (11.25, 11.25),
        laterality,
        "2024-05-06T10:11:12",
    )
    write_heyex_vol(path, vol)
    return vol


def write_photo(path: Path, pixels: np.ndarray, laterality: str = "L", study: str = "1.2.3.4", compression=None, sop: str | None = None):
    uids = {"study_uid": study, **({"sop_instance_uid": sop} if sop else {})}
    photo = OphthalmicPhoto(pixels, laterality, "2024-05-06T10:00:00", device="ACME / Fundus 1", spacing_um=(7.5, 8.0), uids=uids)
    return write_op(path, photo, compression=compression), photo


def write_volume_dcm(path: Path, localizer_uid: str | None, n: int = 5, laterality: str = "L", study: str = "1.2.3.4", compression=None):
    vol = OctVolume(
        bscans(n, seed=3), None, positions(n), SPACING, laterality=laterality, acquired="2024-05-06T10:05:00", device="ACME / OCT 2"
    )
    vol.uids = {"study_uid": study, **({"localizer_uid": localizer_uid} if localizer_uid else {})}
    write_opt(path, vol, compression=compression)
    return vol


def write_topcon_fds(path: Path, b: np.ndarray, eye: int = 1, cap_date=(2024, 5, 6, 10, 11, 12)) -> None:
    """A minimal Topcon .fds built from oct-converter's own chunk structures (OCT, capture info, scan params)."""
    import struct

    from oct_converter.readers.binary_structs import fds_binary as S

    n, h, w = b.shape
    head = S.header.build(dict(file_code="FOCT", file_type="FDS", major_ver=1, minor_ver=3))
    scan = S.oct_header.build(dict(scan_mode=2, width=w, height=h, bits_per_pixel=16, number_slices=n, format=0, size=w * h * n * 2))
    scan += np.ascontiguousarray(b.astype(np.uint16).transpose(2, 1, 0)).ravel(order="F").tobytes()
    capture = S.capture_info_02_header.build(dict(eye=eye, scan_mode=2, session_id=1, label="synthetic", cap_date=list(cap_date)))
    params = S.param_scan_04_header.build(
        dict(
            fixation=0,
            mirror_pos=0,
            polar=0,
            x_dimension_mm=6.0,
            y_dimension_mm=6.0,
            z_resolution_um=2.6,
            comp_eff_2=0.0,
            comp_eff_3=0.0,
            base_pos=0,
            used_calib_data=0,
        )
    )
    out = bytearray(head)
    for name, payload in ((b"@IMG_SCAN_03", scan), (b"@CAPTURE_INFO_02", capture), (b"@PARAM_SCAN_04", params)):
        out += struct.pack("<B", len(name)) + name + struct.pack("<I", len(payload)) + payload
    out += b"\x00"
    path.write_bytes(bytes(out))


def write_heyex_xml(folder: Path, n: int = 4, laterality: str = "R", image_ref=None) -> OctVolume:
    """A HEYEX XML export (the XML plus one PNG per image) in the layout eyepy's HeXmlReader reads."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    vol = OctVolume(bscans(n, seed=7), rng.integers(0, 256, (100, 96), dtype=np.uint8), positions(n), SPACING, (11.25, 11.25), laterality)
    date = "<Date><Year>2024</Year><Month>5</Month><Day>6</Day></Date>"

    def image(kind, name, w, h, sx, sy, extra=""):
        return (
            f"<Image><ImageType><Type>{kind}</Type></ImageType><OphthalmicAcquisitionContext><Width>{w}</Width><Height>{h}</Height>"
            f"<ScaleX>{sx}</ScaleX><ScaleY>{sy}</ScaleY><Angle>30</Angle><Focus>0.5</Focus>{extra}</OphthalmicAcquisitionContext>"
            f"<ImageData><ExamURL>{(image_ref or {}).get(name, 'C:' + chr(92) + 'HEYEX' + chr(92) + name)}</ExamURL></ImageData></Image>"
        )

    Image.fromarray(vol.localizer).save(folder / "loc.png")
    parts = [image("LOCALIZER", "loc.png", 96, 100, 0.01125, 0.01125)]
    for i in range(n):
        Image.fromarray(vol.bscans[i]).save(folder / f"b{i}.png")
        (x0, y0), (x1, y1) = vol.positions[i] * 0.01125
        coords = f"<Start><Coord><X>{x0}</X><Y>{y0}</Y></Coord></Start><End><Coord><X>{x1}</X><Y>{y1}</Y></Coord></End>"
        parts.append(image("OCT", f"b{i}.png", 64, 48, 0.0115, 0.00387, coords + "<ImageQuality>30</ImageQuality>"))
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><HEDX><BODY><SWVersion><Version>5.3</Version></SWVersion>'
        f"<Patient><ID>1</ID><PatientID>SYN</PatientID><FirstNames>A</FirstNames><LastName>B</LastName><Birthdate>{date}</Birthdate>"
        f"<Study><StudyDate>{date}</StudyDate><Series><ID>7</ID><Laterality>{laterality}</Laterality>"
        f"<ReferenceSeries><ID>7</ID><ExamDate>{date}</ExamDate></ReferenceSeries>"
        f"{''.join(parts)}</Series></Study></Patient></BODY></HEDX>"
    )
    (folder / "export.xml").write_text(xml, encoding="utf-8")
    return vol


def _topcon_chunks(out: bytearray, chunks) -> bytes:
    import struct

    for name, payload in chunks:
        out += struct.pack("<B", len(name)) + name + struct.pack("<I", len(payload)) + payload
    out += b"\x00"
    return bytes(out)


def write_topcon_fda(path: Path, b: np.ndarray, fundus: np.ndarray, box=(20, 10, 70, 50), eye: int = 0) -> list[np.ndarray]:
    """A minimal Topcon .fda (JPEG B-scans, JPEG fundus, registration box) from oct-converter's structures.
    Returns the B-scans as a JPEG decoder gives them back."""
    import io
    import struct

    from oct_converter.readers.binary_structs import fda_binary as S
    from PIL import Image

    def jpeg(a):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=90)
        return buf.getvalue()

    n, h, w = b.shape
    scan = S.oct_header.build(dict(scan_mode=2, unknown1=0, unknown2=0, width=w, height=h, number_slices=n, unknown3=0))
    decoded = []
    for i in range(n):
        data = jpeg(b[i])
        scan += struct.pack("<i", len(data)) + data
        decoded.append(np.asarray(Image.open(io.BytesIO(data))))
    fjpeg = jpeg(fundus[..., ::-1])  # Topcon stores BGR; oct-converter flips it back
    fund = S.fundus_header.build(
        dict(width=fundus.shape[1], height=fundus.shape[0], bits_per_pixel=24, number_slices=1, format="jpg", size=len(fjpeg))
    )
    fund += fjpeg
    capture = S.capture_info_02_header.build(dict(eye=eye, scan_mode=2, session_id=1, label="synthetic", cap_date=[2024, 5, 6, 10, 11, 12]))
    params = S.param_scan_04_header.build(
        dict(
            fixation=0,
            mirror_pos=0,
            polar=0,
            x_dimension_mm=6.0,
            y_dimension_mm=6.0,
            z_resolution_um=2.6,
            comp_eff_2=0.0,
            comp_eff_3=0.0,
            base_pos=0,
            used_calib_data=0,
        )
    )
    regist = S.regist_info_header.build(
        {
            "0x0": 0,
            "unknown": [0, 0],
            "bounding_box_in_fundus_pixels": list(box),
            "version": "v",
            "bounding_box_in_trc_pixels": [0, 0, 0, 0],
        }
    )
    head = bytearray(S.header.build(dict(file_code="FOCT", file_type="FDA", major_ver=1, minor_ver=3)))
    chunks = [
        (b"@IMG_JPEG", scan),
        (b"@IMG_FUNDUS", fund),
        (b"@CAPTURE_INFO_02", capture),
        (b"@PARAM_SCAN_04", params),
        (b"@REGIST_INFO", regist),
    ]
    path.write_bytes(_topcon_chunks(head, chunks))
    return decoded


def write_bioptigen(path: Path, b: np.ndarray, truncate: int = 0) -> None:
    """A Bioptigen .oct laid out as oct-converter's ``bioptigen_file_structure`` reads it (rect scan,
    one scan per position); each frame stores A-scan after A-scan (the transpose of a B-scan)."""
    import struct

    def key(k: str) -> bytes:
        return struct.pack("<I", len(k)) + k.encode()

    def int_field(k, v):
        return key(k) + struct.pack("<II", 4, v)

    def float_field(k, v):
        return key(k) + struct.pack("<Id", 8, v)

    def str_field(k, v):
        return key(k) + struct.pack("<I", len(v)) + v.encode()

    n, h, w = b.shape
    out = struct.pack("<IH", 0x646D6170, 1) + key("FRAMEHEADER") + struct.pack("<I", 0)
    out += int_field("FRAMECOUNT", n) + int_field("LINECOUNT", w) + int_field("LINELENGTH", h) + int_field("SAMPLEFORMAT", 2)
    out += str_field("DESCRIPTION", "synthetic")
    for name in ("XMIN", "XMAX"):
        out += float_field(name, 0.0)
    out += str_field("XCAPTION", "x")
    for name in ("YMIN", "YMAX"):
        out += float_field(name, 0.0)
    out += str_field("YCAPTION", "y") + int_field("SCANTYPE", 1)
    for name in ("SCANDEPTH", "SCANLENGTH", "AZSCANLENGTH", "ELSCANLENGTH", "OBJECTDISTANCE", "SCANANGLE"):
        out += float_field(name, 1.0)
    out += int_field("SCANS", 1) + int_field("FRAMES", n) + int_field("DOPPLERFLAG", 0) + key("CONFIG") + struct.pack("<I", 0)
    out += struct.pack("<I", 0)
    for i in range(n):
        out += key("FRAMEDATA") + struct.pack("<I", 0)
        out += key("FRAMEDATETIME") + struct.pack("<I", 16) + struct.pack("<8H", 2024, 5, 1, 6, 10, 11, 12, 0)
        out += float_field("FRAMETIMESTAMP", float(i)) + int_field("FRAMELINES", w)
        out += key("FRAMESAMPLES") + struct.pack("<I", h * w * 2)
        out += np.ascontiguousarray(b[i].T.astype(np.uint16)).tobytes() + struct.pack("<I", 0)
    path.write_bytes(out[: len(out) - truncate] if truncate else out)


def write_optovue(path: Path, b: np.ndarray, eye: str = "OD") -> None:
    """An Optovue .OCT (float32 samples) with the .txt file spec oct-converter's POCT reader parses."""
    n, h, w = b.shape
    spec = f"Window Height = {h}\nScan Length = {w}\nScan Usage = {n}\nEye Scanned = {eye}\n"
    path.with_suffix(".txt").write_text(spec, encoding="iso-8859-1")
    # POCT reshapes each slice to (length, height) and rotates it by 90 degrees
    path.write_bytes(np.concatenate([np.rot90(s.astype(np.float32), -1).ravel() for s in b]).tobytes())
