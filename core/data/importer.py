"""Import a folder into a workspace. Accepted layouts (documented in the README):

* Fundus/OCT pairs by shared stem: ``P001_fundus.png`` + ``P001_oct.png`` (or ``.tif`` stack),
  with an optional ``P001.json`` holding ``{"scan_line": [[x0, y0], [x1, y1]], "laterality": "L"}``.
* Loose images: ``*_fundus.*`` / ``*_oct.*`` / ``*_bscan.*`` alone, or any other image (a fundus
  photo, or an OCT case when it is a multi-page TIFF).
* NIfTI: ``brain.nii.gz`` (one case) or BraTS-style ``<case>_t1.nii.gz``, ``_t1ce``, ``_t2``,
  ``_flair`` grouped into one multi-sequence case, ``_seg`` imported as its label volume.
* DICOM: every folder that directly holds (non-ophthalmic) DICOM files becomes one MRI case per series.
* Clinic files: ophthalmic DICOM (OP photos, OPT volumes) and OCT device exports (.vol, .e2e,
  HEYEX XML folders, .fda, .fds, .img, .oct) anywhere in the tree, grouped into cases as
  :mod:`core.data.clinic_import` describes.
* LabelMe JSON next to an image with the same stem is imported as that image's labels.

Nothing half-imported is left behind: a case whose files fail to read is skipped with the reason.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.domain import CaseKind, ImageMeta, Modality, ScanLine, safe_id
from core.errors import InputError, StudioError
from core.io.images import IMAGE_SUFFIXES, TIFF_SUFFIXES
from core.io.labelme import read_labelme
from core.io.nifti import is_nifti
from core.io.safejson import read_json
from core.workspace.workspace import NewImage, Workspace

log = logging.getLogger(__name__)

ROLE_RE = re.compile(r"^(?P<case>.+?)[_\-. ](?P<role>fundus|cfp|oct|bscan)$", re.IGNORECASE)
SEQ_RE = re.compile(r"^(?P<case>.+?)[_\-.](?P<seq>t1|t1ce|t1c|t1gd|t1n|t2|t2w|t2f|flair|seg|label|labels|mask)$", re.IGNORECASE)
SEQ_ALIASES = {"t1c": "t1ce", "t1gd": "t1ce", "t1n": "t1", "t2w": "t2", "t2f": "flair", "label": "seg", "labels": "seg", "mask": "seg"}
BRATS_LEGEND = {"necrotic / non-enhancing tumour core": 1, "peritumoural edema": 2, "enhancing tumour": 3}

Progress = Callable[[int, int, str], None]


@dataclass
class ImportReport:
    imported: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    layout: str = "folder"

    def to_json(self) -> dict:
        return {"layout": self.layout, "imported": self.imported, "skipped": self.skipped, "warnings": self.warnings}


def _stem(path: Path) -> str:
    name = path.name
    return name[:-7] if name.lower().endswith(".nii.gz") else path.stem


@dataclass
class _Group:
    case_id: str
    images: dict[str, Path] = field(default_factory=dict)  # role/sequence -> file
    sidecar: Path | None = None
    seg: Path | None = None
    labelme: dict[str, Path] = field(default_factory=dict)  # role -> LabelMe json
    kind: str = "2d"  # "2d" | "mri" | "dicom"


def _is_labelme(path: Path) -> bool:
    try:
        obj = read_json(path)
    except InputError:
        return False
    return isinstance(obj, dict) and "shapes" in obj


def _has_dicom(files: list[Path]) -> bool:
    """The files (of one folder) include DICOM files other than ophthalmic ones (an MRI/CT series)."""
    from core.io.dicom import _is_dicom
    from core.io.ophthalmic_dicom import ophthalmic_kind

    return any(_is_dicom(p) and ophthalmic_kind(p) is None for p in files)


def _heyex_xml(files: list[Path]) -> Path | None:
    from core.io.device_oct import device_format

    return next((p for p in files if p.suffix.lower() == ".xml" and device_format(p) == ".xml"), None)


def scan_folder(src: Path, report: ImportReport, clinic: list[Path] | None = None) -> list[_Group]:
    """Group the files under ``src`` into cases; clinic files (see module doc) go to ``clinic``.
    Symlinks leaving ``src``, FIFOs, devices and folders named like images are skipped with a reason."""
    from core.data.source_walk import list_source
    from core.io.clinic import clinic_format

    clinic = [] if clinic is None else clinic
    groups: dict[tuple[str, str], _Group] = {}
    jsons: list[Path] = []
    dicom_dirs: list[Path] = []
    xml_dirs: list[Path] = []
    files: list[Path] = []
    listing = list_source(src, report.skipped)
    for folder in listing.folders:
        if any(folder.is_relative_to(d) for d in dicom_dirs + xml_dirs):
            continue
        xml = _heyex_xml(listing.files.get(folder, []))
        if xml is not None:  # a HEYEX XML export: the XML and its images are one OCT volume
            clinic.append(xml)
            xml_dirs.append(folder)
            continue
        if folder != src and _has_dicom(listing.files.get(folder, [])):
            dicom_dirs.append(folder)
            continue
        files.extend(listing.files.get(folder, []))
    if _has_dicom(listing.files.get(src, [])):
        dicom_dirs.insert(0, src)
        files = [f for f in files if f.parent != src or not f.suffix.lower() == ".dcm"]

    for d in dicom_dirs:
        g = _Group(case_id=safe_id(d.name), kind="dicom")
        g.images["mri"] = d
        groups[("dicom", str(d))] = g

    for f in files:
        name = f.name.lower()
        if name.startswith("."):
            continue
        if clinic_format(f) is not None:
            clinic.append(f)
            continue
        if f.suffix.lower() == ".json":
            jsons.append(f)
            continue
        if is_nifti(f):
            stem = _stem(f)
            m = SEQ_RE.match(stem)
            case, seq = (m.group("case"), SEQ_ALIASES.get(m.group("seq").lower(), m.group("seq").lower())) if m else (stem, "t1")
            g = groups.setdefault(("mri", str(f.parent / case)), _Group(case_id=safe_id(case), kind="mri"))
            if seq == "seg":
                g.seg = f
            elif seq in g.images:
                report.skipped.append({"path": str(f), "reason": f"second '{seq}' volume for case {case}"})
            else:
                g.images[seq] = f
            continue
        if f.suffix.lower() in IMAGE_SUFFIXES:
            stem = f.stem
            m = ROLE_RE.match(stem)
            if m:
                case, role = m.group("case"), {"cfp": "fundus", "bscan": "oct"}.get(m.group("role").lower(), m.group("role").lower())
            else:
                case, role = stem, "auto"
            g = groups.setdefault(("2d", str(f.parent / case)), _Group(case_id=safe_id(case)))
            if role in g.images:
                report.skipped.append({"path": str(f), "reason": f"second {role} image for case {case}"})
                continue
            g.images[role] = f
            continue
        report.skipped.append({"path": str(f), "reason": "not an image, NIfTI, DICOM or JSON file"})

    by_stem = {(str(k[1])): g for k, g in groups.items() if k[0] == "2d"}
    for j in jsons:
        stem = j.stem
        base = str(j.parent / stem)
        if base in by_stem and not _is_labelme(j):
            by_stem[base].sidecar = j
            continue
        m = ROLE_RE.match(stem)
        key = str(j.parent / (m.group("case") if m else stem))
        role = {"cfp": "fundus", "bscan": "oct"}.get(m.group("role").lower(), m.group("role").lower()) if m else "auto"
        if key in by_stem and _is_labelme(j):
            by_stem[key].labelme[role] = j
        else:
            report.skipped.append({"path": str(j), "reason": "JSON is neither a pair sidecar nor LabelMe labels next to an image"})
    return list(groups.values())


def _read_sidecar(path: Path) -> dict:
    obj = read_json(path, max_bytes=1024 * 1024)  # size-limited, UTF-8, bounded nesting
    if not isinstance(obj, dict):
        raise InputError(path, "expected a JSON object")
    for key in ("split", "truth", "laterality"):
        value = obj.get(key)
        if value is not None and not (isinstance(value, str) and len(value) <= 64 and value.isprintable()):
            raise InputError(path, f"'{key}' must be a short text, got {str(value)[:40]!r}")
    if "scan_line" in obj:
        try:
            ScanLine.from_json(obj["scan_line"])
        except (TypeError, ValueError):
            raise InputError(path, "scan_line must be [[x0, y0], [x1, y1]] in fundus pixels") from None
    return obj


def _auto_modality(path: Path) -> Modality:
    if path.suffix.lower() in TIFF_SUFFIXES:
        from core.io.images import read_stack

        try:
            if read_stack(path).shape[0] > 1:
                return Modality.OCT
        except InputError:
            pass
    return Modality.FUNDUS


def import_folder(
    ws: Workspace,
    src: str | Path,
    *,
    user: str = "import",
    progress: Progress | None = None,
    layout: str = "auto",
    modality: str | None = None,
) -> ImportReport:
    """Import ``src``. ``layout`` is a dataset adapter name (idrid, bmad, mmr, eyeq, brats),
    'folder' for the generic layouts, or 'auto' to detect a dataset layout first."""
    from core.data.adapters import apply_plan, detect_layout, get_adapter

    src = Path(src)
    report = ImportReport()
    if not src.exists():
        raise InputError(src, "folder does not exist")
    if src.is_file():
        raise InputError(src, "expected a folder to import")
    if layout == "auto":
        layout = detect_layout(src) or "folder"
    report.layout = layout
    if layout != "folder":
        adapter = get_adapter(layout)
        if modality and hasattr(adapter, "modality"):
            adapter.modality = modality
        apply_plan(ws, adapter.plan(src, report), report, user=user, progress=progress)
        ws.catalog.audit(
            user, "import", None, {"source": str(src), "layout": layout, "imported": len(report.imported), "skipped": len(report.skipped)}
        )
        return report
    clinic: list[Path] = []
    groups = scan_folder(src, report, clinic)
    if clinic:
        from core.data.clinic_import import import_clinic_files

        import_clinic_files(ws, clinic, report, user=user)
    for i, g in enumerate(groups):
        if progress:
            progress(i, len(groups), g.case_id)
        try:
            _import_group(ws, g, user, report)
        except InputError as exc:
            report.skipped.append({"path": exc.path or str(src), "case": g.case_id, "reason": exc.reason})
        except StudioError as exc:
            report.skipped.append({"path": str(next(iter(g.images.values()), src)), "case": g.case_id, "reason": str(exc)})
        except Exception as exc:  # noqa: BLE001 - one bad file never aborts the rest of an import; the traceback goes to the log
            log.exception("importing %s failed", g.case_id)
            where = str(next(iter(g.images.values()), src))
            report.skipped.append({"path": where, "case": g.case_id, "reason": f"unexpected {exc.__class__.__name__}: {exc}"})
    if progress:
        progress(len(groups), len(groups), "done")
    ws.catalog.audit(user, "import", None, {"source": str(src), "imported": len(report.imported), "skipped": len(report.skipped)})
    return report


def _import_group(ws: Workspace, g: _Group, user: str, report: ImportReport) -> None:
    if not g.images:
        raise InputError(g.sidecar or g.seg, "no image found for this case")
    case_id = g.case_id
    if ws.has_case(case_id):
        raise InputError(next(iter(g.images.values())), f"case '{case_id}' already exists in the workspace")
    sidecar = _read_sidecar(g.sidecar) if g.sidecar else {}
    new: list[NewImage] = []
    if g.kind in ("mri", "dicom"):
        kind = CaseKind.MRI
        for seq, path in sorted(g.images.items()):
            new.append(
                NewImage(
                    seq if g.kind == "mri" else "mri",
                    Modality.MRI,
                    source_path=path,
                    meta=ImageMeta(sequence=seq if g.kind == "mri" else None),
                )
            )
    else:
        roles = dict(g.images)
        if "auto" in roles:
            path = roles.pop("auto")
            roles.setdefault(_auto_modality(path).value, path)
        lat = sidecar.get("laterality")
        for role, path in sorted(roles.items()):
            meta = ImageMeta(laterality=lat if lat in ("L", "R") else None)
            if role == "oct" and "scan_line" in sidecar:
                meta.scan_line = ScanLine.from_json(sidecar["scan_line"])
            new.append(NewImage(role, Modality(role), source_path=path, meta=meta))
        kind = CaseKind.PAIR if set(roles) == {"fundus", "oct"} else CaseKind(next(iter(roles)))
    case = ws.add_case(
        case_id,
        kind,
        new,
        split=sidecar.get("split"),
        truth=sidecar.get("truth"),
        source=str(next(iter(g.images.values())).parent),
        user=user,
    )
    entry: dict[str, Any] = {"case": case_id, "kind": kind.value, "images": [im.name for im in case.images]}
    for im in case.images:  # values a reader had to sanitise (NaN voxels set to 0, ...)
        for note in im.meta.extra.get("read_warnings", []):
            report.warnings.append(f"{case_id}/{im.name}: {note}")
    # labels
    for role, jpath in g.labelme.items():
        rec = case.require_image(role if role != "auto" else case.images[0].modality)
        try:
            doc = read_labelme(jpath)
            fresh = ws.new_label_document(rec)
            if doc.image_height and (doc.image_height, doc.image_width) != (fresh.image_height, fresh.image_width):
                raise InputError(
                    jpath,
                    f"labels are for a {doc.image_width}x{doc.image_height} image, the image is {fresh.image_width}x{fresh.image_height}",
                )
            doc.image_path, doc.image_height, doc.image_width = fresh.image_path, fresh.image_height, fresh.image_width
            ws.write_labels(rec, doc, user=user)
            entry.setdefault("labels", []).append(rec.name)
        except InputError as exc:
            report.warnings.append(f"{case_id}: labels not imported: {exc}")
    if g.seg is not None:
        try:
            import_label_volume(ws, case.images[0], g.seg, user)
            entry["labels"] = entry.get("labels", []) + ["seg"]
        except InputError as exc:
            report.warnings.append(f"{case_id}: label volume not imported: {exc}")
    report.imported.append(entry)


def import_label_volume(ws: Workspace, image, path: Path, user: str) -> None:
    """A BraTS-style segmentation NIfTI as the label volume of ``image`` (1/2/4 -> 1/2/3)."""
    from core.io.nifti import read_nifti

    seg = read_nifti(path, dtype=np.float32).data
    if tuple(seg.shape) != tuple(image.shape):
        raise InputError(path, f"label volume {seg.shape} does not match the scan {tuple(image.shape)}")
    if seg.size and (float(seg.min()) < 0 or float(seg.max()) > 4):
        raise InputError(path, f"unexpected label values from {float(seg.min()):g} to {float(seg.max()):g}; expected BraTS 0-4")
    labels = np.rint(seg).astype(np.int16)
    labels[labels == 4] = 3  # BraTS 2018-2021 used 4 for enhancing tumour
    if labels.min() < 0 or labels.max() > 3:
        raise InputError(path, f"unexpected label values {sorted(np.unique(labels).tolist())[:8]}; expected BraTS 0-4")
    ws.write_label_volume(image, labels.astype(np.uint8), BRATS_LEGEND, user=user)
