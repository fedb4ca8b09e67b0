"""Files must be what they claim: replaced images and damaged catalogs are errors that say so."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from core.errors import CatalogDamagedError, IntegrityError, WorkspaceError
from core.workspace import Workspace
from tests.helpers import hostile_files as H


def test_replaced_image_file_is_refused_naming_it(tiny_ws):
    ws = Workspace.open(tiny_ws)
    rec = ws.case("A").image("fundus")
    ws.read_pixels(rec)  # fine as imported
    H.valid_png(ws.image_path(rec), (48, 64), seed=99)  # same size, other pixels
    with pytest.raises(IntegrityError) as err:
        ws.read_pixels(rec)
    assert "A/fundus" in str(err.value) and str(ws.image_path(rec)) in str(err.value)


def test_touched_but_identical_file_is_accepted_and_remembered(tiny_ws):
    ws = Workspace.open(tiny_ws)
    rec = ws.case("A").image("fundus")
    path = ws.image_path(rec)
    data = path.read_bytes()
    time.sleep(0.01)
    path.write_bytes(data)  # new mtime (and inode): hashed once, accepted
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    ws.read_pixels(rec)
    stamp = ws.image("A/fundus").meta.extra["stored_file"]
    assert stamp["mtime_ns"] == path.stat().st_mtime_ns  # recorded: the next load does not hash


def test_verified_loads_do_not_hash_when_nothing_changed(tiny_ws, monkeypatch):
    import core.workspace.stored_images as si

    ws = Workspace.open(tiny_ws)
    rec = ws.case("A").image("fundus")
    calls = []
    monkeypatch.setattr(si, "array_sha256", lambda a: calls.append(1) or "x")
    ws.read_pixels(rec)
    assert calls == []


def test_replaced_image_is_not_exported(tiny_ws, tmp_path, cli):
    ws = Workspace.open(tiny_ws)
    H.valid_png(ws.image_path(ws.case("A").image("fundus")), (48, 64), seed=5)
    ws.close()
    rc, out, err = cli("labels", "export", "-w", tiny_ws, "--format", "labelme", "--out", tmp_path / "out")
    assert rc == 0 and "A/fundus" in err and "replaced or changed" in err
    assert not (tmp_path / "out" / "A").exists() or not any((tmp_path / "out" / "A").iterdir())


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda p: p.write_bytes(b""), "empty (0 bytes)"),
        (lambda p: p.write_bytes(b"garbage" * 100), "not an SQLite database"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "damaged"),
    ],
)
def test_damaged_catalog_is_an_error_that_suggests_the_backup(tiny_ws, cli, damage, words):
    Workspace.open(tiny_ws).close()  # refreshes the backup
    assert (tiny_ws / "workspace.sqlite.bak").exists()
    for suffix in ("-wal", "-shm"):
        (tiny_ws / f"workspace.sqlite{suffix}").unlink(missing_ok=True)
    damage(tiny_ws / "workspace.sqlite")
    rc, out, err = cli("info", "-w", tiny_ws)
    assert rc == 2 and words in err and "restore --workspace" in err, err
    with pytest.raises(CatalogDamagedError):
        Workspace.open(tiny_ws)
    with pytest.raises(WorkspaceError):
        Workspace.open(tiny_ws, create=True)  # never silently re-created
    rc, out, err = cli("restore", "-w", tiny_ws)
    assert rc == 0, err
    assert Workspace.open(tiny_ws).case_ids() == ["A", "B"]
    assert any(p.name.startswith("workspace.sqlite.replaced-") for p in tiny_ws.iterdir())


def test_missing_catalog_with_a_backup_is_not_initialised(tiny_ws, cli):
    Workspace.open(tiny_ws).close()
    (tiny_ws / "workspace.sqlite").unlink()
    rc, out, err = cli("import", tiny_ws / "images", "-w", tiny_ws)
    assert rc == 2 and "restore" in err
    assert not (tiny_ws / "workspace.sqlite").exists()


def test_backup_is_a_consistent_copy_made_with_the_online_api(tiny_ws, monkeypatch):
    monkeypatch.setenv("ANOMALY_STUDIO_BACKUP_MINUTES", "0")
    ws = Workspace.open(tiny_ws)
    ws.set_review("A", "alice", decision="abnormal")
    ws.close()  # wrote: the backup is refreshed
    con = sqlite3.connect(tiny_ws / "workspace.sqlite.bak")
    assert con.execute("SELECT decision FROM cases WHERE id='A'").fetchone()[0] == "abnormal"
    assert con.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    con.close()


def test_restore_refuses_while_another_window_holds_the_workspace(tiny_ws):
    Workspace.open(tiny_ws).close()
    holder = Workspace.open(tiny_ws)
    assert holder.acquire_writer("window one") is None
    with pytest.raises(WorkspaceError, match="close it before restoring"):
        Workspace.restore_backup(tiny_ws)
    holder.close()
    assert Workspace.restore_backup(tiny_ws)["restored"].endswith("workspace.sqlite")
