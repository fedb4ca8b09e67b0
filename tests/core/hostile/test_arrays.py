"""Array-store writes cannot destroy what was stored: full disks, failed writes, transient open
failures, damaged files, killed writers."""

from __future__ import annotations

import errno
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import core.workspace.arrays as arrays_mod
from core.errors import DiskFullError
from core.workspace.arrays import ArrayStore, ArrayStoreError, MissingArrayError

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def store(tmp_path):
    s = ArrayStore(tmp_path / "arrays.h5")
    s.put("results/m/v/keep/heatmap", np.arange(12.0).reshape(3, 4))
    return s


def _intact(path):
    fresh = ArrayStore(path)
    assert fresh.recovered_from is None
    np.testing.assert_array_equal(fresh.get("results/m/v/keep/heatmap"), np.arange(12.0).reshape(3, 4))


def test_too_little_free_space_is_a_clean_error_saying_how_much(store, monkeypatch):
    monkeypatch.setattr(arrays_mod, "free_bytes", lambda folder: 5 * 2**20)
    with pytest.raises(DiskFullError, match=r"MB needed, 5 MB free"):
        store.put("results/m/v/new/heatmap", np.zeros((512, 512), np.float32))
    _intact(store.path)


def test_reservation_failing_with_enospc_stops_before_hdf5_writes(store, monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(arrays_mod.os, "posix_fallocate", full, raising=False)
    with pytest.raises(DiskFullError, match="Nothing already stored was changed"):
        store.put("results/m/v/new/heatmap", np.zeros((64, 64), np.float32))
    _intact(store.path)


def test_a_write_failing_midway_keeps_the_previous_array_of_that_key(store, monkeypatch):
    import h5py

    store.put("results/m/v/x/heatmap", np.ones(5))
    real = h5py.Group.create_dataset

    def failing(self, name, *args, **kwargs):
        if name.endswith("~writing"):
            raise OSError(errno.ENOSPC, "Driver write request failed (errno = 28, error message = 'No space left on device')")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(DiskFullError):
        store.put("results/m/v/x/heatmap", np.zeros(5))
    monkeypatch.setattr(h5py.Group, "create_dataset", real)
    np.testing.assert_array_equal(store.get("results/m/v/x/heatmap"), np.ones(5))  # the old array, not a hole
    assert store.keys("results/m/v/x") == ["results/m/v/x/heatmap"]
    _intact(store.path)


def test_transient_open_failure_never_moves_the_store_aside(store, monkeypatch):
    import h5py

    real = h5py.File

    def busy(*args, **kwargs):
        raise OSError("Unable to synchronously open file (unable to open file: errno = 24, error message = 'Too many open files')")

    monkeypatch.setattr(h5py, "File", busy)
    with pytest.raises(ArrayStoreError, match="left untouched"):
        store.get("results/m/v/keep/heatmap")
    with pytest.raises(ArrayStoreError):
        ArrayStore(store.path)
    monkeypatch.setattr(h5py, "File", real)
    assert [p.name for p in store.path.parent.iterdir() if "damaged" in p.name] == []
    _intact(store.path)


def test_damaged_store_is_moved_aside_loudly_and_lost_arrays_come_back_missing(store, monkeypatch):
    from core.io import filelock

    said = []
    monkeypatch.setattr(filelock, "_reporter", said.append)
    store.path.write_bytes(store.path.read_bytes()[:300])
    fresh = ArrayStore(store.path)
    assert fresh.recovered_from is not None and fresh.recovered_from.exists()
    assert said and "damaged" in said[0] and "missing" in said[0]
    assert fresh.missing(["results/m/v/keep/heatmap"]) == ["results/m/v/keep/heatmap"]
    with pytest.raises(MissingArrayError, match="result incomplete.*run again"):
        fresh.require("results/m/v/keep/heatmap", "heatmap")


_WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    import numpy as np
    from core.workspace.arrays import ArrayStore
    store = ArrayStore({path!r})
    rng = np.random.default_rng(0)
    print("ready", flush=True)
    i = 0
    while True:
        store.put(f"results/m/v/{{i % 5}}/heatmap", rng.random((384, 384), dtype=np.float32))
        i += 1
""")


def test_sigkill_during_writes_keeps_what_was_stored(store):
    proc = subprocess.Popen([sys.executable, "-c", _WRITER.format(repo=str(REPO), path=str(store.path))], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _intact(store.path)


_FULL_DISK = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    import numpy as np
    import core.workspace.arrays as A
    from core.errors import DiskFullError
    A.RESERVE_BYTES = 0  # only the block reservation stands between HDF5 and the full disk
    store = A.ArrayStore("/mnt/arrays.h5")
    rng = np.random.default_rng(0)
    store.put("keep", np.arange(10.0))
    try:
        for i in range(100):
            store.put(f"big/{{i}}", rng.random((512, 512), dtype=np.float32))
    except DiskFullError as exc:
        print("refused", exc)
    again = A.ArrayStore("/mnt/arrays.h5")
    print("intact", again.recovered_from is None and again.get("keep") is not None, len(again.keys("big")))
""")


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unprivileged user+mount namespaces (unshare -rm) for a real tiny tmpfs")
def test_a_really_full_disk_is_refused_cleanly_without_a_crash(tmp_path):
    script = tmp_path / "full.py"
    script.write_text(_FULL_DISK.format(repo=str(REPO)))
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=6m tmpfs /mnt && {sys.executable} {script}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr  # not 139: HDF5 never saw the full disk
    assert "refused" in proc.stdout and "not enough free space" in proc.stdout
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("intact"))
    assert line.split()[1] == "True" and int(line.split()[2]) >= 1
