"""Slice labels for RASALoRE: label volumes, per-slice review decisions, the catalog table."""

import sqlite3

import numpy as np
import pytest

from core.domain import CaseKind, LoadedCase, Modality
from core.errors import WorkspaceError
from core.io.volume import Volume
from core.models.rasalore.slicing import plan_slices
from core.models.rasalore.supervision import HEALTHY, LEFT_OUT, UNHEALTHY, LabelledCase, gather_labelled_cases, slice_labels
from core.workspace import Workspace
from core.workspace.catalog import MIGRATIONS
from core.workspace.workspace import NewImage


def _volume(shape=(20, 22, 30)):
    v = np.zeros(shape, np.float32)
    v[3:-3, 3:-3, :] = 100.0
    return v


def test_labels_from_a_label_volume_use_the_pixel_thresholds():
    data = _volume()
    geo = plan_slices(data, None, size=16, skip=2)
    lab = np.zeros(data.shape, np.uint8)
    z = geo.array_indices()
    lab[2:18, 2:18, z[3]] = 1  # 256 voxels -> unhealthy
    lab[5:10, 5:10, z[4]] = 2  # 25 voxels  -> left out
    lab[5:6, 5:6, z[5]] = 1  # 1 voxel    -> left out
    case = LabelledCase(LoadedCase.from_arrays(case_id="c", t1=data), label_volume=lab)
    out = slice_labels(geo, case, "t1", min_lesion_pixels=200)
    assert out[3] == UNHEALTHY and out[4] == LEFT_OUT and out[5] == LEFT_OUT
    assert (np.delete(out, [3, 4, 5]) == HEALTHY).all()
    assert slice_labels(geo, case, "t1", min_lesion_pixels=20)[4] == UNHEALTHY


def test_reviews_override_and_normal_cases():
    data = _volume()
    geo = plan_slices(data, None, size=16, skip=2)
    axis, idx = geo.array_axis, geo.array_indices()
    normal = LabelledCase(LoadedCase.from_arrays(case_id="n", t1=data), known_normal=True, reviews={"t1": {(axis, idx[0]): "abnormal"}})
    out = slice_labels(geo, normal, "t1")
    assert out[0] == UNHEALTHY and (out[1:] == HEALTHY).all()
    unknown = LabelledCase(
        LoadedCase.from_arrays(case_id="u", t1=data), reviews={"t1": {(axis, idx[2]): "normal", (axis, idx[5]): "abnormal"}}
    )
    out = slice_labels(geo, unknown, "t1")
    assert out[2] == HEALTHY and out[5] == UNHEALTHY and (np.delete(out, [2, 5]) == LEFT_OUT).all()


def test_slice_reviews_persist_and_follow_the_case(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    vol = Volume(_volume(), np.eye(4), (1.0, 1.0, 1.0))
    rec = ws.add_case("B1", CaseKind.MRI, [NewImage("t2", Modality.MRI, volume=vol)]).image("mri")
    ws.set_slice_reviews(rec, 2, {4: "abnormal", 5: "normal", 6: "abnormal"}, user="ana")
    ws.set_slice_reviews(rec, 2, {6: None}, user="ana")
    ws.close()
    ws = Workspace.open(tmp_path / "ws")
    rec = ws.case("B1").image("mri")
    assert ws.slice_reviews(rec) == {(2, 4): "abnormal", (2, 5): "normal"}
    assert any(e["action"] == "review.slices" and e["user"] == "ana" for e in ws.catalog.audit_log("B1"))
    with pytest.raises(WorkspaceError, match="outside"):
        ws.set_slice_reviews(rec, 2, {30: "normal"})
    with pytest.raises(ValueError):
        ws.set_slice_reviews(rec, 2, {3: "maybe"})
    ws.delete_case("B1")
    assert ws.catalog.query("SELECT COUNT(*) AS n FROM slice_reviews")[0]["n"] == 0


def test_an_older_workspace_gets_the_slice_review_table(tmp_path):
    path = tmp_path / "old.sqlite"
    c = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        c.executescript(script)
    c.execute("PRAGMA user_version=2")
    c.close()
    from core.workspace.catalog import Catalog

    cat = Catalog(path)
    assert cat.query("PRAGMA user_version")[0][0] == len(MIGRATIONS)
    assert cat.query("SELECT name FROM sqlite_master WHERE name='slice_reviews'")


def test_gather_on_the_demo_uses_training_label_volumes_only(small_demo):
    ws = Workspace.open(small_demo)
    cases, skipped = gather_labelled_cases(ws)
    ids = {c.case.id for c in cases}
    assert ids == {c.id for c in ws.cases() if c.split == "train" and c.truth == "abnormal" and c.kind == CaseKind.MRI}
    assert all(c.label_volume is not None and c.label_volume.any() for c in cases)
    assert not any(i.startswith("MRI-L") for i in ids) and skipped == []
    # a slice reviewed abnormal makes an otherwise unlabelled normal training case usable too
    normal = next(c for c in ws.cases() if c.split == "train" and c.truth == "normal" and c.kind == CaseKind.MRI)
    ws.set_slice_reviews(normal.image("mri"), 2, {100: "abnormal"})
    cases, _ = gather_labelled_cases(ws)
    got = next(c for c in cases if c.case.id == normal.id)
    assert got.known_normal and got.reviews[normal.image("mri").name] == {(2, 100): "abnormal"}
