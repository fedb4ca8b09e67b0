"""OCT device exports through the field's libraries.

* eyepy 0.21: Heidelberg Spectralis ``.vol``, ``.e2e`` (first volume), HEYEX XML export (``.xml``
  next to its images) and Topcon ``.fda`` (eyepy wraps oct-converter's FDA reader).
* oct-converter 0.6.2, where eyepy has no reader: Zeiss Cirrus ``.img`` (raw cube; its size is
  taken from the export's file name, e.g. ``..._Macular Cube 512x128_..._cube_z.img``), Topcon
  ``.fds``, Bioptigen ``.oct`` and Optovue ``.OCT`` (with its ``.txt`` file spec). These formats
  carry no B-scan positions on a localizer; Topcon ``.fds`` carries a fundus photo, kept as the
  localizer without positions.

Before pixel data is decoded the claimed size is checked (header fields for .vol, .fds, .fda and
.img; see :mod:`core.io.limits`). Every failure of a third-party parser becomes a
:class:`~core.errors.CorruptFileError` naming the file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import re
from pathlib import Path

import numpy as np

from core.errors import CorruptFileError, EmptyFileError, InputError, UnsupportedFormatError
from core.io.limits import check_dimensions, check_pixel_budget
from core.io.ophthalmic import OctSpacing, OctVolume, laterality_code, sniff

EYEPY_SUFFIXES = {".vol": "Heidelberg Spectralis .vol", ".e2e": "Heidelberg .e2e", ".xml": "Heidelberg HEYEX XML", ".fda": "Topcon .fda"}
OCT_CONVERTER_SUFFIXES = {".img": "Zeiss Cirrus .img", ".fds": "Topcon .fds", ".oct": "Bioptigen/Optovue .oct"}
VOL_HEADER_BYTES = 2048


def device_format(path: Path) -> str | None:
    """The device format a file is in, from its content where it has a signature, else its extension."""
    suffix = path.suffix.lower()
    head = sniff(path, 16)
    if head.startswith(b"HSF-OCT") or (suffix == ".vol" and head.startswith(b"ep-v")):
        return ".vol"
    if head.startswith(b"CMDb"):
        return ".e2e"
    if head.startswith(b"FOCT"):  # Topcon: "FOCT" then "FDA" (OCT + fundus) or "FAA"
        return ".fds" if suffix == ".fds" else ".fda"
    if suffix == ".xml":
        return ".xml" if b"<HEDX" in sniff(path, 512).upper() else None  # HEYEX XML export root element
    if suffix in (".vol", ".e2e", ".fda", ".fds", ".img", ".oct"):
        return suffix  # no signature found: the reader says what is wrong with the content
    return None


def read_device_oct(path: str | Path) -> OctVolume:
    path = Path(path)
    if not path.is_file():
        raise CorruptFileError(path, "file does not exist" if not path.exists() else "is not a regular file")
    if path.stat().st_size == 0:
        raise EmptyFileError(path, "file is empty (0 bytes)")
    fmt = device_format(path)
    if fmt is None:
        raise UnsupportedFormatError(path, "not an OCT device export we read (.vol, .e2e, HEYEX .xml, .fda, .fds, .img, .oct)")
    try:
        # oct-converter prints progress and missing-chunk notes: keep them off stdout (the CLI's JSON)
        with contextlib.redirect_stdout(io.StringIO()):
            if fmt == ".vol":
                return _read_vol(path)
            if fmt in EYEPY_SUFFIXES:
                return _read_eyepy(path, fmt)
            return _read_oct_converter(path, fmt)
    except InputError:
        raise
    except MemoryError:
        raise CorruptFileError(path, "pixel data cannot be decoded within the memory available") from None
    except Exception as exc:  # noqa: BLE001 - third-party parsers raise anything on damaged files
        raise CorruptFileError(
            path, f"cannot read {EYEPY_SUFFIXES.get(fmt) or OCT_CONVERTER_SUFFIXES.get(fmt)}: {exc.__class__.__name__}: {exc}"
        ) from None


# -- Heidelberg .vol ---------------------------------------------------------------------------
def _vol_header(path: Path):
    import construct as cs
    from eyepy.io.he import vol_reader

    subcons = []
    for sc in vol_reader.vol_format.subcons:
        if sc.name == "localizer":
            break
        if sc.name != "exam_time":  # eyepy's date adapter is not needed to size the file
            subcons.append(sc)
        else:
            subcons.append("exam_time" / cs.Int64ul)
    with open(path, "rb") as handle:
        raw = handle.read(VOL_HEADER_BYTES)
    if len(raw) < VOL_HEADER_BYTES:
        raise CorruptFileError(path, f"file is truncated: {len(raw)} bytes, a .vol header alone has {VOL_HEADER_BYTES}")
    return cs.Struct(*subcons).parse(raw)


def _read_vol(path: Path) -> OctVolume:
    from eyepy.io.he import HeVolReader

    h = _vol_header(path)
    w, n, rows = check_dimensions(path, {"B-scan width": h.size_x, "number of B-scans": h.n_bscans, "B-scan height": h.size_y})
    sw, sh = check_dimensions(path, {"SLO width": h.size_x_slo, "SLO height": h.size_y_slo})
    if h.bscan_hdr_size < 256 or h.bscan_hdr_size > 16 * 2**20:
        raise CorruptFileError(path, f"B-scan header size {h.bscan_hdr_size} is not plausible")
    if h.scan_pattern in (2, 5):
        raise UnsupportedFormatError(path, "circular and radial scans are not volumes; only line and raster scans are read")
    check_pixel_budget(path, n * rows * w + sw * sh, 4)
    need = VOL_HEADER_BYTES + sw * sh + n * (h.bscan_hdr_size + 4 * rows * w)
    if path.stat().st_size < need:
        raise CorruptFileError(path, f"file is truncated: {path.stat().st_size:,} bytes, the header claims {need:,}")
    with _quiet_eyepy():  # eyepy logs a warning when a file has 17 rather than 19 layer lines (all Spectralis files)
        ev = HeVolReader(path).volume
    return from_eye_volume(ev, path, "Heidelberg Spectralis .vol", device="Heidelberg Engineering Spectralis")


class _quiet_eyepy:
    def __enter__(self):
        import logging

        self.logger = logging.getLogger("eyepy")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)
        return False


# -- other eyepy formats -----------------------------------------------------------------------
def _read_eyepy(path: Path, fmt: str) -> OctVolume:
    import eyepy.io as eio

    if fmt == ".fda":
        reader = _check_topcon(path, fda=True)
        ev = eio.import_topcon_fda(path)
        vol = from_eye_volume(ev, path, EYEPY_SUFFIXES[fmt], device="Topcon")
        # eyepy's FDA import drops the eye and the capture date; oct-converter's metadata has them
        capture = reader.read_all_metadata().get("capture_info_02") or {}
        vol.laterality = {0: "R", 1: "L"}.get(capture.get("eye", -1))
        with contextlib.suppress(TypeError, ValueError):
            vol.acquired = _dt.datetime(*capture["cap_date"]).isoformat() if capture.get("cap_date") else None
        return vol
    if fmt == ".xml":
        _check_heyex_xml(path)
    ev = eio.import_heyex_e2e(path) if fmt == ".e2e" else eio.import_heyex_xml(path)
    return from_eye_volume(ev, path, EYEPY_SUFFIXES[fmt], device="Heidelberg Engineering")


def _check_heyex_xml(path: Path) -> None:
    """Every image the export names is a plain file in its folder (no path that leaves it), exists,
    and all of them together fit the pixel budget - checked from the image headers before eyepy reads."""
    import xml.etree.ElementTree as ElementTree

    from PIL import Image

    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError, ValueError) as exc:
        raise CorruptFileError(path, f"not a readable XML file ({exc})") from None
    urls = [(e.text or "").strip() for e in root.iter("ExamURL")]
    if not urls:
        raise CorruptFileError(path, "HEYEX XML export without images (no ExamURL)")
    total = 0
    for url in urls:
        name = url.split("\\")[-1]
        if not name or "/" in name or name.startswith("."):
            raise CorruptFileError(path, f"image reference {url!r} is not a file name in the export folder")
        image = path.parent / name
        if not image.is_file() or image.is_symlink():
            raise CorruptFileError(path, f"image {name} named by the export is missing")
        try:
            with Image.open(image) as im:
                total += im.size[0] * im.size[1]
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise CorruptFileError(image, f"not a readable image ({exc.__class__.__name__})") from None
    check_pixel_budget(path, total, 1)


def from_eye_volume(ev, path: Path, source_format: str, device: str = "", device_localizer: bool = True) -> OctVolume:
    """An eyepy ``EyeVolume`` as an :class:`OctVolume` (positions converted to localizer pixels).
    ``device_localizer=False`` for sources without one (datasets): eyepy then makes a projection of
    its own, which is not kept."""
    meta = ev.meta
    bscans = np.ascontiguousarray(ev.data)
    if (
        bscans.dtype.kind == "f"
        and bscans.size
        and float(bscans.min()) >= 0
        and float(bscans.max()) <= 255
        and np.all(bscans == np.rint(bscans))
    ):
        bscans = bscans.astype(np.uint8)  # whole-number grey values stored as float (MATLAB exports)
    warnings: list[str] = []
    localizer = positions = loc_um = None
    if device_localizer and ev.localizer is not None and getattr(ev.localizer, "data", None) is not None:
        localizer = np.ascontiguousarray(ev.localizer.data)
        if localizer.dtype.kind == "f":
            localizer = (
                np.clip(np.rint(localizer), 0, 255).astype(np.uint8) if localizer.max() > 1.0 else np.rint(localizer * 255).astype(np.uint8)
            )
        lm = ev.localizer.meta
        positions, loc_um, warning = _positions_px(meta.get("bscan_meta") or [], lm, len(bscans))
        if warning:
            warnings.append(warning)
    unit = {"mm": 1000.0, "µm": 1.0, "um": 1.0}.get(str(meta.get("scale_unit", "")))
    spacing = (
        OctSpacing(x_um=float(meta["scale_x"]) * unit, axial_um=float(meta["scale_y"]) * unit, between_um=float(meta["scale_z"]) * unit)
        if unit
        else OctSpacing()
    )
    acquired = meta.get("exam_time") or meta.get("visit_date")
    return OctVolume(
        bscans=bscans,
        localizer=localizer,
        positions=positions,
        spacing=spacing,
        localizer_spacing_um=loc_um,
        laterality=laterality_code(meta.get("laterality")),
        acquired=acquired.isoformat() if hasattr(acquired, "isoformat") else (str(acquired) if acquired else None),
        device=device,
        source_format=source_format,
        path=str(path),
        warnings=warnings,
    )


def _positions_px(bscan_meta, lm, n: int):
    if len(bscan_meta) != n:
        return None, None, f"{len(bscan_meta)} B-scan positions for {n} B-scans; ignored"
    sx, sy, unit = float(lm["scale_x"]), float(lm["scale_y"]), str(lm.get("scale_unit", ""))
    pos_units = {str(b.get("pos_unit", "")) for b in bscan_meta}
    if pos_units != {unit} or not (sx > 0 and sy > 0):
        return None, None, f"B-scan positions in {sorted(pos_units)} but localizer scale in '{unit}'; positions ignored"
    offset = 15.0 if unit == "°" else 0.0  # eyepy puts the origin of degree coordinates at the image centre (30° field)
    p = np.array([[b["start_pos"], b["end_pos"]] for b in bscan_meta], dtype=np.float64)
    p = (p + offset) / np.array([sx, sy])
    per_um = {"mm": 1000.0, "µm": 1.0, "um": 1.0}.get(unit)
    return p, ((sx * per_um, sy * per_um) if per_um else None), None


# -- oct-converter formats ---------------------------------------------------------------------
CUBE_RE = re.compile(r"[Cc]ube[ _]*(\d{1,4})x(\d{1,4})")


class _NumpyWithFromstring:
    """NumPy plus the binary ``fromstring`` that NumPy 2.3 removed and oct-converter 0.6.2's Topcon
    readers still call; handed to those two modules only (``module.np``), NumPy itself is untouched."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def fromstring(data, dtype=float, count=-1, sep=""):
        if sep:
            return np.fromstring(data, dtype=dtype, count=count, sep=sep)
        return np.frombuffer(data, dtype=dtype, count=count).copy()


