"""The workspace folder and its operations (cases, images, reviews, labels, arrays).

Layout::

    W/workspace.sqlite   catalog (cases, images, reviews, audit, model versions)
    W/arrays.h5          array store keyed by image content hash
    W/images/<case>/     the case's image files, copied in at import
    W/labels/<case>/     one LabelMe JSON per 2-D image; label volumes (.nii.gz) for MRI
    W/models/<name>/<version>/
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.domain import (
    CaseKind,
    CaseRecord,
    Decision,
    ImageMeta,
    ImageRecord,
    LoadedCase,
    LoadedImage,
    Modality,
    ReviewStatus,
    valid_id,
)
from core.errors import WorkspaceError
from core.hashing import array_sha256
from core.io.atomic import atomic_path
from core.io.images import write_png, write_tiff_stack
from core.io.labelme import LabelDocument, read_labelme, write_labelme
from core.io.loader import read_for_modality
from core.io.nifti import write_nifti
from core.io.volume import Volume
from core.workspace.arrays import ArrayStore
from core.workspace.catalog import Catalog, now_iso
from core.workspace.results import ResultsRepository
from core.workspace.versions import VersionsRepository

log = logging.getLogger(__name__)
CATALOG_NAME = "workspace.sqlite"
ARRAYS_NAME = "arrays.h5"


@dataclass
class NewImage:
    """An image to add to a case: either pixels (``array`` or ``volume``) or a file to copy."""

    name: str
    modality: Modality
    array: np.ndarray | None = None
    volume: Volume | None = None
    source_path: Path | None = None
    meta: ImageMeta = field(default_factory=ImageMeta)


class Workspace:
    def __init__(self, root: Path, catalog: Catalog):
        self.root = root
        self.catalog = catalog
        self._arrays: ArrayStore | None = None

    # -- open / create ---------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, name: str | None = None) -> Workspace:
        root = Path(root)
        if (root / CATALOG_NAME).exists():
            return cls.open(root)
        if root.exists() and any(root.iterdir()):
            raise WorkspaceError(f"{root}: folder is not empty and is not a workspace")
        for sub in ("images", "labels", "models"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        ws = cls(root, Catalog(root / CATALOG_NAME, create=True))
        ws.catalog.set_info("name", name or root.name)
        return ws

    @classmethod
    def open(cls, root: str | Path, create: bool = False) -> Workspace:
        root = Path(root)
        if not (root / CATALOG_NAME).exists():
            if create:
                return cls.create(root)
            if not root.exists():
                raise WorkspaceError(f"{root}: workspace folder does not exist")
            raise WorkspaceError(f"{root}: not an Anomaly Studio workspace (no {CATALOG_NAME})")
        for sub in ("images", "labels", "models"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        return cls(root, Catalog(root / CATALOG_NAME))

    def close(self) -> None:
        self.catalog.close()

    @property
    def name(self) -> str:
        return self.catalog.info("name") or self.root.name

    @property
    def arrays(self) -> ArrayStore:
        if self._arrays is None:
            self._arrays = ArrayStore(self.root / ARRAYS_NAME)
        return self._arrays

    @property
    def versions(self) -> VersionsRepository:
        """Fitted model versions (core.workspace.versions)."""
        return VersionsRepository(self.catalog)

    @property
    def results(self) -> ResultsRepository:
        """Stored model results and their arrays (core.workspace.results)."""
        return ResultsRepository(self.catalog, self.arrays)

    # -- cases -----------------------------------------------------------------------------
    def add_case(
        self,
        case_id: str,
        kind: CaseKind,
        images: list[NewImage],
        *,
        split: str | None = None,
        truth: str | None = None,
        source: str | None = None,
        meta: dict | None = None,
        user: str = "system",
        replace: bool = False,
    ) -> CaseRecord:
        if not valid_id(case_id):
            raise WorkspaceError(f"invalid case id '{case_id}': use letters, digits, '.', '_' and '-'")
        if not images:
            raise WorkspaceError(f"case '{case_id}' has no images")
        names = [im.name for im in images]
        if len(set(names)) != len(names) or not all(valid_id(n) for n in names):
            raise WorkspaceError(f"case '{case_id}': image names must be unique ids, got {names}")
        if self.has_case(case_id):
            if not replace:
                raise WorkspaceError(f"case '{case_id}' already exists")
            self.delete_case(case_id, user=user)
        records = [self._store_image(case_id, im, position=i) for i, im in enumerate(images)]
        created = now_iso()
        with self.catalog.transaction() as c:
            c.execute(
                "INSERT INTO cases(id, kind, created, source, split, truth, meta) VALUES(?,?,?,?,?,?,?)",
                (case_id, CaseKind(kind).value, created, source, split, truth, json.dumps(meta or {})),
            )
            for pos, rec in enumerate(records):
                c.execute(
                    "INSERT INTO images(id, case_id, name, modality, path, sha256, shape, dtype, meta, position)"
                    " VALUES(?,?,?,?,?,?,?,?,?,?)",
                    (
                        rec.id,
                        case_id,
                        rec.name,
                        rec.modality.value,
                        rec.path,
                        rec.sha256,
                        json.dumps(list(rec.shape)),
                        rec.dtype,
                        json.dumps(rec.meta.to_json()),
                        pos,
                    ),
                )
            self.catalog.audit(user, "case.add", case_id, {"kind": CaseKind(kind).value, "images": names, "source": source})
        return self.case(case_id)

    def _store_image(self, case_id: str, im: NewImage, position: int) -> ImageRecord:
        folder = self.root / "images" / case_id
        folder.mkdir(parents=True, exist_ok=True)
        meta = im.meta
        if im.source_path is not None:
            src = Path(im.source_path)
            loaded = read_for_modality(src, im.modality)  # validates before copying
            if isinstance(loaded, Volume) and src.is_dir():  # DICOM series -> NIfTI in scan space
                rel = f"images/{case_id}/{im.name}.nii.gz"
                write_nifti(self.root / rel, loaded.data, loaded.affine)
                meta.extra.setdefault("dicom", loaded.meta)
            else:
                ext = ".nii.gz" if src.name.lower().endswith(".nii.gz") else src.suffix.lower()
                rel = f"images/{case_id}/{im.name}{ext}"
                with atomic_path(self.root / rel) as tmp:
                    shutil.copyfile(src, tmp)
            meta.source = meta.source or str(src)
        elif im.volume is not None:
            loaded = im.volume
            rel = f"images/{case_id}/{im.name}.nii.gz"
            write_nifti(self.root / rel, loaded.data, loaded.affine, header=loaded.header)
        elif im.array is not None:
            loaded = np.ascontiguousarray(im.array)
            if loaded.ndim == 3 and loaded.shape[-1] != 3 or loaded.ndim == 4:
                rel = f"images/{case_id}/{im.name}.tif"
                write_tiff_stack(self.root / rel, loaded)
            else:
                rel = f"images/{case_id}/{im.name}.png"
                write_png(self.root / rel, loaded)
        else:
            raise WorkspaceError(f"image '{im.name}' of case '{case_id}' has no pixels and no source file")
        if isinstance(loaded, Volume):
            meta.affine = [[float(v) for v in row] for row in loaded.affine]
            meta.spacing = [float(s) for s in loaded.spacing]
            pixels = loaded.data
        else:
            pixels = loaded
        # Hash what will be read back from disk, so cache keys match later loads exactly.
        if im.source_path is None:
            read_back = read_for_modality(self.root / rel, im.modality)
            pixels = read_back.data if isinstance(read_back, Volume) else read_back
        return ImageRecord(
            id=f"{case_id}/{im.name}",
            case_id=case_id,
            name=im.name,
            modality=Modality(im.modality),
            path=rel,
            sha256=array_sha256(pixels),
            shape=tuple(int(s) for s in pixels.shape),
            dtype=str(pixels.dtype),
            meta=meta,
        )

    def delete_case(self, case_id: str, user: str = "system") -> None:
        with self.catalog.transaction() as c:
            c.execute("DELETE FROM cases WHERE id=?", (case_id,))
            self.catalog.audit(user, "case.delete", case_id)
        shutil.rmtree(self.root / "images" / case_id, ignore_errors=True)

    def has_case(self, case_id: str) -> bool:
        return self.catalog.query_one("SELECT 1 FROM cases WHERE id=?", (case_id,)) is not None

    def case_ids(self) -> list[str]:
        return [r["id"] for r in self.catalog.query("SELECT id FROM cases ORDER BY id")]

    def cases(self, kind: CaseKind | None = None, split: str | None = None, truth: str | None = None) -> list[CaseRecord]:
        sql, params = "SELECT * FROM cases WHERE 1=1", []
        for col, val in (("kind", kind.value if kind else None), ("split", split), ("truth", truth)):
            if val is not None:
                sql += f" AND {col}=?"
                params.append(val)
        rows = self.catalog.query(sql + " ORDER BY id", tuple(params))
        images: dict[str, list[ImageRecord]] = {}
        for r in self.catalog.query("SELECT * FROM images ORDER BY case_id, position"):
            images.setdefault(r["case_id"], []).append(_image_from_row(r))
        return [_case_from_row(r, images.get(r["id"], [])) for r in rows]

    def case(self, case_id: str) -> CaseRecord:
        row = self.catalog.query_one("SELECT * FROM cases WHERE id=?", (case_id,))
        if row is None:
            raise WorkspaceError(f"case '{case_id}' not found in {self.root}")
        ims = [_image_from_row(r) for r in self.catalog.query("SELECT * FROM images WHERE case_id=? ORDER BY position", (case_id,))]
        return _case_from_row(row, ims)

    def image(self, image_id: str) -> ImageRecord:
        row = self.catalog.query_one("SELECT * FROM images WHERE id=?", (image_id,))
        if row is None:
            raise WorkspaceError(f"image '{image_id}' not found")
        return _image_from_row(row)

    def image_path(self, image: ImageRecord) -> Path:
        return self.root / image.path

    def read_pixels(self, image: ImageRecord) -> np.ndarray:
        loaded = read_for_modality(self.image_path(image), image.modality)
        return loaded.data if isinstance(loaded, Volume) else loaded

    def read_volume(self, image: ImageRecord) -> Volume:
        from core.io.nifti import read_nifti

        return read_nifti(self.image_path(image))

    def load_case(self, case_id: str | CaseRecord) -> LoadedCase:
        record = case_id if isinstance(case_id, CaseRecord) else self.case(case_id)
        return LoadedCase(record, {im.name: LoadedImage(im, self.read_pixels(im)) for im in record.images})

    def update_image_meta(self, image: ImageRecord, meta: ImageMeta, user: str = "system") -> None:
        with self.catalog.transaction() as c:
            c.execute("UPDATE images SET meta=? WHERE id=?", (json.dumps(meta.to_json()), image.id))
            self.catalog.audit(user, "image.meta", image.case_id, {"image": image.id})

    # -- review ----------------------------------------------------------------------------
    _UNSET = object()

    def set_review(
        self,
        case_id: str,
        user: str,
        *,
        status: ReviewStatus | str | None = None,
        decision: Decision | str | None | object = _UNSET,
        comment: str | None = None,
    ) -> CaseRecord:
        case = self.case(case_id)
        new_status = ReviewStatus(status) if status is not None else case.status
        new_decision = case.decision if decision is Workspace._UNSET else (Decision(decision) if decision else None)
        new_comment = case.comment if comment is None else comment
        t = now_iso()
        with self.catalog.transaction() as c:
            c.execute(
                "UPDATE cases SET status=?, decision=?, comment=?, last_reviewer=?, reviewed_at=? WHERE id=?",
                (new_status.value, new_decision.value if new_decision else None, new_comment, user, t, case_id),
            )
            c.execute(
                "INSERT INTO reviews(case_id, user, time, status, decision, comment) VALUES(?,?,?,?,?,?)",
                (case_id, user, t, new_status.value, new_decision.value if new_decision else None, new_comment),
            )
            changes: dict[str, list[str | None]] = {}
            if new_status != case.status:
                changes["status"] = [case.status.value, new_status.value]
            if new_decision != case.decision:
                changes["decision"] = [case.decision.value if case.decision else None, new_decision.value if new_decision else None]
            if new_comment != case.comment:
                changes["comment"] = [case.comment, new_comment]
            self.catalog.audit(user, "review", case_id, changes)
        return self.case(case_id)

    def reviews(self, case_id: str) -> list[dict]:
        return [dict(r) for r in self.catalog.query("SELECT * FROM reviews WHERE case_id=? ORDER BY id", (case_id,))]

    def set_slice_reviews(self, image: ImageRecord, axis: int, decisions: dict[int, Decision | str | None], user: str = "system") -> None:
        """Record per-slice decisions of a volume (``None`` clears one). ``axis`` is the array axis the
        slices are perpendicular to and the keys are indices along it (the scan's own voxel grid)."""
        if not image.is_volume:
            raise WorkspaceError(f"image '{image.id}' is not a volume: slice decisions need an MRI volume")
        if not 0 <= int(axis) < len(image.shape):
            raise WorkspaceError(f"axis {axis} does not exist in a volume of shape {tuple(image.shape)}")
        n = int(image.shape[int(axis)])
        bad = [i for i in decisions if not 0 <= int(i) < n]
        if bad:
            raise WorkspaceError(f"slice index {bad[0]} is outside 0..{n - 1} along axis {axis} of '{image.id}'")
        t = now_iso()
        with self.catalog.transaction() as c:
            for index, decision in decisions.items():
                if decision is None:
                    c.execute("DELETE FROM slice_reviews WHERE image_id=? AND axis=? AND slice=?", (image.id, int(axis), int(index)))
                else:
                    c.execute(
                        "INSERT OR REPLACE INTO slice_reviews(image_id, axis, slice, decision, user, time) VALUES(?,?,?,?,?,?)",
                        (image.id, int(axis), int(index), Decision(decision).value, user, t),
                    )
            self.catalog.audit(
                user,
                "review.slices",
                image.case_id,
                {
                    "image": image.id,
                    "axis": int(axis),
                    "slices": {str(int(i)): (Decision(d).value if d else None) for i, d in decisions.items()},
                },
            )

    def slice_reviews(self, image: ImageRecord) -> dict[tuple[int, int], str]:
        """{(axis, index): 'normal' | 'abnormal'} for one volume."""
        rows = self.catalog.query("SELECT axis, slice, decision FROM slice_reviews WHERE image_id=?", (image.id,))
        return {(int(r["axis"]), int(r["slice"])): r["decision"] for r in rows}

    # -- labels ----------------------------------------------------------------------------
    def label_path(self, image: ImageRecord, page: int | None = None) -> Path:
        suffix = f"_p{page:03d}" if page is not None else ""
        return self.root / "labels" / image.case_id / f"{image.name}{suffix}.json"

    def label_volume_path(self, image: ImageRecord) -> Path:
        return self.root / "labels" / image.case_id / f"{image.name}.labels.nii.gz"

    def read_labels(self, image: ImageRecord, page: int | None = None) -> LabelDocument | None:
        path = self.label_path(image, page)
        return read_labelme(path) if path.exists() else None

    def new_label_document(self, image: ImageRecord) -> LabelDocument:
        h, w = image.shape[-3:-1] if image.shape[-1] == 3 and len(image.shape) >= 3 else image.shape[-2:]
        rel = Path("..", "..", *Path(image.path).parts).as_posix()
        return LabelDocument(image_path=rel, image_height=int(h), image_width=int(w))

    def write_labels(self, image: ImageRecord, doc: LabelDocument, page: int | None = None, user: str = "system") -> Path:
        path = self.label_path(image, page)
        write_labelme(path, doc)
        self.catalog.audit(user, "labels.save", image.case_id, {"image": image.id, "shapes": len(doc.shapes), "page": page})
        return path

    def write_label_volume(self, image: ImageRecord, labels: np.ndarray, legend: dict[str, int], user: str = "system") -> Path:
        vol = self.read_volume(image)
        if labels.shape != vol.shape:
            raise WorkspaceError(f"label volume shape {labels.shape} does not match scan {vol.shape}")
        path = self.label_volume_path(image)
        write_nifti(path, labels.astype(np.uint8), vol.affine, header=vol.header)
        from core.io.atomic import atomic_write_json

        atomic_write_json(path.with_name(path.name.replace(".nii.gz", ".legend.json")), legend)
        self.catalog.audit(user, "labels.save", image.case_id, {"image": image.id, "volume": True})
        return path

    def read_label_volume(self, image: ImageRecord) -> tuple[np.ndarray, dict[str, int]] | None:
        from core.io.nifti import read_nifti

        path = self.label_volume_path(image)
        if not path.exists():
            return None
        vol = read_nifti(path, dtype=np.uint8)
        legend_path = path.with_name(path.name.replace(".nii.gz", ".legend.json"))
        legend = json.loads(legend_path.read_text()) if legend_path.exists() else {}
        return vol.data, legend

    # -- summary ---------------------------------------------------------------------------
    def summary(self) -> dict:
        cases = self.cases()
        return {
            "workspace": str(self.root),
            "name": self.name,
            "cases": [c.to_json() for c in cases],
            "counts": {
                "cases": len(cases),
                "by_kind": _count(c.kind.value for c in cases),
                "by_status": _count(c.status.value for c in cases),
            },
        }


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _image_from_row(r) -> ImageRecord:
    return ImageRecord(
        id=r["id"],
        case_id=r["case_id"],
        name=r["name"],
        modality=Modality(r["modality"]),
        path=r["path"],
        sha256=r["sha256"],
        shape=tuple(json.loads(r["shape"])),
        dtype=r["dtype"],
        meta=ImageMeta.from_json(json.loads(r["meta"])),
    )


def _case_from_row(r, images: list[ImageRecord]) -> CaseRecord:
    return CaseRecord(
        id=r["id"],
        kind=CaseKind(r["kind"]),
        images=images,
        status=ReviewStatus(r["status"]),
        decision=Decision(r["decision"]) if r["decision"] else None,
        comment=r["comment"] or "",
        last_reviewer=r["last_reviewer"],
        reviewed_at=r["reviewed_at"],
        split=r["split"],
        truth=r["truth"],
        source=r["source"],
        created=r["created"],
        meta=json.loads(r["meta"] or "{}"),
    )
