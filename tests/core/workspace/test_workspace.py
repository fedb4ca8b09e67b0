import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from core.domain import CaseKind, Decision, ImageMeta, Modality, ReviewStatus, ScanLine
from core.errors import WorkspaceError
from core.io.labelme import Shape
from core.workspace import NewImage, Workspace
from core.workspace.arrays import ArrayStore

REPO = Path(__file__).resolve().parents[3]


def _img(seed=0, shape=(32, 40, 3)):
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


def test_create_add_and_reopen(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    meta = ImageMeta(laterality="L")
    ometa = ImageMeta(scan_line=ScanLine((1.5, 2.0), (30.0, 2.0)), synthetic=True)
    ws.add_case(
        "P1",
        CaseKind.PAIR,
        [NewImage("fundus", Modality.FUNDUS, array=_img(), meta=meta), NewImage("oct", Modality.OCT, array=_img(1, (20, 24)), meta=ometa)],
        split="train",
        truth="normal",
    )
    ws.close()
    ws = Workspace.open(tmp_path / "w")
    case = ws.case("P1")
    assert case.kind == CaseKind.PAIR and [im.name for im in case.images] == ["fundus", "oct"]
    assert case.image("oct").meta.scan_line == ScanLine((1.5, 2.0), (30.0, 2.0))
    assert case.image("fundus").meta.laterality == "L"
    loaded = ws.load_case("P1")
    np.testing.assert_array_equal(loaded.images["fundus"].array, _img())
    from core.hashing import array_sha256

    assert case.image("fundus").sha256 == array_sha256(_img())


def test_invalid_ids_and_duplicates(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    with pytest.raises(WorkspaceError, match="invalid case id"):
        ws.add_case("../evil", CaseKind.FUNDUS, [NewImage("fundus", Modality.FUNDUS, array=_img())])
    ws.add_case("A", CaseKind.FUNDUS, [NewImage("fundus", Modality.FUNDUS, array=_img())])
    with pytest.raises(WorkspaceError, match="already exists"):
        ws.add_case("A", CaseKind.FUNDUS, [NewImage("fundus", Modality.FUNDUS, array=_img())])


def test_open_errors(tmp_path):
    with pytest.raises(WorkspaceError, match="does not exist"):
        Workspace.open(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(WorkspaceError, match="not an Anomaly Studio workspace"):
        Workspace.open(tmp_path / "plain")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "workspace.sqlite").write_bytes(b"garbage" * 100)
    with pytest.raises(WorkspaceError, match="not a readable workspace catalog"):
        Workspace.open(tmp_path / "bad")


def test_review_decisions_persist_with_user_time_and_audit(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    ws.add_case("A", CaseKind.FUNDUS, [NewImage("fundus", Modality.FUNDUS, array=_img())])
    ws.set_review("A", "dr.lee", status=ReviewStatus.IN_REVIEW)
    ws.set_review("A", "dr.lee", decision=Decision.ABNORMAL, comment="haemorrhage temporal")
    ws.set_review("A", "dr.kim", status=ReviewStatus.APPROVED)
    ws.close()
    ws = Workspace.open(tmp_path / "w")
    case = ws.case("A")
    assert case.status == ReviewStatus.APPROVED and case.decision == Decision.ABNORMAL
    assert case.comment == "haemorrhage temporal" and case.last_reviewer == "dr.kim" and case.reviewed_at
    history = ws.reviews("A")
    assert [h["user"] for h in history] == ["dr.lee", "dr.lee", "dr.kim"]
    audit = ws.catalog.audit_log("A")
    reviews = [a for a in audit if a["action"] == "review"]
    assert len(reviews) == 3 and reviews[1]["details"]["decision"] == [None, "abnormal"]


def test_labels_round_trip_in_workspace(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    case = ws.add_case("A", CaseKind.FUNDUS, [NewImage("fundus", Modality.FUNDUS, array=_img())])
    rec = case.image("fundus")
    doc = ws.new_label_document(rec)
    assert (doc.image_height, doc.image_width) == (32, 40)
    from core.io.labelme import resolve_image_path

    assert resolve_image_path(ws.label_path(rec), doc.image_path, ws.root) == ws.image_path(rec).resolve()
    m = np.zeros((32, 40), bool)
    m[3:9, 4:12] = True
    doc.shapes.append(Shape.from_mask("retinal hemorrhage", m))
    ws.write_labels(rec, doc, user="ann")
    again = Workspace.open(tmp_path / "w").read_labels(rec)
    np.testing.assert_array_equal(again.class_mask("retinal hemorrhage"), m)


_CRASH_SQL = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {repo!r})
    import numpy as np
    from core.domain import CaseKind, Modality
    from core.workspace import NewImage, Workspace
    ws = Workspace.open({root!r})
    img = np.zeros((8, 8), np.uint8)
    ws.add_case("COMMITTED", CaseKind.FUNDUS, [NewImage("fundus", Modality.FUNDUS, array=img)])
    ws.set_review("COMMITTED", "u", decision="abnormal")
    with ws.catalog.transaction() as c:
        c.execute("INSERT INTO cases(id, kind, created) VALUES('HALF', 'fundus', 'now')")
        c.execute("UPDATE cases SET decision='normal' WHERE id='COMMITTED'")
        os.kill(os.getpid(), signal.SIGKILL)
""")


def test_reopen_after_crash_mid_transaction(tmp_path):
    root = tmp_path / "w"
    Workspace.create(root).close()
    proc = subprocess.run([sys.executable, "-c", _CRASH_SQL.format(repo=str(REPO), root=str(root))], timeout=120)
    assert proc.returncode == -signal.SIGKILL
    ws = Workspace.open(root)
    assert ws.case_ids() == ["COMMITTED"]
    assert ws.case("COMMITTED").decision == Decision.ABNORMAL
    ws.set_review("COMMITTED", "u2", decision="normal")  # still writable
    assert ws.case("COMMITTED").decision == Decision.NORMAL


_CRASH_H5 = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    import numpy as np
    from core.workspace.arrays import ArrayStore
    store = ArrayStore({path!r})
    rng = np.random.default_rng(0)
    i = 0
    print("ready", flush=True)
    while True:
        store.put(f"heatmaps/m/{{i % 7}}", rng.random((512, 512), dtype=np.float32))
        i += 1
""")


def test_array_store_survives_a_killed_writer(tmp_path):
    path = tmp_path / "arrays.h5"
    store = ArrayStore(path)
    store.put("keep/a", np.arange(10.0))
    proc = subprocess.Popen([sys.executable, "-c", _CRASH_H5.format(repo=str(REPO), path=str(path))], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    reopened = ArrayStore(path)  # either intact or moved aside and recreated; never an exception
    reopened.put("after/crash", np.ones(3))
    np.testing.assert_array_equal(reopened.get("after/crash"), np.ones(3))
    if reopened.recovered_from is None:
        np.testing.assert_array_equal(reopened.get("keep/a"), np.arange(10.0))


def test_array_store_recovers_from_a_corrupt_file(tmp_path):
    path = tmp_path / "arrays.h5"
    ArrayStore(path).put("a/b", np.arange(5))
    data = path.read_bytes()
    path.write_bytes(data[:200] + b"\x00" * 64)
    store = ArrayStore(path)
    assert store.recovered_from is not None and store.recovered_from.exists()
    assert store.get("a/b") is None
    store.put("a/b", np.arange(3))
    np.testing.assert_array_equal(store.get("a/b"), np.arange(3))


def test_array_store_keys_attrs_delete(tmp_path):
    store = ArrayStore(tmp_path / "a.h5")
    store.put("sam/lite/abc", np.zeros((256, 64, 64), np.float32), attrs={"encoder": "litemedsam"})
    store.put("heat/m/1/xyz", np.ones((10, 10), np.float32))
    assert store.keys("sam") == ["sam/lite/abc"]
    assert store.get_attrs("sam/lite/abc")["encoder"] == "litemedsam"
    assert store.has("heat/m/1/xyz") and store.delete("heat/m/1/xyz") and not store.has("heat/m/1/xyz")
    assert store.get("missing/key") is None


def test_summary_is_json_serialisable(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    ws.add_case("A", CaseKind.FUNDUS, [NewImage("fundus", Modality.FUNDUS, array=_img())])
    json.dumps(ws.summary())