def _oct_converter():
    from oct_converter import readers
    from oct_converter.readers import fda, fds

    for module in (fda, fds):
        if module.np is np:
            module.np = _NumpyWithFromstring()
    return readers


def _check_topcon(path: Path, fda: bool):
    from oct_converter.readers.binary_structs import fda_binary, fds_binary

    readers = _oct_converter()
    try:
        reader = (readers.FDA if fda else readers.FDS)(path)
    except Exception as exc:  # noqa: BLE001 - the chunk walk ends in IndexError/struct errors on damaged files
        raise CorruptFileError(path, f"file is truncated or its chunk list is damaged ({exc.__class__.__name__})") from None
    chunks = reader.chunk_dict
    for name, struct in (
        (b"@IMG_JPEG", fda_binary.oct_header),
        (b"@IMG_SCAN_03", fds_binary.oct_header),
        (b"@IMG_MOT_COMP_03", fda_binary.oct_header_2),
    ):
        if name in chunks:
            location, size = chunks[name]
            if location + size > path.stat().st_size:
                raise CorruptFileError(
                    path, f"file is truncated: the OCT chunk needs {location + size:,} bytes, the file has {path.stat().st_size:,}"
                )
            with open(path, "rb") as handle:
                handle.seek(location)
                head = struct.parse(handle.read(struct.sizeof()))
            w, h, n = check_dimensions(path, {"width": head.width, "height": head.height, "slices": head.number_slices})
            raw = name == b"@IMG_SCAN_03"
            check_pixel_budget(path, w * h * n, 2 if raw else 1)
            if raw and size < w * h * n * 2:
                raise CorruptFileError(path, f"OCT chunk holds {size:,} bytes, the header claims {w * h * n * 2:,}")
            return reader
    raise CorruptFileError(path, "no OCT data chunk found in this Topcon file")


