"""Nothing lost under contention: busy database, held array-store lock, two editors of one label."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from core.errors import LockBusyError
from core.io.labelme import Shape
from core.labels.save_guard import LabelSaveGuard, VolumeSaveGuard
from core.labels.targets import LabelTarget
from core.workspace import Workspace

REPO = Path(__file__).resolve().parents[3]

_HOLD_DB = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from core.workspace import Workspace
    ws = Workspace.open({root!r})
    with ws.catalog.transaction():
        print("holding", flush=True)
        time.sleep(60)
""")

_HOLD_ARRAYS = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from core.io.filelock import FileLock
    with FileLock({lock!r}, app="anomaly-studio predict"):
        print("holding", flush=True)
        time.sleep(60)
""")


def _holder(script: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_busy_database_waits_visibly_then_exits_2_naming_the_holder(tiny_ws, cli, monkeypatch):
    monkeypatch.setenv("ANOMALY_STUDIO_LOCK_WAIT_S", "3")
    proc = _holder(_HOLD_DB.format(repo=str(REPO), root=str(tiny_ws)))
    try:
        t0 = time.monotonic()
        rc, out, err = cli("labels", "import", tiny_ws / "labels", "-w", tiny_ws)
        seconds = time.monotonic() - t0
    finally:
        proc.kill()
        proc.wait()
    assert rc == 2, err
    assert "waiting for the workspace database" in err and "busy" in err
    assert f"pid {proc.pid}" in err and "tester" in err  # who holds it
    assert seconds < 20


def test_held_array_store_lock_names_the_holder(tiny_ws, monkeypatch):
    from core.workspace.arrays import ArrayStore

    store = ArrayStore(tiny_ws / "arrays.h5")
    store.put("keep", np.arange(3))
    messages = []
    from core.io import filelock

    monkeypatch.setattr(filelock, "_reporter", messages.append)
    monkeypatch.setenv("ANOMALY_STUDIO_LOCK_WAIT_S", "2")
    proc = _holder(_HOLD_ARRAYS.format(repo=str(REPO), lock=str(store.lock.path)))
    try:
        with pytest.raises(LockBusyError) as err:
            store.get("keep")
    finally:
        proc.kill()
        proc.wait()
    assert f"pid {proc.pid}" in str(err.value) and "anomaly-studio predict" in str(err.value)
    assert messages and "waiting for the array store lock" in messages[0]
    np.testing.assert_array_equal(store.get("keep"), np.arange(3))  # free again after the holder died


def test_writer_lock_second_window_sees_the_first_and_a_dead_holder_is_stale(tiny_ws):
    first, second = Workspace.open(tiny_ws), Workspace.open(tiny_ws)
    assert first.acquire_writer("window one") is None
    holder = second.acquire_writer("window two")
    assert holder is not None and holder["pid"] == os.getpid() and holder["app"] == "window one"
    first.close()
    assert second.acquire_writer("window two") is None
    second.close()
    # a holder killed without releasing: its OS lock dies with it, its record is stale
    script = f"import sys; sys.path.insert(0, {str(REPO)!r})\nfrom core.workspace import Workspace\n"
    script += (
        f"ws = Workspace.open({str(tiny_ws)!r}); ws.acquire_writer('doomed'); print('holding', flush=True)\nimport time; time.sleep(60)"
    )
    proc = _holder(script)
    assert Workspace.open(tiny_ws).acquire_writer("probe")["app"] == "doomed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    third = Workspace.open(tiny_ws)
    assert third.acquire_writer("window three") is None
    assert third.writer_lock.took_over["app"] == "doomed"


def test_two_editors_of_one_label_never_drop_each_others_shapes(tiny_ws):
    ws1, ws2 = Workspace.open(tiny_ws), Workspace.open(tiny_ws)
    t1 = LabelTarget(ws1.case("A").image("fundus"))
    t2 = LabelTarget(ws2.case("A").image("fundus"))
    base1, base2 = ws1.read_labels(t1.image), ws2.read_labels(t2.image)
    g1, g2 = LabelSaveGuard(ws1, t1, base1), LabelSaveGuard(ws2, t2, base2)
    mine = Shape("exudate", [[30, 30], [40, 30], [40, 40]])
    theirs = Shape("drusen", [[5, 30], [9, 30], [9, 40]])
    doc1 = ws1.read_labels(t1.image)
    doc1.shapes.append(mine)
    assert not g1.save(doc1).merged
    doc2 = ws2.read_labels(t2.image)
    doc2.shapes = [theirs]  # the second editor deleted the original shape and drew another
    outcome = g2.save(doc2)
    assert outcome.merged and "merged" in outcome.note
    labels = sorted(s.label for s in ws1.read_labels(t1.image).shapes)
    assert labels == ["drusen", "exudate"]  # the deletion applies, both new shapes are kept
    doc1.shapes.append(Shape("cotton", [[50, 5], [55, 5], [55, 9]]))
    g1.save(doc1)  # the first editor keeps going: the second's shape survives
    assert sorted(s.label for s in ws2.read_labels(t2.image).shapes) == ["cotton", "drusen", "exudate"]


def test_volume_saves_merge_voxels_changed_elsewhere(tmp_path):
    from core.domain import CaseKind, Modality
    from core.workspace import NewImage

    ws = Workspace.create(tmp_path / "w")
    vol = np.random.default_rng(0).random((6, 7, 8)).astype(np.float32)
    from core.io.volume import Volume

    ws.add_case("M", CaseKind.MRI, [NewImage("t1", Modality.MRI, volume=Volume(vol, np.eye(4), (1.0, 1.0, 1.0)))])
    rec = ws.case("M").images[0]
    empty = np.zeros(rec.shape, np.uint8)
    g1, g2 = VolumeSaveGuard(ws, rec, empty, {}), VolumeSaveGuard(ws, rec, empty, {})
    a = empty.copy()
    a[0] = 1
    g1.save((a, {"edema": 1}))
    b = empty.copy()
    b[-1] = 2
    assert g2.save((b, {"core": 2})).merged
    labels, legend = ws.read_label_volume(rec)
    assert (labels[0] == 1).all() and (labels[-1] == 2).all() and legend == {"edema": 1, "core": 2}
