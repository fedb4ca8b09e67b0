"""RETOUCH challenge layout (OCT volumes with fluid labels), read through eyepy's ``import_retouch``:

    <root>/RETOUCH-TrainingSet-{Cirrus,Spectralis,Topcon}/TRAIN001/oct.mhd + oct.raw [+ reference.mhd/.raw]
    <root>/.../TEST001/oct.mhd + oct.raw                     (test volumes come without reference)

Every volume folder is one OCT case (split 'test'; truth 'abnormal' when its reference marks any
fluid, 'normal' when the reference is empty, unknown without reference). Reference labels become
per-B-scan LabelMe masks: 1 IRF -> "intraretinal fluid", 2 SRF -> "subretinal fluid" (the MMR OCT
classes), 3 PED -> "pigment epithelial detachment" (added to the workspace's OCT classes; MMR has no
PED class). Reading .mhd/.raw needs ITK (eyepy's choice): install ``anomaly-studio[retouch]``
(itk-core + itk-io, ~550 MB); without it each volume is refused with that sentence.
"""

from __future__ import annotations

from pathlib import Path

from core.data.adapters.base import PlannedCase
from core.domain import CaseKind, safe_id
from core.errors import CorruptFileError, InputError, UnsupportedFormatError
from core.io.limits import check_dimensions, check_pixel_budget

CLASSES = {"IRF": "intraretinal fluid", "SRF": "subretinal fluid", "PED": "pigment epithelial detachment"}
ITK_MISSING = "reading RETOUCH .mhd/.raw needs ITK, which is not installed: pip install 'anomaly-studio[retouch]' (itk-core, itk-io)"


def _volume_folders(src: Path) -> list[Path]:
    return sorted(p.parent for p in src.rglob("oct.mhd") if p.is_file())


def _check_mhd(path: Path) -> None:
    """Size check of a MetaImage header before ITK allocates: DimSize against the budget and the .raw."""
    try:
        text = path.read_text(encoding="ascii", errors="strict")[:4096]
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptFileError(path, f"not a MetaImage header ({exc.__class__.__name__})") from None
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    dims = fields.get("DimSize", "").split()
    if len(dims) != 3:
        raise CorruptFileError(path, f"DimSize '{fields.get('DimSize', '')}' is not three sizes")
    x, y, z = check_dimensions(path, {"DimSize x": dims[0], "DimSize y": dims[1], "DimSize z": dims[2]})
    bytes_per = {"MET_UCHAR": 1, "MET_CHAR": 1, "MET_USHORT": 2, "MET_SHORT": 2, "MET_FLOAT": 4}.get(fields.get("ElementType", ""))
    if bytes_per is None:
        raise UnsupportedFormatError(path, f"element type {fields.get('ElementType')!r} is not one RETOUCH uses")
    raw = path.parent / fields.get("ElementDataFile", "")
    if fields.get("CompressedData", "False").lower() == "true" or not raw.is_file() or raw.parent != path.parent:
        raise CorruptFileError(path, f"data file {fields.get('ElementDataFile')!r} is missing, compressed or outside the folder")
    check_pixel_budget(raw, x * y * z, bytes_per, stored_raw=True)


def load_retouch_volume(folder: Path):
    """(images, page masks) of one RETOUCH volume folder, read through eyepy."""
    from core.data.clinic_import import volume_images
    from core.io.device_oct import from_eye_volume

    try:
        import itk  # noqa: F401
    except ImportError:
        raise UnsupportedFormatError(folder / "oct.mhd", ITK_MISSING) from None
    import eyepy.io as eio

    _check_mhd(folder / "oct.mhd")
    if (folder / "reference.mhd").is_file():
        _check_mhd(folder / "reference.mhd")
    try:
        ev = eio.import_retouch(folder)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - ITK and eyepy raise many types on damaged files
        raise CorruptFileError(folder / "oct.mhd", f"cannot read the RETOUCH volume: {exc.__class__.__name__}: {exc}") from None
    vol = from_eye_volume(ev, folder / "oct.mhd", "RETOUCH (MetaImage)", device=_device(folder), device_localizer=False)
    vol.warnings.clear()
    images = volume_images(vol, None)
    images[0].meta.source = str(folder)
    maps = {CLASSES[name]: ann.data for name, ann in ev.volume_maps.items() if name in CLASSES}
    pages = [{label: m[i].astype(bool) for label, m in maps.items() if m[i].any()} for i in range(vol.n_bscans)]
    return images, ({"oct": pages} if any(pages) else {}), bool(maps) and any(pages), bool(maps)


def _device(folder: Path) -> str:
    for vendor in ("Cirrus", "Spectralis", "Topcon"):
        if vendor.lower() in str(folder).lower():
            return vendor
    return ""


class RETOUCH:
    name = "retouch"
    description = "RETOUCH: <vendor set>/<volume>/oct.mhd (+ reference.mhd): OCT volumes with IRF/SRF/PED labels"

    def detect(self, src: Path) -> bool:
        return bool(_volume_folders(src))

    def plan(self, src: Path, report) -> list[PlannedCase]:
        cases = []
        for folder in _volume_folders(src):
            vendor = _device(folder)
            cid = safe_id(f"{vendor}-{folder.name}" if vendor else folder.name)
            pc = PlannedCase(cid, CaseKind.OCT, [], split="test", source=str(folder), meta={"dataset": "RETOUCH", "vendor": vendor})
            pc.load = _loader(pc, folder)
            cases.append(pc)
        return cases


def _loader(pc: PlannedCase, folder: Path):
    def load():
        images, page_masks, abnormal, has_reference = load_retouch_volume(folder)
        pc.truth = ("abnormal" if abnormal else "normal") if has_reference else None
        return images, page_masks

    return load