def _read_oct_converter(path: Path, fmt: str) -> OctVolume:
    R = _oct_converter()
    fundus = None
    if fmt == ".img":
        vol = _read_zeiss_img(path, R.IMG)
    elif fmt == ".fds":
        _check_topcon(path, fda=False)
        reader = R.FDS(path)
        vol = reader.read_oct_volume()
        try:
            fundus = reader.read_fundus_image().image
        except (ValueError, KeyError):
            fundus = None
    elif b"Data" in sniff(path, 64) or path.with_suffix(".txt").exists():
        vols = R.POCT(path).read_oct_volume()
        vol = vols[0]
    else:
        vol = _read_bioptigen(path, R.BOCT)
    frames = [np.asarray(f) for f in vol.volume]
    shapes = {f.shape for f in frames}
    if not frames or len(shapes) != 1:
        raise CorruptFileError(path, f"B-scans of different sizes {sorted(shapes)[:3]}")
    bscans = np.stack(frames)
    if bscans.dtype.kind == "f":
        bscans = bscans.astype(np.float32)
    elif bscans.dtype not in (np.uint8, np.uint16):
        bscans = bscans.astype(np.uint16)
    ps = [float(v) * 1000.0 if v else None for v in (list(vol.pixel_spacing or []) + [None, None, None])[:3]]
    # oct-converter reports Topcon spacing as (width, slice distance, height) in mm; for Optovue it reports
    # the video (en-face) scale, not the B-scans', and Zeiss/Bioptigen files carry none: left unknown
    spacing = OctSpacing(x_um=ps[0], axial_um=ps[2], between_um=ps[1]) if fmt == ".fds" else OctSpacing()
    if fundus is not None:
        fundus = np.clip(np.rint(np.asarray(fundus, dtype=np.float32)), 0, 255).astype(np.uint8)
    acquired = vol.acquisition_date
    return OctVolume(
        bscans=np.ascontiguousarray(bscans),
        localizer=fundus,
        spacing=spacing,
        laterality=laterality_code(vol.laterality),
        acquired=acquired.isoformat() if hasattr(acquired, "isoformat") else None,
        device={".img": "Carl Zeiss Meditec Cirrus", ".fds": "Topcon"}.get(fmt, "Bioptigen/Optovue"),
        source_format=OCT_CONVERTER_SUFFIXES[fmt],
        path=str(path),
        warnings=["this format carries no B-scan positions on a localizer"],
    )


