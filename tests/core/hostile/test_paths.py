"""Ids and stored paths never leave the workspace: the helper, and every entry point that uses it."""

from __future__ import annotations

import os
import sqlite3

import pytest

from core.errors import InputError, UnsafePathError
from core.workspace import Workspace
from core.workspace.paths import confine, inside, is_valid_id, validate_id

HOSTILE_IDS = ["..", "../x", "a/b", "/etc", "a\x00b", "x" * 129, "", ".hidden", "a..b", "C:evil", "a\\b", "abc\n", " a"]


@pytest.mark.parametrize("kind", ["case", "image", "version", "run"])
@pytest.mark.parametrize("text", HOSTILE_IDS)
def test_hostile_ids_are_refused_with_the_id_named(kind, text):
    with pytest.raises(UnsafePathError) as err:
        validate_id(kind, text)
    assert kind in str(err.value) and isinstance(err.value, InputError)


def test_valid_ids_of_each_kind():
    assert validate_id("case", "P001_fundus-2.left") == "P001_fundus-2.left"
    assert validate_id("version", "20240101-120000-abc123")
    assert validate_id("model", "patchcore") and not is_valid_id("model", "PatchCore/..")
    assert validate_id("page", 7) == "7" and validate_id("page", "012") == "12"
    for bad in (-1, 100_000, True, "1a", 1.5):
        assert not is_valid_id("page", bad)
    assert validate_id("class", "necrotic / non-enhancing tumour core")
    for bad in ("", " padded", "tab\there", "nul\x00", "x" * 121):
        assert not is_valid_id("class", bad)


def test_confine_refuses_dotdot_absolute_nul_and_symlinks_out(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    (root / "inner").mkdir()
    (root / "ok").symlink_to(root / "inner")
    assert confine(root, "images", "A", "x.png") == root / "images" / "A" / "x.png"
    assert confine(root, "ok", "f") == root / "ok" / "f"  # a symlink that stays inside is fine
    for parts in (("..", "outside"), ("/etc/passwd",), ("images", "a\x00b"), ("link", "f"), ("images/../../outside",)):
        with pytest.raises(UnsafePathError):
            confine(root, *parts)
    assert inside(root, root / "inner") and not inside(root, outside) and not inside(root, root / "link" / "f")
    assert not inside(root, "a\x00b")


def _poke_catalog(root, sql, params=()):
    con = sqlite3.connect(root / "workspace.sqlite")
    with con:
        con.execute(sql, params)
    con.close()


@pytest.mark.parametrize("stored", ["../../../../../etc/passwd", "/etc/passwd", "images/../../outside.png", "images/A/\x00.png"])
def test_catalog_image_path_outside_the_workspace_is_refused(tiny_ws, stored):
    _poke_catalog(tiny_ws, "UPDATE images SET path=? WHERE case_id='A'", (stored,))
    ws = Workspace.open(tiny_ws)
    rec = ws.case("A").image("fundus")
    with pytest.raises(UnsafePathError):
        ws.image_path(rec)
    with pytest.raises(UnsafePathError):
        ws.read_pixels(rec)


def test_symlinked_image_file_leaving_the_workspace_is_refused(tiny_ws, tmp_path):
    ws = Workspace.open(tiny_ws)
    rec = ws.case("A").image("fundus")
    target = ws.root / rec.path
    secret = tmp_path / "secret.png"
    secret.write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(secret)
    with pytest.raises(UnsafePathError, match="outside"):
        ws.read_pixels(rec)


def test_catalog_ids_that_would_leave_the_workspace_never_become_label_paths(tiny_ws):
    _poke_catalog(tiny_ws, "PRAGMA foreign_keys=OFF")
    con = sqlite3.connect(tiny_ws / "workspace.sqlite")
    with con:
        con.execute("UPDATE images SET case_id='../../evil', name='x' WHERE case_id='B'")
    con.close()
    ws = Workspace.open(tiny_ws)
    rec = ws.image("B/fundus")
    for call in (lambda: ws.label_path(rec), lambda: ws.label_volume_path(rec), lambda: ws.read_labels(rec), lambda: ws.label_path(rec, 3)):
        with pytest.raises(UnsafePathError):
            call()
    good = ws.case("A").image("fundus")
    with pytest.raises(UnsafePathError):
        ws.label_path(good, page=10**6)
    with pytest.raises(UnsafePathError):
        ws.delete_case("../../evil")
    assert (tiny_ws.parent).exists() and (tiny_ws / "images").exists()


def test_labels_export_does_not_copy_a_file_the_catalog_points_outside(tiny_ws, tmp_path, cli):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    rel = os.path.relpath(secret, tiny_ws)
    _poke_catalog(tiny_ws, "UPDATE images SET path=? WHERE case_id='A'", (rel,))
    rc, out, err = cli("labels", "export", "-w", tiny_ws, "--format", "labelme", "--out", tmp_path / "export")
    assert rc == 0
    assert "A/fundus" in err and "outside" in err
    exported = [p for p in (tmp_path / "export").rglob("*") if p.is_file()]
    assert all("top secret" not in p.read_text(errors="ignore") for p in exported)


@pytest.mark.parametrize("run_id", ["../../../../escape-run", "/tmp/abs-run", "a/b", "x" * 300])
def test_train_run_id_is_validated_before_anything_is_written(tiny_ws, tmp_path, cli, run_id):
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, out, err = cli("train", "patchcore", "-w", tiny_ws, "--run-id", run_id)
    assert rc == 2 and "invalid run id" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (tiny_ws / "runs").exists() or not any((tiny_ws / "runs").iterdir())
