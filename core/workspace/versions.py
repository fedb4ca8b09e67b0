"""Fitted model versions in a workspace: the catalog's ``model_versions`` table.

A version is active per method AND modality (a fundus PatchCore and an OCT PatchCore can both be
active); activating one deactivates only the other versions of the same method and modality.
Each row keeps a copy of the card and the digest of the version folder's files, recorded when it
was registered, so a changed folder is noticed when it is loaded.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass

from core.errors import WorkspaceError
from core.workspace.cards import CardError, ModelCard
from core.workspace.catalog import Catalog, now_iso


@dataclass(frozen=True)
class VersionRecord:
    name: str
    version: str
    path: str  # folder relative to the workspace root
    created: str
    active: bool
    modality: str
    digest: str  # sha256 over card.json and model.pt as registered ("" for versions from before digests)
    card: ModelCard | None  # None when the catalog's copy of the card is unreadable (``problem`` says why)
    problem: str = ""

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "path": self.path,
            "created": self.created,
            "active": self.active,
            "modality": self.modality,
            "card": self.card.to_json() if self.card else None,
            "problem": self.problem,
        }


class VersionsRepository:
    """The only code that reads or writes the ``model_versions`` table."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def register(self, card: ModelCard, path: str, digest: str, *, activate: bool, user: str) -> None:
        with self.catalog.transaction() as c:
            if activate:
                c.execute("UPDATE model_versions SET active=0 WHERE name=? AND modality=?", (card.method, card.modality))
            c.execute(
                "INSERT OR REPLACE INTO model_versions(name, version, path, created, active, card, modality, digest)"
                " VALUES(?,?,?,?,?,?,?,?)",
                (card.method, card.version, path, now_iso(), 1 if activate else 0, json.dumps(card.to_json()), card.modality, digest),
            )
            self.catalog.audit(
                user, "model.register", None, {"model": card.method, "version": card.version, "modality": card.modality, "active": activate}
            )

    def list(self, name: str | None = None) -> list[VersionRecord]:
        sql = "SELECT * FROM model_versions" + (" WHERE name=?" if name else "") + " ORDER BY name, created"
        return [_record(r) for r in self.catalog.query(sql, (name,) if name else ())]

    def get(self, name: str, version: str) -> VersionRecord | None:
        r = self.catalog.query_one("SELECT * FROM model_versions WHERE name=? AND version=?", (name, version))
        return None if r is None else _record(r)

    def active(self, name: str, modality: str | None = None) -> str | None:
        """The active version of ``name`` for ``modality`` (any modality: the newest active one)."""
        if modality:
            r = self.catalog.query_one(
                "SELECT version FROM model_versions WHERE name=? AND modality=? AND active=1 ORDER BY created DESC", (name, modality)
            )
        else:
            r = self.catalog.query_one("SELECT version FROM model_versions WHERE name=? AND active=1 ORDER BY created DESC", (name,))
        return r["version"] if r else None

    def activate(self, name: str, version: str, user: str) -> None:
        record = self.get(name, version)
        if record is None:
            raise WorkspaceError(f"model {name} has no version '{version}' in this workspace")
        with self.catalog.transaction() as c:
            c.execute("UPDATE model_versions SET active=(version=?) WHERE name=? AND modality=?", (version, name, record.modality))
            self.catalog.audit(user, "model.activate", None, {"model": name, "version": version, "modality": record.modality})

    def update_card(self, card: ModelCard, digest: str) -> None:
        with self.catalog.transaction() as c:
            c.execute(
                "UPDATE model_versions SET card=?, digest=? WHERE name=? AND version=?",
                (json.dumps(card.to_json()), digest, card.method, card.version),
            )

    def delete(self, name: str, version: str) -> None:
        with self.catalog.transaction() as c:
            c.execute("DELETE FROM model_versions WHERE name=? AND version=?", (name, version))

    def activations(self, name: str) -> builtins.list[dict]:  # builtins: this class has a method named list
        """Registrations and activations of ``name``, newest first (rollback walks back through them)."""
        out = []
        for r in self.catalog.query("SELECT details FROM audit WHERE action IN ('model.activate', 'model.register') ORDER BY id DESC"):
            try:
                d = json.loads(r["details"] or "{}")
            except ValueError:
                continue
            if d.get("model") == name:
                out.append(d)
        return out


def _record(r) -> VersionRecord:
    card, problem = None, ""
    try:
        card = ModelCard.from_json(json.loads(r["card"] or "{}"))
    except (ValueError, CardError) as exc:
        problem = f"the catalog's copy of the model card is damaged ({exc})"
    return VersionRecord(
        r["name"], r["version"], r["path"], r["created"], bool(r["active"]), r["modality"] or "", r["digest"] or "", card, problem
    )