def _read_bioptigen(path: Path, BOCT):
    """Bioptigen .oct: the first scan at every frame position, transposed so rows are depth. The size is
    checked first: oct-converter fills a preallocated array and stops quietly on a short file."""
    from types import SimpleNamespace

    reader = BOCT(path)  # parses and validates the header
    h = reader.header_structure.parse_file(path)
    frames, lines, depth = check_dimensions(
        path, {"frames": h.framecount.value, "A-scans per frame": h.linecount.value, "samples per A-scan": h.linelength.value}
    )
    check_pixel_budget(path, frames * lines * depth, 2, stored_raw=True)
    volumes = reader.read_oct_volume()
    first = [np.asarray(v.volume)[0].T for v in volumes]
    return SimpleNamespace(volume=first, pixel_spacing=None, laterality=volumes[0].laterality, acquisition_date=volumes[0].acquisition_date)


def _read_zeiss_img(path: Path, IMG):
    size = path.stat().st_size
    m = CUBE_RE.search(path.name)
    shapes = [(int(m.group(1)), int(m.group(2)))] if m else [(512, 128), (200, 200)]
    for cols, slices in shapes:
        if size % (cols * slices) == 0 and size // (cols * slices) in (1024, 512, 1024 // 2, 2048):
            rows = size // (cols * slices)
            check_pixel_budget(path, rows * cols * slices, 1, stored_raw=True)
            return IMG(path).read_oct_volume(rows=rows, cols=cols)
    raise CorruptFileError(
        path, f"{size:,} bytes do not match a Zeiss cube of {' or '.join(f'{c}x{s}' for c, s in shapes)} A-scans x B-scans"
    )
