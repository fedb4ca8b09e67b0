"""Export workspace labels (PNG index masks + legend, NIfTI label volumes, LabelMe folders) and
import LabelMe folders onto existing cases.

Layout of an export folder::

    OUT/legend.json                      what every id means, per modality, and the files written
    OUT/<case>/<image>.png               index mask (0 = background; uint8, uint16 past 255 classes)
    OUT/<case>/<image>_p003.png          one per labelled page of a B-scan stack
    OUT/<case>/<image>.labels.nii.gz     MRI label volume in the scan's own header and affine
    OUT/<case>/<image>.json + image      LabelMe (imagePath = the image file next to it)
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import InputError, LabelFileError, StudioError
from core.io.atomic import atomic_path, atomic_write_json
from core.io.labelme import LabelDocument, read_labelme, resolve_image_path, write_labelme
from core.io.paths import confine
from core.labels.classes import legend_for, workspace_class_set
from core.labels.targets import LabelTarget, targets_for_case

if TYPE_CHECKING:
    from core.workspace.workspace import Workspace

log = logging.getLogger(__name__)

FORMATS = ("png", "nifti", "labelme")
Progress = Callable[[int, int, str], None]


@dataclass
class LabelReport:
    written: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"written": self.written, "skipped": self.skipped, "warnings": self.warnings}


def _rel_name(target: LabelTarget, suffix: str) -> str:
    page = f"_p{target.page:03d}" if target.page is not None else ""
    return f"{target.image.case_id}/{target.image.name}{page}{suffix}"


def labelled_targets(ws: Workspace, skipped: list[dict] | None = None) -> list[LabelTarget]:
    """Every 2-D target with a stored LabelMe file and every MRI image with a label volume.
    Catalog entries whose ids would leave the workspace are reported in ``skipped``."""
    out = []
    for case in ws.cases():
        for t in targets_for_case(case):
            try:
                path = ws.label_volume_path(t.image) if t.is_volume else ws.label_path(t.image, t.page)
            except InputError as exc:
                if skipped is not None:
                    skipped.append({"image": t.key, "reason": str(exc)})
                continue
            if path.exists():
                out.append(t)
    return out


def export_labels(ws: Workspace, fmt: str, out: str | Path, progress: Progress | None = None) -> LabelReport:
    if fmt not in FORMATS:
        raise InputError(None, f"unknown label format '{fmt}'; use one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "export target exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    report = LabelReport()
    targets = labelled_targets(ws, report.skipped)
    legend: dict = {"background": 0, "format": fmt, "workspace": str(ws.root), "modalities": {}, "files": {}}
    if fmt == "png":
        _export_png(ws, targets, out, report, legend, progress)
    elif fmt == "nifti":
        _export_nifti(ws, targets, out, report, legend, progress)
    else:
        _export_labelme(ws, targets, out, report, legend, progress)
    atomic_write_json(out / "legend.json", legend)
    return report


def _modality_legends(ws: Workspace, docs: dict[LabelTarget, LabelDocument]) -> dict[str, dict[str, int]]:
    extra: dict[str, list[str]] = {}
    for t, doc in docs.items():
        extra.setdefault(t.modality, [])
        for s in doc.shapes:
            if s.label not in extra[t.modality]:
                extra[t.modality].append(s.label)
    return {m: legend_for(workspace_class_set(ws, m), labels) for m, labels in extra.items()}


def _read_labels(ws: Workspace, t: LabelTarget) -> LabelDocument:
    doc = ws.read_labels(t.image, t.page)
    if doc is None:
        raise LabelFileError(ws.label_path(t.image, t.page), "the label file went away during the export")
    return doc


def _legend_entry(ws: Workspace, modality: str, ids: dict[str, int]) -> dict:
    cs = workspace_class_set(ws, modality)
    colours = {c.name: c.color for c in cs.classes}
    return {
        "set": cs.name,
        "title": cs.title,
        "classes": [{"id": v, "name": k, "color": colours.get(k), "in_catalog": k in colours} for k, v in ids.items()],
    }


def _export_png(ws: Workspace, targets, out, report, legend, progress) -> None:
    from core.io.images import write_png

    docs: dict[LabelTarget, LabelDocument] = {}
    for t in targets:
        if t.is_volume:
            report.skipped.append({"image": t.key, "reason": "MRI label volume: export with --format nifti"})
            continue
        try:
            docs[t] = _read_labels(ws, t)
        except InputError as exc:
            report.skipped.append({"image": t.key, "reason": str(exc)})
    legends = _modality_legends(ws, docs)
    for m, ids in legends.items():
        legend["modalities"][m] = _legend_entry(ws, m, ids)
    for n, (t, doc) in enumerate(docs.items()):
        if progress:
            progress(n, len(docs), t.key)
        ids = legends[t.modality]
        fresh = ws.new_label_document(t.image)
        doc.image_height, doc.image_width = fresh.image_height, fresh.image_width
        dtype = np.uint8 if max(ids.values(), default=0) <= 255 else np.uint16
        index = doc.rasterize(ids, dtype=dtype)
        rel = _rel_name(t, ".png")
        write_png(confine(out, rel), index)
        legend["files"][rel] = {
            "image": t.image.id,
            "page": t.page,
            "modality": t.modality,
            "ids_present": sorted(int(v) for v in np.unique(index) if v),
        }
        report.written.append({"image": t.key, "file": rel})


def _export_nifti(ws: Workspace, targets, out, report, legend, progress) -> None:
    from core.io.nifti import write_nifti

    vols = [t for t in targets if t.is_volume]
    for t in targets:
        if not t.is_volume:
            report.skipped.append({"image": t.key, "reason": "2-D image: export with --format png or labelme"})
    for n, t in enumerate(vols):
        if progress:
            progress(n, len(vols), t.key)
        try:
            stored = ws.read_label_volume(t.image)
            if stored is None:
                continue
            labels, names = stored
            scan = ws.read_volume(t.image)
        except InputError as exc:
            report.skipped.append({"image": t.key, "reason": str(exc)})
            continue
        if labels.shape != scan.shape:
            report.skipped.append({"image": t.key, "reason": f"label volume {labels.shape} does not match the scan {scan.shape}"})
            continue
        rel = _rel_name(t, ".labels.nii.gz")
        write_nifti(confine(out, rel), labels.astype(np.uint8), scan.affine, header=scan.header)
        ids = dict(names) or legend_for(workspace_class_set(ws, t.modality))
        legend["modalities"].setdefault(t.modality, _legend_entry(ws, t.modality, ids))
        legend["files"][rel] = {
            "image": t.image.id,
            "modality": t.modality,
            "legend": ids,
            "ids_present": sorted(int(v) for v in np.unique(labels) if v),
        }
        report.written.append({"image": t.key, "file": rel})


def _export_labelme(ws: Workspace, targets, out, report, legend, progress) -> None:
    stacks: dict[str, np.ndarray] = {}
    for n, t in enumerate(targets):
        if progress:
            progress(n, len(targets), t.key)
        if t.is_volume:
            report.skipped.append({"image": t.key, "reason": "MRI label volume: export with --format nifti"})
            continue
        try:
            doc, json_rel = _export_one_labelme(ws, t, out, stacks)
        except InputError as exc:  # a label file, or an image file that is missing, replaced or outside the workspace
            report.skipped.append({"image": t.key, "reason": str(exc)})
            continue
        legend["files"][json_rel] = {"image": t.image.id, "page": t.page, "modality": t.modality}
        report.written.append({"image": t.key, "file": json_rel})
    for m in sorted({t.modality for t in targets if not t.is_volume}):
        legend["modalities"][m] = _legend_entry(ws, m, legend_for(workspace_class_set(ws, m)))


def _export_one_labelme(ws: Workspace, t: LabelTarget, out: Path, stacks: dict) -> tuple[LabelDocument, str]:
    """Copy one image (verified: inside the workspace and unchanged since import) and its labels."""
    from core.io.images import write_png

    doc = _read_labels(ws, t)
    src = ws.image_path(t.image)  # refuses a catalog path that leaves the workspace
    if t.page is not None:
        if t.image.id not in stacks:
            stacks.clear()
            stacks[t.image.id] = ws.read_pixels(t.image)
        image_rel = _rel_name(t, ".png")
        write_png(confine(out, image_rel), stacks[t.image.id][t.page])
    else:
        ws.verify_image(t.image)  # the file is still the imported one
        suffix = ".nii.gz" if src.name.endswith(".nii.gz") else src.suffix
        image_rel = _rel_name(t, suffix)
        with atomic_path(confine(out, image_rel)) as tmp:
            shutil.copyfile(src, tmp)
    doc.image_path = Path(image_rel).name
    json_rel = _rel_name(t, ".json")
    write_labelme(confine(out, json_rel), doc)
    return doc, json_rel


# -- import ---------------------------------------------------------------------------------------
_PAGE_RE = re.compile(r"^(?P<name>.+)_p(?P<page>\d{3})$")


def _match_by_layout(ws: Workspace, src: Path, path: Path) -> LabelTarget | None:
    """``<case>/<image>[_pNNN].json`` as written by the LabelMe export."""
    case_id = path.parent.name if path.parent != src else None
    if not case_id or not ws.has_case(case_id):
        return None
    case = ws.case(case_id)
    stem = path.stem
    m = _PAGE_RE.match(stem)
    for name, page in ((stem, None),) + (((m["name"], int(m["page"])),) if m else ()):
        im = next((i for i in case.images if i.name == name), None)
        if im is not None and not im.is_volume:
            if page is None and not im.is_stack:
                return LabelTarget(im)
            if page is not None and im.is_stack and page < im.shape[0]:
                return LabelTarget(im, page)
    return None


def _match_by_pixels(ws: Workspace, src: Path, path: Path, image_path: str, sha_index: dict) -> LabelTarget | None:
    """The workspace image whose decoded pixels equal the file ``imagePath`` points at."""
    from core.hashing import array_sha256
    from core.io.images import read_image

    resolved = resolve_image_path(path, image_path, src)
    if not resolved.exists():
        return None
    try:
        sha = array_sha256(read_image(resolved))
    except StudioError:
        return None
    im = sha_index.get(sha)
    return LabelTarget(im) if im is not None else None


def import_labelme_folder(
    ws: Workspace, src: str | Path, *, merge: bool = False, user: str = "system", progress: Progress | None = None
) -> LabelReport:
    """Attach the LabelMe files under ``src`` to the matching workspace images. A file matches by
    the export layout ``<case>/<image>.json`` or by the pixels of the image its ``imagePath`` names
    (which may not point outside ``src``). ``merge`` appends shapes to existing labels instead of
    replacing them."""
    src = Path(src)
    if not src.is_dir():
        raise InputError(src, "not a folder")
    report = LabelReport()
    sha_index = {im.sha256: im for c in ws.cases() for im in c.images if not im.is_volume and not im.is_stack}
    files = sorted(p for p in src.rglob("*.json") if p.name != "legend.json" and not p.name.startswith("."))
    for n, path in enumerate(files):
        if progress:
            progress(n, len(files), str(path.relative_to(src)))
        try:
            doc = read_labelme(path)
            target = _match_by_layout(ws, src, path) or _match_by_pixels(ws, src, path, doc.image_path, sha_index)
            if target is None:
                report.skipped.append({"path": str(path), "reason": "no workspace image matches (by case/image name or by pixels)"})
                continue
            fresh = ws.new_label_document(target.image)
            if doc.image_height and (doc.image_height, doc.image_width) != (fresh.image_height, fresh.image_width):
                raise LabelFileError(
                    path,
                    f"labels are for a {doc.image_width}x{doc.image_height} image, "
                    f"{target.image.id} is {fresh.image_width}x{fresh.image_height}",
                )
            existing = ws.read_labels(target.image, target.page) if merge else None
            doc.image_path, doc.image_height, doc.image_width = fresh.image_path, fresh.image_height, fresh.image_width
            if existing is not None:
                existing.shapes.extend(doc.shapes)
                existing.flags.update(doc.flags)
                doc = existing
            ws.write_labels(target.image, doc, page=target.page, user=user)
            report.written.append({"path": str(path), "image": target.key, "shapes": len(doc.shapes)})
        except (LabelFileError, InputError) as exc:
            report.skipped.append({"path": str(path), "reason": str(exc)})
        except Exception as exc:  # noqa: BLE001 - one bad file never aborts the rest; the traceback goes to the log
            log.exception("importing labels from %s failed", path)
            report.skipped.append({"path": str(path), "reason": f"unexpected {exc.__class__.__name__}: {exc}"})
    return report


def read_legend(folder: str | Path) -> dict:
    from core.io.safejson import read_json

    return read_json(Path(folder) / "legend.json")
