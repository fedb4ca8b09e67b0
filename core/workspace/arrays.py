"""HDF5 array store keyed by content: SAM embeddings, features, heatmaps and masks.

Keys are '/'-separated paths such as ``sam/litemedsam/<sha256>`` or
``heatmaps/mias_sam/<version>/<sha256>``. The file is opened per operation under an
inter-process lock, so the GUI, workers and a training subprocess can share it. Everything stored
here can be recomputed: if a crash left the file unreadable it is moved aside
(``arrays.h5.broken-<time>``) and a fresh store is started, never blocking the workspace.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.io.filelock import FileLock

log = logging.getLogger(__name__)


class ArrayStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = FileLock(self.path.with_name(self.path.name + ".lock"))
        self.recovered_from: Path | None = None
        with self.lock:
            self._check_or_recover()

    def _check_or_recover(self) -> None:
        import h5py

        if not self.path.exists():
            with h5py.File(self.path, "w", locking=False) as f:
                f.attrs["format"] = "anomaly-studio-arrays"
                f.attrs["version"] = 1
            return
        try:
            with h5py.File(self.path, "r", locking=False) as f:
                f.attrs.get("format")
                f.visit(lambda name: None)
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            broken = self.path.with_name(f"{self.path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
            os.replace(self.path, broken)
            self.recovered_from = broken
            log.warning("array store %s was unreadable (%s); moved to %s and started fresh", self.path, exc, broken)
            with h5py.File(self.path, "w", locking=False) as f:
                f.attrs["format"] = "anomaly-studio-arrays"
                f.attrs["version"] = 1

    @contextlib.contextmanager
    def _open(self, mode: str) -> Iterator:
        import h5py

        with self.lock:
            try:
                f = h5py.File(self.path, mode, locking=False)
            except OSError as exc:
                log.warning("array store %s failed to open (%s); recovering", self.path, exc)
                self._check_or_recover()
                f = h5py.File(self.path, mode, locking=False)
            try:
                yield f
            finally:
                f.close()

    def put(self, key: str, array: np.ndarray, attrs: dict | None = None, compress: bool = True) -> None:
        a = np.ascontiguousarray(array)
        with self._open("a") as f:
            if key in f:
                del f[key]
            kwargs = {}
            if compress and a.size >= 4096:
                kwargs = dict(compression="lzf", chunks=True)
            ds = f.create_dataset(key, data=a, **kwargs)
            for k, v in (attrs or {}).items():
                ds.attrs[k] = v
            ds.attrs["stored_at"] = time.time()
            f.flush()

    def get(self, key: str) -> np.ndarray | None:
        with self._open("r") as f:
            if key not in f:
                return None
            return f[key][()]

    def get_attrs(self, key: str) -> dict | None:
        with self._open("r") as f:
            if key not in f:
                return None
            return {k: _py(v) for k, v in f[key].attrs.items()}

    def has(self, key: str) -> bool:
        with self._open("r") as f:
            return key in f

    def delete(self, key: str) -> bool:
        with self._open("a") as f:
            if key in f:
                del f[key]
                return True
            return False

    def keys(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        with self._open("r") as f:
            root = f[prefix] if prefix and prefix in f else (f if not prefix else None)
            if root is None:
                return []
            import h5py

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    out.append(f"{prefix.rstrip('/')}/{name}" if prefix else name)

            root.visititems(visit)
        return sorted(out)


def _py(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value
