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
from core.io.volume import Volume
from core.workspace import catalog_safety
from core.workspace.arrays import ArrayStore
from core.workspace.catalog import Catalog, now_iso
from core.workspace.label_files import LabelFilesMixin
from core.workspace.lock import WorkspaceLock
from core.workspace.paths import confine, validate_id
from core.workspace.records import case_from_row, count, image_from_row
from core.workspace.results import ResultsRepository
from core.workspace.stored_images import load_verified, remove_written, store_image
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


class Workspace(LabelFilesMixin):
    def __init__(self, root: Path, catalog: Catalog):
        self.root = root
        self.catalog = catalog
        self._arrays: ArrayStore | None = None
        self._verified: dict[str, dict] = {}  # image id -> file stamp verified by hash this session
        self.writer_lock = WorkspaceLock(root)

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
        catalog = root / CATALOG_NAME
        if not catalog.exists():
            if catalog_safety.backup_path(catalog).exists():
                raise WorkspaceError(
                    f"{root}: {CATALOG_NAME} is missing but its backup exists; "
                    f"run 'anomaly-studio restore --workspace {root}' instead of starting a new workspace here"
                )
            if create:
                return cls.create(root)
            if not root.exists():
                raise WorkspaceError(f"{root}: workspace folder does not exist")
            raise WorkspaceError(f"{root}: not an Anomaly Studio workspace (no {CATALOG_NAME})")
        ws = cls(root, Catalog(catalog))  # refuses an empty or damaged catalog (never re-creates it)
        for sub in ("images", "labels", "models"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        ws.catalog.maybe_backup()
        return ws

    def close(self) -> None:
        """Close the catalog (refreshing its backup when this session wrote) and release the lock."""
        if self.catalog.writes:
            self.catalog.maybe_backup()
        self.catalog.close()
        self.writer_lock.release()

    def acquire_writer(self, app: str = "anomaly-studio") -> dict | None:
        """Take the workspace writer lock for an editing session. None: we hold it; else the record
        of the window that does (user, host, pid, app, since)."""
        self.writer_lock.app = app
        return self.writer_lock.acquire()

    def release_writer(self) -> None:
        self.writer_lock.release()

    @classmethod
    def restore_backup(cls, root: str | Path) -> dict:
        """Replace a damaged ``workspace.sqlite`` with ``workspace.sqlite.bak`` (the old files are
        kept beside it). Refused while another window holds the workspace."""
        root = Path(root)
        lock = WorkspaceLock(root, app="anomaly-studio restore")
        holder = lock.acquire()
        if holder is not None:
            from core.io.filelock import describe_holder

            raise WorkspaceError(f"{root}: the workspace is open in {describe_holder(holder)}; close it before restoring")
        try:
            return catalog_safety.restore_backup(root / CATALOG_NAME)
        finally:
            lock.release()

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
            raise WorkspaceError(f"invalid case id {case_id[:80]!r}: use letters, digits, '.', '_' and '-'")
        if not images:
            raise WorkspaceError(f"case '{case_id}' has no images")
        names = [im.name for im in images]
        if len(set(names)) != len(names) or not all(valid_id(n) for n in names):
            raise WorkspaceError(f"case '{case_id}': image names must be unique ids, got {names}")
        if self.has_case(case_id):
            if not replace:
                raise WorkspaceError(f"case '{case_id}' already exists")
            self.delete_case(case_id, user=user)
        folder = confine(self.root, "images", case_id)
        folder_existed = folder.exists()
        written: list[Path] = []
        try:
            records = [store_image(self, case_id, im, written) for im in images]
            self._insert_case(case_id, kind, records, names, split, truth, source, meta, user)
        except BaseException:
            remove_written(self, case_id, written, folder_existed)  # a failed import leaves nothing behind
            raise
        return self.case(case_id)

    def _insert_case(self, case_id, kind, records, names, split, truth, source, meta, user) -> None:
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

    def delete_case(self, case_id: str, user: str = "system") -> None:
        with self.catalog.transaction() as c:
            c.execute("DELETE FROM cases WHERE id=?", (case_id,))
            self.catalog.audit(user, "case.delete", case_id)
        shutil.rmtree(confine(self.root, "images", validate_id("case", case_id)), ignore_errors=True)

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
            images.setdefault(r["case_id"], []).append(image_from_row(r))
        return [case_from_row(r, images.get(r["id"], [])) for r in rows]

    def case(self, case_id: str) -> CaseRecord:
        row = self.catalog.query_one("SELECT * FROM cases WHERE id=?", (case_id,))
        if row is None:
            raise WorkspaceError(f"case '{case_id}' not found in {self.root}")
        ims = [image_from_row(r) for r in self.catalog.query("SELECT * FROM images WHERE case_id=? ORDER BY position", (case_id,))]
        return case_from_row(row, ims)

    def image(self, image_id: str) -> ImageRecord:
        row = self.catalog.query_one("SELECT * FROM images WHERE id=?", (image_id,))
        if row is None:
            raise WorkspaceError(f"image '{image_id}' not found")
        return image_from_row(row)

    def image_path(self, image: ImageRecord) -> Path:
        """The image file named by the catalog's ``images.path``, refused when it leaves the workspace."""
        return confine(self.root, image.path)

    def read_pixels(self, image: ImageRecord) -> np.ndarray:
        """Decoded pixels, after checking the file is still the imported one (IntegrityError if not)."""
        loaded = load_verified(self, image, self._verified)
        return loaded.data if isinstance(loaded, Volume) else loaded

    def read_volume(self, image: ImageRecord) -> Volume:
        loaded = load_verified(self, image, self._verified)
        if not isinstance(loaded, Volume):
            raise WorkspaceError(f"image '{image.id}' is not a volume")
        return loaded

    def verify_image(self, image: ImageRecord) -> None:
        """Raise :class:`core.errors.IntegrityError` when the image file was replaced since import."""
        load_verified(self, image, self._verified)

    def record_file_stamp(self, image: ImageRecord, stamp: dict) -> None:
        """Remember the size/mtime of a file whose content was verified (no audit entry)."""
        image.meta.extra["stored_file"] = stamp
        with self.catalog.transaction() as c:
            c.execute("UPDATE images SET meta=? WHERE id=?", (json.dumps(image.meta.to_json()), image.id))

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

    # -- summary ---------------------------------------------------------------------------
    def summary(self) -> dict:
        cases = self.cases()
        return {
            "workspace": str(self.root),
            "name": self.name,
            "cases": [c.to_json() for c in cases],
            "counts": {
                "cases": len(cases),
                "by_kind": count(c.kind.value for c in cases),
                "by_status": count(c.status.value for c in cases),
            },
        }
