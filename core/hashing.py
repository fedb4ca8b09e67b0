"""Content hashes: the key of every cached array (embeddings, features, heatmaps)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 of the decoded pixels, their dtype and shape.

    The same pixels give the same hash whatever file format carried them, so a re-saved image
    keeps its cached SAM embedding.
    """
    a = np.ascontiguousarray(array)
    digest = hashlib.sha256()
    digest.update(f"{a.dtype.str}|{a.shape}|".encode())
    digest.update(a.data.cast("B"))  # the array's own buffer, no copy
    return digest.hexdigest()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
