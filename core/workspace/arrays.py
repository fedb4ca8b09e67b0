"""HDF5 array store keyed by content: SAM embeddings, features, heatmaps and masks.

Keys are '/'-separated paths such as ``sam/litemedsam/<sha256>`` or
``heatmaps/mias_sam/<version>/<sha256>``. The file is opened per operation under an
inter-process lock (which records its holder), so the GUI, workers and a training subprocess can
share it.

Nothing already stored can be destroyed by a write:

* a write first checks the free space (array size plus a reserve) and proves the blocks it needs
  are there (``posix_fallocate`` of a ballast file, handed back just before HDF5 writes),
  stopping with a :class:`DiskFullError` before HDF5 touches the file (HDF5 damaged its state and
  crashed the process on a disk that filled mid-write);
* a new array is written under a side name and swapped in by a rename inside the file, so a
  failed write leaves the previous array of that key in place;
* a file that only fails to open for a transient reason (too many open files, busy, I/O error,
  no space) is never moved aside: the operation fails with a :class:`StudioError` and the file is
  left as it is. Only a file that is really damaged (no HDF5 signature, truncated, broken
  structure) is moved aside (``arrays.h5.damaged-<time>``), loudly; results whose arrays were in
  it come back as missing (:meth:`ArrayStore.require` raises :class:`MissingArrayError`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.errors import DiskFullError, StudioError
from core.io.filelock import FileLock, report_waiting

log = logging.getLogger(__name__)

RESERVE_BYTES = 32 * 1024 * 1024  # HDF5 metadata, the journal of SQLite, and room for the system
_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_TRANSIENT = {errno.EAGAIN, errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EINTR, errno.EBUSY, errno.ENOSPC, errno.EIO, errno.EACCES}
_DAMAGE_WORDS = ("truncated", "signature", "bad object header", "addr overflow", "b-tree", "symbol table", "corrupt", "superblock")
_SIDE = "~writing"


class ArrayStoreError(StudioError):
    """The array store cannot be used right now; nothing in it was changed."""


class MissingArrayError(StudioError):
    """An array a stored result refers to is not in the store (lost or never written)."""

    def __init__(self, key: str, what: str = "array"):
        self.key = key
        super().__init__(f"result incomplete: the {what} '{key}' is missing from the array store; run again")


def _errno_of(exc: BaseException) -> int | None:
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    m = re.search(r"errno = (\d+)", str(exc))
    return int(m.group(1)) if m else None


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


class ArrayStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = FileLock(self.path.with_name(self.path.name + ".lock"), what="array store lock")
        self.recovered_from: Path | None = None
        with self.lock:
            self._check_or_recover()

    # -- opening ---------------------------------------------------------------------------------
    def _create(self) -> None:
        import h5py

        self.ensure_space(1024 * 1024, "a new array store")
        with h5py.File(self.path, "w", locking=False) as f:
            f.attrs["format"] = "anomaly-studio-arrays"
            f.attrs["version"] = 1
            if self.recovered_from is not None:
                f.attrs["recovered_from"] = str(self.recovered_from)
                f.attrs["recovered_at"] = time.time()

    def _probe(self) -> BaseException | None:
        """None when the file opens read-only and its whole tree can be walked."""
        import h5py

        try:
            with h5py.File(self.path, "r", locking=False) as f:
                f.attrs.get("format")
                f.visit(lambda name: None)
        except Exception as exc:  # noqa: BLE001 - h5py raises OSError, RuntimeError, KeyError, ValueError for bad files
            return exc
        return None

    def _damaged(self, exc: BaseException) -> bool:
        """Is the failure a damaged file (move aside) rather than a transient one (leave alone)?"""
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(2048 + 8)
        except OSError:
            return False  # cannot even read it: not ours to judge
        if not any(head[o : o + 8] == _SIGNATURE for o in (0, 512, 1024, 2048)):
            return True
        code = _errno_of(exc)
        if code in _TRANSIENT:
            return False
        text = str(exc).lower()
        return any(word in text for word in _DAMAGE_WORDS) or not isinstance(exc, OSError)

    def _check_or_recover(self) -> None:
        if not self.path.exists():
            self._create()
            return
        exc = self._probe()
        if exc is not None:
            time.sleep(0.05)  # one retry: a concurrent writer outside our lock, a momentary I/O error
            exc = self._probe()
        if exc is None:
            return
        if not self._damaged(exc):
            raise ArrayStoreError(f"{self.path}: the array store cannot be opened right now ({exc}); it was left untouched") from None
        broken = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        os.replace(self.path, broken)
        self.recovered_from = broken
        report_waiting(
            f"the array store {self.path} was damaged ({exc}); it was moved to {broken.name} and a new one started: "
            "stored heatmaps and embeddings are missing until they are computed again"
        )
        self._create()

    @contextlib.contextmanager
    def _open(self, mode: str) -> Iterator:
        import h5py

        with self.lock:
            if not self.path.exists():
                self._create()
            try:
                f = h5py.File(self.path, mode, locking=False)
            except Exception as exc:  # noqa: BLE001 - see _check_or_recover: damaged files are moved aside, others left alone
                log.warning("array store %s failed to open (%s)", self.path, exc)
                self._check_or_recover()
                try:
                    f = h5py.File(self.path, mode, locking=False)
                except Exception as again:  # noqa: BLE001
                    raise ArrayStoreError(f"{self.path}: the array store cannot be opened ({again}); it was left untouched") from None
            try:
                yield f
            finally:
                f.close()

    # -- writing ---------------------------------------------------------------------------------
    def ensure_space(self, nbytes: int, what: str = "an array") -> None:
        """Raise :class:`DiskFullError` unless ``nbytes`` plus a reserve fit on the store's disk."""
        need = int(nbytes) + RESERVE_BYTES
        try:
            free = free_bytes(self.path.parent)
        except OSError:
            return
        if free < need:
            raise DiskFullError(
                f"{self.path.parent}: not enough free space to store {what}: {need / 2**20:,.0f} MB needed, "
                f"{free / 2**20:,.0f} MB free. Nothing already stored was changed; free some space and run again."
            )

    def reserve(self, nbytes: int, what: str = "an array") -> None:
        """Prove the disk blocks a write needs are there before HDF5 writes: allocate them in a
        ballast file beside the store (``posix_fallocate``: real blocks, not a sparse promise),
        then hand them back just before HDF5 writes. A disk that cannot hold the write stops here
        with a :class:`DiskFullError`; HDF5 itself never meets a full disk (it damaged its state
        and crashed the process when one filled mid-write). The ballast lives in its own file:
        extending ``arrays.h5`` itself past HDF5's end of file made killed writers leave damaged
        stores. Without ``posix_fallocate`` (Windows, macOS) the free-space check alone protects."""
        fallocate = getattr(os, "posix_fallocate", None)
        if fallocate is None:
            return
        need = int(nbytes * 1.1) + 2 * 1024 * 1024
        ballast = self.path.with_name(self.path.name + ".reserve")
        try:
            fd = os.open(ballast, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            log.debug("cannot create %s: %s", ballast, exc)
            return
        try:
            fallocate(fd, 0, need)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise DiskFullError(
                    f"{self.path.parent}: not enough free space to store {what} ({need / 2**20:,.0f} MB needed). "
                    "Nothing already stored was changed; free some space and run again."
                ) from None
            log.debug("posix_fallocate not available on %s: %s", ballast, exc)
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                ballast.unlink()

    def put(self, key: str, array: np.ndarray, attrs: dict | None = None, compress: bool = True) -> None:
        a = np.ascontiguousarray(array)
        side = key + _SIDE
        with self.lock:
            self.ensure_space(a.nbytes, f"'{key}'")
            self.reserve(a.nbytes, f"'{key}'")
            with self._open("a") as f:
                if side in f:
                    del f[side]
                kwargs = {}
                if compress and a.size >= 4096:
                    kwargs = dict(compression="lzf", chunks=True)
                try:
                    ds = f.create_dataset(side, data=a, **kwargs)
                    for k, v in (attrs or {}).items():
                        ds.attrs[k] = v
                    ds.attrs["stored_at"] = time.time()
                    f.flush()
                except Exception as exc:
                    with contextlib.suppress(Exception):
                        del f[side]
                    if _errno_of(exc) == errno.ENOSPC or "no space" in str(exc).lower():
                        raise DiskFullError(
                            f"{self.path}: the disk filled up while storing '{key}'; what was stored before is kept"
                        ) from None
                    raise
                if key in f:
                    del f[key]
                f.move(side, key)
                f.flush()

    def delete(self, key: str) -> bool:
        with self._open("a") as f:
            if key in f:
                del f[key]
                return True
            return False

    # -- reading ---------------------------------------------------------------------------------
    def get(self, key: str) -> np.ndarray | None:
        """The array, or None when the key is missing (never stored, deleted or lost)."""
        with self._open("r") as f:
            if key not in f:
                return None
            return f[key][()]

    def require(self, key: str, what: str = "array") -> np.ndarray:
        """The array; a missing one raises :class:`MissingArrayError` ('result incomplete: run again')."""
        out = self.get(key)
        if out is None:
            raise MissingArrayError(key, what)
        return out

    def missing(self, keys: list[str]) -> list[str]:
        """Those of ``keys`` that are not in the store."""
        with self._open("r") as f:
            return [k for k in keys if k not in f]

    def get_attrs(self, key: str) -> dict | None:
        with self._open("r") as f:
            if key not in f:
                return None
            return {k: _py(v) for k, v in f[key].attrs.items()}

    def has(self, key: str) -> bool:
        with self._open("r") as f:
            return key in f

    def keys(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        with self._open("r") as f:
            root = f[prefix] if prefix and prefix in f else (f if not prefix else None)
            if root is None:
                return []
            import h5py

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and not name.endswith(_SIDE):
                    out.append(f"{prefix.rstrip('/')}/{name}" if prefix else name)

            root.visititems(visit)
        return sorted(out)


def _py(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value
