"""WADO-RS retrieve of chosen series into the workspace, imported through the same readers as
local files (``core.data.importer.import_folder``).

* Instances are fetched one at a time into ``W/pacs/incoming/<series key>/`` (progress per
  instance, cancel between instances). A file that already arrived in an earlier, interrupted
  retrieve is not fetched again.
* A series whose every SOP Instance UID is already in the workspace is a duplicate: not fetched,
  not imported, the existing case is named.
* Complete series are moved into one study folder (one sub-folder per series, named as the case
  should be) and imported together; the importer decides what each becomes. Each imported image
  gets its DICOM source record (core.pacs.provenance). A series the readers refuse is reported with
  the reader's reason.
* A series with instances that did not arrive is not imported; what arrived stays in the incoming
  folder for the next retrieve and every missing instance is named.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.domain import safe_id
from core.io.atomic import atomic_path
from core.pacs.client import PacsClient
from core.pacs.errors import PacsAuthError, PacsConnectionError, PacsError, PacsNotFoundError, PartialRetrieveError
from core.pacs.provenance import record_source, sop_index
from core.pacs.query import NON_IMAGE_MODALITIES, SeriesRow
from core.runtime.progress import CancelToken, Progress, no_progress

if TYPE_CHECKING:
    from core.workspace.workspace import Workspace

log = logging.getLogger(__name__)
INCOMING = ("pacs", "incoming")
STAGING = ("pacs", "staging")


@dataclass
class RetrieveReport:
    server: str
    study_uid: str
    imported: list[dict] = field(default_factory=list)  # {"case", "series_uid", "modality", "instances"}
    duplicates: list[dict] = field(default_factory=list)  # {"series_uid", "modality", "case"}
    refused: list[dict] = field(default_factory=list)  # {"series_uid", "modality", "description", "reason"}
    missing: list[dict] = field(default_factory=list)  # {"series_uid", "sop_uid" (None: whole series), "reason"}
    skipped: list[dict] = field(default_factory=list)  # not image series (SEG, SR, ...)
    warnings: list[str] = field(default_factory=list)
    kept: str | None = None  # folder keeping the instances of incomplete series

    def to_json(self) -> dict:
        return {
            "server": self.server,
            "study_uid": self.study_uid,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "refused": self.refused,
            "missing": self.missing,
            "skipped": self.skipped,
            "warnings": self.warnings,
            "kept": self.kept,
        }

    def problem(self) -> str | None:
        """One line naming what did not make it into the workspace, or None."""
        parts = []
        if self.missing:
            series = sorted({m["series_uid"] for m in self.missing})
            n = sum(1 for m in self.missing if m.get("sop_uid"))
            first = self.missing[0]
            what = f"instance {first['sop_uid']}" if first.get("sop_uid") else f"series {first['series_uid']}"
            parts.append(
                f"partial retrieve: {n} instance(s) of {len(series)} series did not arrive ({what}: {first['reason']}); "
                f"what arrived is kept in {self.kept}"
            )
        for r in self.refused:
            parts.append(f"series {r['series_uid']} ({r['modality']}) refused by the readers: {r['reason']}")
        return "; ".join(parts) or None

    def raise_for_problems(self) -> None:
        text = self.problem()
        if text:
            raise PartialRetrieveError(text)


def _key(uid: str, n: int = 16) -> str:
    return hashlib.sha1(uid.encode("utf-8")).hexdigest()[:n]


def _folder(ws: Workspace, parts: tuple[str, ...], name: str) -> Path:
    folder = ws.root.joinpath(*parts, name)
    if not folder.resolve().is_relative_to(ws.root.resolve()):
        raise PacsError(f"{folder} lies outside the workspace")
    return folder


def _read_header(path: Path, sop_uid: str | None = None):
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - a damaged partial file is fetched again
        return None
    if sop_uid is not None and str(getattr(ds, "SOPInstanceUID", "")) != sop_uid:
        return None
    return ds


class _Fetch:
    """Download state of one retrieve: counters, progress and the reason to stop early."""

    def __init__(self, client: PacsClient, total: int, progress: Progress, cancel: CancelToken | None):
        self.client, self.total, self.progress, self.cancel = client, total, progress, cancel
        self.done = 0
        self.stop_reason: str | None = None  # server unreachable / credentials refused

    def step(self, message: str) -> None:
        self.done += 1
        self.progress(min(self.done, self.total), self.total, message)

    def series(self, study_uid: str, row: SeriesRow, sops: list[str], folder: Path, report: RetrieveReport) -> bool:
        """Fetch the missing files of one series; True when all its instances are there."""
        import pydicom

        folder.mkdir(parents=True, exist_ok=True)
        complete = True
        for i, sop in enumerate(sops):
            if self.cancel is not None:
                self.cancel.raise_if_cancelled()
            path = folder / f"{_key(sop, 24)}.dcm"
            label = f"{row.modality} series {row.number if row.number is not None else ''}: instance {i + 1}/{len(sops)}"
            if self.stop_reason is not None:
                report.missing.append({"series_uid": row.series_uid, "sop_uid": sop, "reason": self.stop_reason})
                complete = False
                self.step(label + " (skipped)")
                continue
            if path.is_file() and _read_header(path, sop) is not None:
                self.step(label + " (already here)")
                continue
            try:
                ds = self.client.retrieve_instance(study_uid, row.series_uid, sop)
                with atomic_path(path) as tmp:
                    pydicom.dcmwrite(tmp, ds, enforce_file_format=True)
            except (PacsConnectionError, PacsAuthError) as exc:
                self.stop_reason = str(exc)
                report.missing.append({"series_uid": row.series_uid, "sop_uid": sop, "reason": str(exc)})
                complete = False
            except PacsNotFoundError:
                report.missing.append({"series_uid": row.series_uid, "sop_uid": sop, "reason": "no longer on the server (HTTP 404)"})
                complete = False
            except Exception as exc:  # noqa: BLE001 - pydicom raises many types for an instance it cannot write
                report.missing.append({"series_uid": row.series_uid, "sop_uid": sop, "reason": str(exc)[:300] or exc.__class__.__name__})
                complete = False
            self.step(label)
        return complete


def _case_folder_name(header, row: SeriesRow, taken: set[str]) -> str:
    pid = str(getattr(header, "PatientID", "") or "anon")
    day = str(getattr(header, "StudyDate", "") or "nodate")
    base = safe_id(f"{pid}_{day}_{row.modality or 'DICOM'}{row.number if row.number is not None else ''}")
    name = base if base not in taken else safe_id(f"{base}_{_key(row.series_uid, 6)}")
    taken.add(name)
    return name


def retrieve_study(
    ws: Workspace,
    client: PacsClient,
    study_uid: str,
    series_uids: list[str] | None = None,
    *,
    user: str = "system",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> RetrieveReport:
    """Retrieve ``series_uids`` of ``study_uid`` (all image series when None) and import them."""
    progress = progress or no_progress
    report = RetrieveReport(client.name, study_uid)
    all_series = client.search_series(study_uid)
    if not all_series:
        raise PacsNotFoundError(f"PACS '{client.name}': study {study_uid} has no series (or does not exist)")
    by_uid = {s.series_uid: s for s in all_series}
    for uid in series_uids or []:
        if uid not in by_uid:
            raise PacsNotFoundError(f"PACS '{client.name}': series {uid} is not part of study {study_uid}")
    chosen = [by_uid[u] for u in series_uids] if series_uids else all_series
    known = sop_index(ws)
    plans: list[tuple[SeriesRow, list[str]]] = []
    for row in chosen:
        if row.modality.upper() in NON_IMAGE_MODALITIES:
            report.skipped.append({"series_uid": row.series_uid, "modality": row.modality, "reason": "not an image series"})
            continue
        sops = client.search_instances(study_uid, row.series_uid)
        if not sops:
            report.skipped.append({"series_uid": row.series_uid, "modality": row.modality, "reason": "the series holds no instances"})
            continue
        if all(u in known for u in sops):
            report.duplicates.append({"series_uid": row.series_uid, "modality": row.modality, "case": min(known[u] for u in sops)})
            continue
        plans.append((row, sops))

    fetch = _Fetch(client, sum(len(s) for _, s in plans) + 1, progress, cancel)
    complete: list[tuple[SeriesRow, Path]] = []
    for row, sops in plans:
        folder = _folder(ws, INCOMING, _key(row.series_uid))
        if fetch.series(study_uid, row, sops, folder, report):
            complete.append((row, folder))
        else:
            report.kept = str(ws.root.joinpath(*INCOMING))
    if complete:
        progress(fetch.done, fetch.total, "importing")
        _import(ws, client.name, study_uid, complete, report, user)
    progress(fetch.total, fetch.total, "done")
    ws.catalog.audit(
        user,
        "pacs.retrieve",
        None,
        {
            "server": client.name,
            "study_uid": study_uid,
            "imported": sorted({e["case"] for e in report.imported}),
            "duplicates": len(report.duplicates),
            "refused": len(report.refused),
            "missing": len(report.missing),
        },
    )
    return report


def _import(ws: Workspace, server: str, study_uid: str, complete: list[tuple[SeriesRow, Path]], report: RetrieveReport, user: str) -> None:
    from core.data.importer import import_folder

    study_dir = _folder(ws, STAGING, _key(study_uid))
    shutil.rmtree(study_dir, ignore_errors=True)
    study_dir.mkdir(parents=True)
    taken = set(ws.case_ids())
    series_of: dict[str, tuple[SeriesRow, list]] = {}  # staging sub-folder name -> series, headers
    moved: list[tuple[Path, Path]] = []
    try:
        for row, folder in complete:
            files = sorted(folder.glob("*.dcm"))
            headers = [h for h in (_read_header(p) for p in files) if h is not None]
            name = _case_folder_name(headers[0], row, taken)
            folder.rename(study_dir / name)
            moved.append((study_dir / name, folder))
            series_of[name] = (row, headers)
        try:
            imp = import_folder(ws, study_dir, user=user, layout="folder")
        except BaseException:  # the workspace failed (not a file): the instances go back for the next retrieve
            for staged, incoming in moved:
                if staged.exists() and not incoming.exists():
                    staged.rename(incoming)
            raise
        report.warnings.extend(imp.warnings)
        placed: set[str] = set()
        for entry in imp.imported:
            case = ws.case(entry["case"])
            for image in case.images:
                source = _series_folder(study_dir, image.meta.source)
                if source is None or source not in series_of:
                    report.warnings.append(f"{image.id}: cannot tell which series it came from; results cannot be sent back for it")
                    continue
                row, headers = series_of[source]
                placed.add(source)
                try:
                    record_source(ws, image, _headers_for(image, headers), server=server, user=user)
                except PacsError as exc:
                    report.warnings.append(f"{exc}; results cannot be sent back for this image")
                report.imported.append({"case": case.id, "image": image.name, "series_uid": row.series_uid, "modality": row.modality})
        for skip in imp.skipped:
            source = _series_folder(study_dir, skip.get("path"))
            if source is not None and source in series_of and source not in placed:
                row, _ = series_of[source]
                placed.add(source)
                report.refused.append(
                    {
                        "series_uid": row.series_uid,
                        "modality": row.modality,
                        "description": row.description,
                        "reason": skip.get("reason", ""),
                    }
                )
        for name, (row, _) in series_of.items():
            if name not in placed:
                reason = "the importer took no case from it"
                report.refused.append(
                    {"series_uid": row.series_uid, "modality": row.modality, "description": row.description, "reason": reason}
                )
    finally:
        shutil.rmtree(study_dir, ignore_errors=True)


def _series_folder(study_dir: Path, source: str | None) -> str | None:
    if not source:
        return None
    try:
        rel = Path(source).resolve().relative_to(study_dir.resolve())
    except ValueError:
        return None
    return rel.parts[0] if rel.parts else None


def _headers_for(image, headers: list) -> list:
    """The instances of a series an image was made from: all of them for a volume, else the one
    whose size matches (a series of several 2-D photos gives one image per instance)."""
    if image.is_volume or len(headers) == 1:
        return headers
    h, w = image.shape[:2]
    same = [ds for ds in headers if (int(ds.Rows), int(ds.Columns)) == (int(h), int(w))]
    return same[:1] or headers
