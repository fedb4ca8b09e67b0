"""SQLite catalog: cases, images, review decisions, audit log (and later model versions, results).

One connection per thread, WAL journal, every write inside ``BEGIN IMMEDIATE`` ... ``COMMIT``. A
process killed mid-transaction leaves nothing half-written: SQLite rolls the journal back when the
workspace is next opened.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from core.errors import CatalogDamagedError, LockBusyError, WorkspaceError
from core.workspace import catalog_safety as safety

SCHEMA_VERSION = 4

_SCHEMA_V1 = """
CREATE TABLE workspace_info(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE cases(
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    created TEXT NOT NULL,
    source TEXT,
    split TEXT,
    truth TEXT,
    status TEXT NOT NULL DEFAULT 'unreviewed',
    decision TEXT,
    comment TEXT NOT NULL DEFAULT '',
    last_reviewer TEXT,
    reviewed_at TEXT,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE images(
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    modality TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    shape TEXT NOT NULL,
    dtype TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    position INTEGER NOT NULL DEFAULT 0,
    UNIQUE(case_id, name)
);
CREATE INDEX images_sha ON images(sha256);
CREATE TABLE reviews(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    user TEXT NOT NULL,
    time TEXT NOT NULL,
    status TEXT,
    decision TEXT,
    comment TEXT
);
CREATE INDEX reviews_case ON reviews(case_id);
CREATE TABLE audit(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    case_id TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_case ON audit(case_id);
"""

_SCHEMA_V2 = """
CREATE TABLE model_versions(
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    path TEXT NOT NULL,
    created TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'ready',
    card TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY(name, version)
);
CREATE TABLE results(
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    image TEXT NOT NULL,
    score REAL NOT NULL,
    raw_score REAL,
    threshold REAL,
    maps TEXT NOT NULL DEFAULT '{}',
    extras TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    PRIMARY KEY(model, version, case_id)
);
CREATE INDEX results_case ON results(case_id)
"""

# Per-slice review decisions of MRI volumes (weak slice labels for RASALoRE), on the volume's own
# voxel grid: the array axis the slice is perpendicular to and its index along that axis.
_SCHEMA_V3 = """
CREATE TABLE slice_reviews(
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    axis INTEGER NOT NULL,
    slice INTEGER NOT NULL,
    decision TEXT NOT NULL,
    user TEXT NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY(image_id, axis, slice)
)
"""

# Model versions are active per method and modality; each records the digest of its folder's files
# (card.json + model.pt) taken when it was registered.
_SCHEMA_V4 = """
ALTER TABLE model_versions ADD COLUMN modality TEXT NOT NULL DEFAULT '';
ALTER TABLE model_versions ADD COLUMN digest TEXT NOT NULL DEFAULT '';
UPDATE model_versions SET modality=COALESCE(json_extract(card, '$.config.modality'), '')
    WHERE json_valid(card);
CREATE INDEX model_versions_active ON model_versions(name, modality, active)
"""

# Each entry upgrades the schema by one version; append, never edit.
MIGRATIONS: list[str] = [_SCHEMA_V1, _SCHEMA_V2, _SCHEMA_V3, _SCHEMA_V4]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Catalog:
    """``create=True`` initialises a catalog only where no file exists; an existing file that is
    empty or damaged is refused (:class:`CatalogDamagedError`), never re-created."""

    def __init__(self, path: str | Path, *, create: bool = False):
        self.path = Path(path)
        existed = self.path.exists()
        if not existed and not create:
            raise WorkspaceError(f"{self.path}: workspace catalog not found")
        if existed:
            safety.check_catalog_size(self.path)  # stat only: an open()/close() here would drop SQLite's locks
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.writes = 0  # committed write transactions through this object
        try:
            if existed:
                safety.busy_retry(lambda: safety.check_catalog_contents(self.conn(), self.path), self.path)
            self._migrate()
        except (CatalogDamagedError, LockBusyError):
            self.close()
            raise
        except sqlite3.DatabaseError as exc:
            self.close()
            raise safety.damaged_by(self.path, exc) from None

    # -- connections -------------------------------------------------------------------------
    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=2.0, isolation_level=None, check_same_thread=False)
            c.row_factory = sqlite3.Row
            c.execute("PRAGMA foreign_keys=ON")
            safety.busy_retry(lambda: c.execute("PRAGMA journal_mode=WAL"), self.path)
            c.execute("PRAGMA synchronous=FULL")
            self._local.conn = c
            with self._lock:
                self._all.append(c)
        return c

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                with contextlib.suppress(sqlite3.Error):
                    c.close()
            self._all.clear()
        self._local = threading.local()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        c = self.conn()
        if c.in_transaction:  # nested: join the outer transaction
            yield c
            return
        self._begin(c)
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        else:
            safety.busy_retry(lambda: c.execute("COMMIT"), self.path)
            self.writes += 1

    def _begin(self, c: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, waiting visibly while another process writes; records us as the writer."""
        safety.busy_retry(lambda: c.execute("BEGIN IMMEDIATE"), self.path)
        safety.record_writer(self.path)

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return safety.busy_retry(lambda: self.conn().execute(sql, params).fetchall(), self.path)

    def query_one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        return safety.busy_retry(lambda: self.conn().execute(sql, params).fetchone(), self.path)

    # -- backup ------------------------------------------------------------------------------
    def backup(self, dest: str | Path | None = None) -> Path:
        """A consistent copy through SQLite's online backup API (default ``workspace.sqlite.bak``)."""
        return safety.backup_catalog(self.path, Path(dest) if dest else None)

    def maybe_backup(self, max_age_s: float | None = None) -> Path | None:
        return safety.maybe_backup(self.path, max_age_s)

    # -- schema ------------------------------------------------------------------------------
    def _migrate(self) -> None:
        c = self.conn()
        version = c.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise WorkspaceError(f"{self.path}: written by a newer Anomaly Studio (schema {version}, this version knows {len(MIGRATIONS)})")
        for target in range(version + 1, len(MIGRATIONS) + 1):
            self._begin(c)
            try:
                for statement in _split_sql(MIGRATIONS[target - 1]):
                    c.execute(statement)
                c.execute(f"PRAGMA user_version={target}")
                if target == 1:
                    c.execute("INSERT OR REPLACE INTO workspace_info VALUES('created', ?)", (now_iso(),))
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    def info(self, key: str) -> str | None:
        row = self.query_one("SELECT value FROM workspace_info WHERE key=?", (key,))
        return row["value"] if row else None

    def set_info(self, key: str, value: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO workspace_info VALUES(?, ?)", (key, value))

    # -- audit -------------------------------------------------------------------------------
    def audit(self, user: str, action: str, case_id: str | None = None, details: dict | None = None) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO audit(time, user, action, case_id, details) VALUES(?,?,?,?,?)",
                (now_iso(), user, action, case_id, json.dumps(details or {}, ensure_ascii=False)),
            )

    def audit_log(self, case_id: str | None = None, limit: int = 1000) -> list[dict]:
        if case_id is None:
            rows = self.query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self.query("SELECT * FROM audit WHERE case_id=? ORDER BY id DESC LIMIT ?", (case_id, limit))
        return [dict(r) | {"details": json.loads(r["details"])} for r in rows]


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
