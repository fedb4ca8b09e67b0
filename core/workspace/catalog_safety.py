"""Opening the catalog safely: refuse a damaged file, wait visibly for a busy one, keep a backup.

* :func:`check_catalog_file` / :func:`check_catalog_contents`: an existing ``workspace.sqlite``
  that is empty, not SQLite, fails ``PRAGMA quick_check`` or holds no Anomaly Studio schema is a
  :class:`CatalogDamagedError` that says so and points at the backup. It is never re-created.
* :func:`busy_retry`: ``database is locked`` waits (with one visible message) up to
  ``ANOMALY_STUDIO_LOCK_WAIT_S`` and then raises :class:`LockBusyError` naming the process that
  last began writing (recorded in ``workspace.sqlite.holder``).
* :func:`backup_catalog` / :func:`restore_backup`: a rolling copy ``workspace.sqlite.bak`` made
  with SQLite's online backup API (consistent while others write), replaced atomically.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from core.errors import CatalogDamagedError, LockBusyError, WorkspaceError
from core.io.filelock import ENV_LOCK_WAIT, describe_holder, holder_record, lock_wait_s, read_holder, report_waiting

log = logging.getLogger(__name__)
T = TypeVar("T")

SQLITE_MAGIC = b"SQLite format 3\x00"
BACKUP_SUFFIX = ".bak"
HOLDER_SUFFIX = ".holder"
ENV_BACKUP_MINUTES = "ANOMALY_STUDIO_BACKUP_MINUTES"
DEFAULT_BACKUP_MINUTES = 10.0


def backup_path(catalog: Path) -> Path:
    return catalog.with_name(catalog.name + BACKUP_SUFFIX)


def restore_hint(catalog: Path) -> str:
    bak = backup_path(catalog)
    if bak.exists():
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(bak.stat().st_mtime))
        return f"A backup from {when} exists: run 'anomaly-studio restore --workspace {catalog.parent}' to go back to it."
    return f"No backup ({bak.name}) exists; restore {catalog.name} from your own backups."


def _damaged(catalog: Path, what: str) -> CatalogDamagedError:
    return CatalogDamagedError(f"{catalog}: not a readable workspace catalog: it {what}. {restore_hint(catalog)}")


def check_catalog_size(catalog: Path) -> None:
    """The checks of a live catalog before SQLite touches it: only ``stat``, never ``open``.

    Closing any descriptor of a file drops every POSIX lock this process holds on it, SQLite's too:
    a second open of a catalog this process already has open would lose the shared lock that tells
    another process (a trainer) it is not the last user, and that process would then checkpoint and
    delete the WAL under our connections (lost writes, "database disk image is malformed"). The
    SQLite header is therefore checked by SQLite itself (:func:`damaged_by`)."""
    try:
        size = catalog.stat().st_size
    except OSError as exc:
        raise _damaged(catalog, f"cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise _damaged(catalog, "is empty (0 bytes); an existing catalog is never re-created as a new workspace")


def check_catalog_file(catalog: Path) -> None:
    """Size and SQLite header of a catalog file no connection of this process has open (a backup)."""
    check_catalog_size(catalog)
    try:
        with open(catalog, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise _damaged(catalog, f"cannot be read ({exc.strerror or exc})") from None
    if head != SQLITE_MAGIC:
        raise _damaged(catalog, "is not an SQLite database (damaged or overwritten)")


def damaged_by(catalog: Path, exc: sqlite3.DatabaseError) -> CatalogDamagedError:
    """The readable error for SQLite refusing a catalog file."""
    if "not a database" in str(exc).lower():
        return _damaged(catalog, "is not an SQLite database (damaged or overwritten)")
    return _damaged(catalog, f"is damaged ({exc})")


def check_catalog_contents(conn: sqlite3.Connection, catalog: Path) -> None:
    """Integrity and schema of an existing catalog (run once when it is opened)."""
    try:
        result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise
        raise _damaged(catalog, f"cannot be read ({exc})") from None
    except sqlite3.DatabaseError as exc:
        raise damaged_by(catalog, exc) from None
    if result != "ok":
        raise _damaged(catalog, f"is damaged (integrity check: {result})")
    if version == 0 or not {"workspace_info", "cases", "images"} <= tables:
        raise _damaged(catalog, "holds no Anomaly Studio tables")


# -- busy database ------------------------------------------------------------------------------
def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def holder_path(catalog: Path) -> Path:
    return catalog.with_name(catalog.name + HOLDER_SUFFIX)


def record_writer(catalog: Path, app: str = "") -> None:
    """Note who began writing (read by a process that finds the database busy); best effort."""
    import json

    try:
        fd = os.open(holder_path(catalog), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, json.dumps(holder_record(app)).encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def busy_message(catalog: Path) -> str:
    info = read_holder(holder_path(catalog))
    return describe_holder(info)


def busy_retry(fn: Callable[[], T], catalog: Path, timeout: float | None = None) -> T:
    """Call ``fn``; while SQLite says the database is locked, wait (one message), then give up with
    a :class:`LockBusyError` that names the holder."""
    timeout = lock_wait_s() if timeout is None else timeout
    start = time.monotonic()
    noticed = False
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            waited = time.monotonic() - start
            if waited >= timeout:
                raise LockBusyError(
                    f"{catalog}: the workspace database is busy, last written by {busy_message(catalog)}; "
                    f"gave up after {waited:.0f} s (wait longer with {ENV_LOCK_WAIT}=SECONDS)"
                ) from None
            if not noticed:
                noticed = True
                report_waiting(f"waiting for the workspace database ({catalog.name}), busy with {busy_message(catalog)}…")
            time.sleep(0.1)


# -- backup and restore -------------------------------------------------------------------------
def backup_interval_s() -> float:
    try:
        return float(os.environ.get(ENV_BACKUP_MINUTES, DEFAULT_BACKUP_MINUTES)) * 60.0
    except ValueError:
        return DEFAULT_BACKUP_MINUTES * 60.0


def backup_catalog(catalog: Path, dest: Path | None = None) -> Path:
    """Copy the catalog with SQLite's online backup API into ``dest`` (default ``.bak``), atomically."""
    dest = dest or backup_path(catalog)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        tmp.unlink()
    src = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=5.0)
    try:
        dst = sqlite3.connect(tmp)
        try:
            busy_retry(lambda: src.backup(dst), catalog, timeout=min(lock_wait_s(), 10.0))
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        src.close()
    return dest


