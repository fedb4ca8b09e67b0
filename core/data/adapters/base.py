"""Plan -> workspace for dataset adapters."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.domain import CaseKind
from core.errors import InputError, StudioError
from core.workspace.workspace import NewImage, Workspace

# name -> "module:Class"; detection tries them in this order
ADAPTERS: dict[str, str] = {
    "idrid": "core.data.adapters.idrid:IDRiD",
    "bmad": "core.data.adapters.bmad:BMAD",
    "mmr": "core.data.adapters.mmr:MMR",
    "eyeq": "core.data.adapters.eyeq:EyeQ",
    "brats": "core.data.adapters.brats:BraTS",
    "retouch": "core.data.adapters.retouch:RETOUCH",
    "duke": "core.data.adapters.duke:Duke",
}


@dataclass
class PlannedCase:
    case_id: str
    kind: CaseKind
    images: list[NewImage]
    split: str | None = None
    truth: str | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)
    mask_labels: dict[str, list[tuple[str, Path]]] = field(default_factory=dict)  # image -> [(class, mask file)]
    labelme: dict[str, tuple[Path, dict[str, str]]] = field(default_factory=dict)  # image -> (json, label renames)
    label_volume: tuple[str, Path] | None = None  # (image, BraTS-style seg NIfTI)
    # OCT volume datasets read each volume only when its case is added (one volume in memory at a time):
    # load() -> (images, {image: [per B-scan {class: bool mask}]}); classes missing from the workspace are added
    load: Callable[[], tuple[list[NewImage], dict[str, list[dict[str, np.ndarray]]]]] | None = None


def get_adapter(name: str):
    try:
        module, _, cls = ADAPTERS[name].partition(":")
    except KeyError:
        raise InputError(None, f"unknown dataset format '{name}'; known: {', '.join(ADAPTERS)} (or 'folder')") from None
    return getattr(importlib.import_module(module), cls)()


def detect_layout(src: Path) -> str | None:
    for name in ADAPTERS:
        if get_adapter(name).detect(src):
            return name
    return None


def _read_mask(path: Path) -> np.ndarray:
    from core.io.images import read_image

    m = read_image(path)
    if m.ndim == 3:
        m = m.max(axis=-1)
    return m > 0


def apply_plan(
    ws: Workspace, cases: list[PlannedCase], report, user: str = "import", progress: Callable[[int, int, str], None] | None = None
) -> None:
    from core.io.labelme import Shape, read_labelme

    for i, pc in enumerate(cases):
        if progress:
            progress(i, len(cases), pc.case_id)
        if ws.has_case(pc.case_id):
            report.skipped.append({"path": pc.source, "case": pc.case_id, "reason": f"case '{pc.case_id}' already exists"})
            continue
        page_masks: dict[str, list[dict[str, np.ndarray]]] = {}
        try:
            images = pc.images
            if pc.load is not None:
                images, page_masks = pc.load()
            case = ws.add_case(pc.case_id, pc.kind, images, split=pc.split, truth=pc.truth, source=pc.source, meta=pc.meta, user=user)
        except InputError as exc:
            report.skipped.append({"path": exc.path or pc.source, "case": pc.case_id, "reason": exc.reason})
            continue
        except StudioError as exc:
            report.skipped.append({"path": pc.source, "case": pc.case_id, "reason": str(exc)})
            continue
        except Exception as exc:  # noqa: BLE001 - one bad case never aborts the rest of an import; the traceback goes to the log
            logging.getLogger(__name__).exception("importing %s failed", pc.case_id)
            report.skipped.append({"path": pc.source, "case": pc.case_id, "reason": f"unexpected {exc.__class__.__name__}: {exc}"})
            continue
        entry: dict[str, Any] = {
            "case": pc.case_id,
            "kind": pc.kind.value,
            "images": [im.name for im in case.images],
            "split": pc.split,
            "truth": pc.truth,
        }
        for image_name, masks in pc.mask_labels.items():
            rec = next(im for im in case.images if im.name == image_name)
            doc = ws.new_label_document(rec)
            try:
                for label, path in masks:
                    m = _read_mask(path)
                    if m.shape != (doc.image_height, doc.image_width):
                        raise InputError(path, f"mask is {m.shape[1]}x{m.shape[0]}, image is {doc.image_width}x{doc.image_height}")
                    if m.any():
                        doc.shapes.append(Shape.from_mask(label, m, description=f"imported from {path.name}"))
                ws.write_labels(rec, doc, user=user)
                entry.setdefault("labels", []).append(image_name)
            except InputError as exc:
                report.warnings.append(f"{pc.case_id}: labels not imported: {exc}")
        for image_name, (path, renames) in pc.labelme.items():
            rec = next(im for im in case.images if im.name == image_name)
            try:
                doc = read_labelme(path)
                fresh = ws.new_label_document(rec)
                for s in doc.shapes:
                    s.label = renames.get(s.label, s.label)
                doc.image_path, doc.image_height, doc.image_width = fresh.image_path, fresh.image_height, fresh.image_width
                ws.write_labels(rec, doc, user=user)
                entry.setdefault("labels", []).append(image_name)
            except InputError as exc:
                report.warnings.append(f"{pc.case_id}: labels not imported: {exc}")
        if page_masks:
            _write_page_masks(ws, case, page_masks, user)
            entry.setdefault("labels", []).extend(page_masks)
        if pc.label_volume is not None:
            from core.data.importer import import_label_volume

            image_name, path = pc.label_volume
            rec = next(im for im in case.images if im.name == image_name)
            try:
                import_label_volume(ws, rec, path, user)
                entry.setdefault("labels", []).append("seg")
            except InputError as exc:
                report.warnings.append(f"{pc.case_id}: label volume not imported: {exc}")
        report.imported.append(entry)
    if progress:
        progress(len(cases), len(cases), "done")


def _write_page_masks(ws: Workspace, case, page_masks: dict[str, list[dict[str, np.ndarray]]], user: str) -> None:
    """One LabelMe document per labelled B-scan; classes the workspace lacks are added to it."""
    from core.io.labelme import Shape
    from core.labels.classes import add_class, workspace_class_set

    for image_name, pages in page_masks.items():
        rec = next(im for im in case.images if im.name == image_name)
        known = workspace_class_set(ws, rec.modality.value)
        for label in sorted({label for masks in pages for label in masks} - {c.name for c in known.classes}):
            add_class(ws, rec.modality.value, label, user=user)
        for page, masks in enumerate(pages):
            shapes = [Shape.from_mask(label, m, description="imported dataset label") for label, m in masks.items() if m.any()]
            if shapes:
                doc = ws.new_label_document(rec)
                doc.shapes.extend(shapes)
                ws.write_labels(rec, doc, page=page if rec.is_stack else None, user=user)
