"""Clinic files (ophthalmic DICOM, OCT device exports) -> cases.

Grouping rules (also in the README):

* Every OCT device export (.vol, .e2e, HEYEX XML folder, .fda, .fds, .img, .oct) is one case of
  kind ``oct``: the B-scan volume ``oct`` and, when the file has one, its ``localizer`` image.
* Every DICOM OPT volume is one case. Its ophthalmic photos (OP) join it when the OPT references
  their SOP Instance UID (Referenced Image Sequence or per-frame Ophthalmic Frame Location), or when
  they share the OPT's StudyInstanceUID and laterality. With a photo the case is a ``fundus_oct``
  pair: ``fundus`` (a colour photo when there is one) + ``oct``; when the OPT references a different
  photo than the one shown as ``fundus`` (e.g. an IR localizer), that one is kept as ``localizer``.
  A referenced photo may serve several volumes; an unreferenced one joins one volume only.
* Every OP photo left over is one ``fundus`` case.

Pixels are converted to workspace files (PNG, multi-page TIFF for B-scans) and hashed as read back;
the original file stays the provenance (``meta.source`` and the file's SHA-256 in ``meta.extra``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.domain import ROLE_LOCALIZER, CaseKind, CaseRecord, ImageMeta, Modality, ScanLine, safe_id
from core.errors import InputError, StudioError
from core.io.ophthalmic import OctVolume, OphthalmicPhoto
from core.workspace.workspace import NewImage, Workspace


@dataclass
class ClinicGroup:
    case_id: str
    oct: Path | None = None
    fundus: Path | None = None
    localizer: Path | None = None  # a separate referenced DICOM image (kept as the 'localizer' image)
    anchor: str | None = None  # 'fundus' / 'localizer': which image the OPT's positions refer to
    kind: str = "device"  # device | dicom


def group_clinic_files(files: list[Path], report, taken: set[str] | None = None) -> list[ClinicGroup]:
    from core.io.ophthalmic_dicom import header_summary, is_dicom_file

    taken = set() if taken is None else taken
    groups: list[ClinicGroup] = []
    ops: list[dict] = []
    opts: list[dict] = []
    for f in sorted(files):
        if f.is_file() and is_dicom_file(f):
            try:
                h = header_summary(f)
            except InputError as exc:
                report.skipped.append({"path": exc.path or str(f), "reason": exc.reason})
                continue
            (opts if h["kind"] == "opt" else ops).append(h)
        else:
            groups.append(ClinicGroup(_unique(safe_id(f.stem if f.is_file() else f.name), taken), oct=f))
    used: set[str] = set()
    referenced = {r for o in opts for r in o["refs"]}
    for o in opts:
        g = ClinicGroup(_unique(safe_id(o["path"].stem), taken), oct=o["path"], kind="dicom")
        ref = next((p for p in ops if p["sop_uid"] and p["sop_uid"] in o["refs"]), None)
        same_eye = [
            p
            for p in ops
            if p is not ref
            and p["sop_uid"] not in used
            and p["sop_uid"] not in referenced
            and p["study_uid"] == o["study_uid"]
            and o["laterality"] is not None
            and p["laterality"] == o["laterality"]
        ]
        same_eye.sort(key=lambda p: not p["colour"])
        if ref is not None and same_eye:
            g.fundus, g.localizer, g.anchor = same_eye[0]["path"], ref["path"], "localizer"
            used.add(same_eye[0]["sop_uid"])
        elif ref is not None:
            g.fundus, g.anchor = ref["path"], "fundus"
        elif same_eye:
            g.fundus = same_eye[0]["path"]
            used.add(same_eye[0]["sop_uid"])
        if ref is not None:
            used.add(ref["sop_uid"])
        groups.append(g)
    for p in ops:
        if p["sop_uid"] not in used:
            groups.append(ClinicGroup(_unique(safe_id(p["path"].stem), taken), fundus=p["path"], kind="dicom"))
    return groups


def _unique(case_id: str, taken: set[str]) -> str:
    out, n = case_id, 1
    while out in taken:
        n += 1
        out = f"{case_id}-{n}"
    taken.add(out)
    return out


def _provenance(path: Path) -> dict:
    from core.hashing import file_sha256

    if path.is_dir():
        return {"source_folder": True}
    return {"source_sha256": file_sha256(path), "source_bytes": path.stat().st_size}


def photo_image(name: str, photo: OphthalmicPhoto, role: str | None = None) -> NewImage:
    sp = photo.spacing_um
    meta = ImageMeta(
        laterality=photo.laterality,
        spacing=[sp[1] / 1000.0, sp[0] / 1000.0] if sp else None,
        source=photo.path,
        role=role,
        acquired=photo.acquired,
        device=photo.device or photo.source_format,
        uids=photo.uids or None,
        description=photo.source_format + (f" ({photo.photometric})" if photo.photometric else ""),
        extra={"source_format": photo.source_format, **_provenance(Path(photo.path))},
    )
    return NewImage(name, Modality.FUNDUS, array=photo.pixels, meta=meta)


def _spacing_mm(*um: float | None) -> list[float] | None:
    """Voxel spacing in mm from micrometres; None unless every value is known."""
    known = [v for v in um if v is not None]
    return [v / 1000.0 for v in known] if len(known) == len(um) else None


def volume_images(vol: OctVolume, anchor: str | None) -> list[NewImage]:
    """The volume as the 'oct' image (and its own localizer as 'localizer'). ``anchor`` names the image
    of the case its positions refer to when the localizer comes from another file."""
    has_loc = vol.localizer is not None
    anchor = "localizer" if has_loc else anchor
    lines = [ScanLine(tuple(p[0]), tuple(p[1])) for p in vol.positions] if vol.positions is not None and anchor else None
    sp = vol.spacing
    meta = ImageMeta(
        laterality=vol.laterality,
        spacing=_spacing_mm(sp.between_um, sp.axial_um, sp.x_um),
        source=vol.path,
        acquired=vol.acquired,
        device=vol.device or vol.source_format,
        uids=vol.uids or None,
        description=f"{vol.source_format}: {vol.n_bscans} B-scan(s)",
        extra={"source_format": vol.source_format, **_provenance(Path(vol.path))},
    )
    if vol.n_bscans == 1 and lines:
        meta.scan_line = lines[0]  # a single B-scan is drawn like any paired B-scan
    elif lines:
        meta.bscan_positions, meta.localizer = lines, anchor
    if meta.spacing is None and (sp.x_um or sp.axial_um):
        meta.extra["spacing_um"] = {"x": sp.x_um, "axial": sp.axial_um, "between": sp.between_um}
    if vol.positions is not None and not lines:
        meta.extra["unanchored_positions"] = vol.positions.tolist()
    if vol.warnings:
        meta.extra["reader_warnings"] = list(vol.warnings)
    images = [NewImage("oct", Modality.OCT, array=vol.bscans, meta=meta)]
    if has_loc:
        ls = vol.localizer_spacing_um
        lmeta = ImageMeta(
            laterality=vol.laterality,
            role=ROLE_LOCALIZER,
            spacing=[ls[1] / 1000.0, ls[0] / 1000.0] if ls else None,
            source=vol.path,
            acquired=vol.acquired,
            device=vol.device or vol.source_format,
            description=f"localizer of the OCT volume ({vol.source_format})",
        )
        images.append(NewImage("localizer", Modality.FUNDUS, array=vol.localizer, meta=lmeta))
    return images


def import_clinic_group(ws: Workspace, g: ClinicGroup, report, *, user: str = "import", **case_fields) -> CaseRecord:
    """Read the group's files and add one case. Raises InputError naming the file on bad input."""
    from core.io.clinic import read_clinic_file

    if ws.has_case(g.case_id):
        raise InputError(g.oct or g.fundus, f"case '{g.case_id}' already exists in the workspace")
    images: list[NewImage] = []
    warnings: list[str] = []
    if g.fundus is not None:
        photo = read_clinic_file(g.fundus)
        if not isinstance(photo, OphthalmicPhoto):
            raise InputError(g.fundus, "expected an ophthalmic photo")
        images.append(photo_image("fundus", photo))
    if g.localizer is not None:
        loc = read_clinic_file(g.localizer)
        if isinstance(loc, OphthalmicPhoto):
            images.append(photo_image("localizer", loc, role=ROLE_LOCALIZER))
    if g.oct is not None:
        vol = read_clinic_file(g.oct)
        if not isinstance(vol, OctVolume):
            raise InputError(g.oct, "expected an OCT volume")
        anchor = g.anchor if g.anchor in {im.name for im in images} else None
        if vol.positions is not None and vol.localizer is None and anchor is None:
            warnings.append(f"{g.oct}: B-scan positions refer to image {vol.uids.get('localizer_uid', '?')}, which is not in the folder")
        images.extend(volume_images(vol, anchor))
        warnings.extend(f"{g.oct}: {w}" for w in vol.warnings)
    mods = {im.modality for im in images if im.meta.role != ROLE_LOCALIZER}
    kind = CaseKind.PAIR if mods == {Modality.FUNDUS, Modality.OCT} else (CaseKind.OCT if Modality.OCT in mods else CaseKind.FUNDUS)
    source = g.oct or g.fundus
    case = ws.add_case(g.case_id, kind, images, source=str(source), user=user, **case_fields)
    report.imported.append({"case": g.case_id, "kind": kind.value, "images": [im.name for im in case.images]})
    report.warnings.extend(warnings)
    return case


def import_clinic_files(
    ws: Workspace, files: list[Path], report, *, user: str = "import", progress: Callable[[int, int, str], None] | None = None
) -> None:
    """Group and import; one bad file never stops the others (each refusal is listed with its reason)."""
    groups = group_clinic_files(files, report)
    for i, g in enumerate(groups):
        if progress:
            progress(i, len(groups), g.case_id)
        try:
            import_clinic_group(ws, g, report, user=user)
        except InputError as exc:
            report.skipped.append({"path": exc.path or str(g.oct or g.fundus), "case": g.case_id, "reason": exc.reason})
        except StudioError as exc:
            report.skipped.append({"path": str(g.oct or g.fundus), "case": g.case_id, "reason": str(exc)})