def maybe_backup(catalog: Path, max_age_s: float | None = None) -> Path | None:
    """Refresh the backup when it is missing or older than ``max_age_s``; never fails the caller."""
    max_age_s = backup_interval_s() if max_age_s is None else max_age_s
    bak = backup_path(catalog)
    try:
        if bak.exists() and time.time() - bak.stat().st_mtime < max_age_s:
            return None
        return backup_catalog(catalog)
    except (OSError, sqlite3.Error, LockBusyError) as exc:
        log.warning("could not refresh the catalog backup %s: %s", bak, exc)
        return None


def verify_backup(bak: Path) -> None:
    check_catalog_file(bak)
    conn = sqlite3.connect(f"file:{bak}?mode=ro", uri=True)
    try:
        check_catalog_contents(conn, bak)
    finally:
        conn.close()


def restore_backup(catalog: Path) -> dict:
    """Put the backup back in place of the catalog; the replaced files are kept beside it
    (``workspace.sqlite.replaced-<time>``). The caller holds the workspace writer lock."""
    bak = backup_path(catalog)
    if not bak.exists():
        raise WorkspaceError(f"{catalog.parent}: there is no catalog backup ({bak.name}) to restore")
    try:
        verify_backup(bak)
    except CatalogDamagedError as exc:
        raise WorkspaceError(f"{bak}: the backup itself is unusable ({exc})") from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = []
    for suffix in ("", "-wal", "-shm"):
        p = catalog.with_name(catalog.name + suffix)
        if p.exists():
            aside = p.with_name(f"{p.name}.replaced-{stamp}")
            os.replace(p, aside)
            kept.append(str(aside))
    from core.io.atomic import atomic_path

    with atomic_path(catalog) as tmp:
        tmp.write_bytes(bak.read_bytes())
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(bak.stat().st_mtime))
    return {"restored": str(catalog), "backup": str(bak), "backup_time": when, "kept": kept}
