"""Memory bank of normal patch features: greedy coreset subsampling (PatchCore's k-center on a
sparse random projection) and nearest-neighbour search with faiss (exact or HNSW), or torch on
CUDA when a GPU is present."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from core.runtime.progress import CancelToken, Progress, no_progress

if TYPE_CHECKING:
    import faiss
    import torch


def jl_min_dim(n_samples: int, eps: float) -> int:
    """Johnson-Lindenstrauss target dimension (as scikit-learn's ``johnson_lindenstrauss_min_dim``)."""
    denominator = (eps**2 / 2) - (eps**3 / 3)
    return int(4 * math.log(max(n_samples, 2)) / denominator)


def sparse_random_projection(d_in: int, d_out: int, seed: int = 0) -> np.ndarray:
    """Li et al. very sparse projection: entries +-sqrt(s/d_out) with probability 1/(2s), s = sqrt(d_in)."""
    rng = np.random.default_rng(seed)
    s = math.sqrt(d_in)
    density = 1.0 / s
    signs = rng.choice([-1.0, 1.0], size=(d_in, d_out))
    keep = rng.random((d_in, d_out)) < density
    return (signs * keep * math.sqrt(1.0 / (density * d_out))).astype(np.float32)


def greedy_coreset(
    features: np.ndarray,
    n_select: int,
    *,
    eps: float = 0.9,
    seed: int = 0,
    device=None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Indices of ``n_select`` rows chosen by greedy k-center selection in a projected space."""
    import torch

    n = len(features)
    if n_select >= n:
        return np.arange(n)
    progress = progress or no_progress
    d_out = min(jl_min_dim(n, eps), features.shape[1])
    if d_out < features.shape[1]:
        proj = torch.from_numpy(sparse_random_projection(features.shape[1], d_out, seed))
    else:
        proj = None
    dev = device or torch.device("cpu")
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    z = x @ proj if proj is not None else x
    zz = (z * z).sum(dim=1).to(dev)
    # the projected features stored dimension-major (d x n): a row vector times this matrix reads
    # memory in order and took 3.2 ms per step against 7.6 ms for the n x d matrix times a vector
    # (61,440 x 272, 2-core CPU); the selection is the same
    zt = z.T.contiguous().to(dev)
    del x, z
    rng = np.random.default_rng(seed)
    first = int(rng.integers(n))
    selected = np.empty(n_select, dtype=np.int64)
    selected[0] = first
    dot = torch.empty((1, n), dtype=torch.float32, device=dev)
    # squared distances via |z|^2 - 2 z.c + |c|^2: one vector-matrix product per step
    min_d = _distances_to(zt, zz, first, dot).clone()
    report_every = max(1, n_select // 50)
    for i in range(1, n_select):
        nxt = int(torch.argmax(min_d))
        selected[i] = nxt
        torch.minimum(min_d, _distances_to(zt, zz, nxt, dot), out=min_d)
        if i % report_every == 0:
            if cancel is not None:
                cancel.raise_if_cancelled()
            progress(i, n_select, f"coreset {i}/{n_select}")
    return selected


def _distances_to(zt, zz, j: int, out):
    """Squared distances of every column of ``zt`` to column ``j``, written into ``out`` (1 x n)."""
    import torch

    torch.matmul(zt[:, j].unsqueeze(0), zt, out=out)
    row = out[0]
    return row.mul_(-2.0).add_(zz).add_(zz[j]).clamp_(min=0.0)


# bank entries x dimensions above which "auto" picks the approximate HNSW graph. Exact search is
# preferred where it costs little: against MIAS-SAM's default 14,336 x 1,024 bank exact search took
# 1.2 s per image and HNSW 1.4 s (HNSW build 23 s vs 6.5 s) on the 2-core CPU under load.
EXACT_LIMIT = 32_000_000


class MemoryBank:
    """Nearest-neighbour search over a fixed set of feature vectors.

    ``index``: "exact" (faiss flat L2), "hnsw" (faiss HNSW graph, approximate, ~10x faster on
    large banks), or "auto" (HNSW when entries x dimensions exceed ``EXACT_LIMIT``). An HNSW graph
    is saved with the model (``index_bytes``) so a loaded model searches the very same graph.
    On CUDA the search is a chunked torch ``cdist`` (exact).
    """

    def __init__(
        self,
        features: np.ndarray,
        index: str = "auto",
        device=None,
        hnsw_m: int = 16,
        ef_search: int = 48,
        index_bytes: np.ndarray | None = None,
    ):
        import torch

        self.features = np.ascontiguousarray(features, dtype=np.float32)
        self.dim = self.features.shape[1]
        self.device = device or torch.device("cpu")
        if index == "auto":
            index = "exact" if self.features.size <= EXACT_LIMIT else "hnsw"
        if index not in ("exact", "hnsw"):
            raise ValueError(f"unknown memory-bank index '{index}' (exact, hnsw or auto)")
        self.kind = index
        self._index: faiss.Index | None = None
        self._torch_bank: torch.Tensor | None = None
        if self.device.type == "cuda":
            self._torch_bank = torch.from_numpy(self.features).to(self.device)
            self.kind = "torch-cuda"
            return
        import faiss

        if index == "hnsw":
            if index_bytes is not None and len(index_bytes):
                graph = faiss.deserialize_index(np.ascontiguousarray(index_bytes, dtype=np.uint8))
                if not isinstance(graph, faiss.IndexHNSW):
                    raise ValueError(f"the saved memory-bank index is a {type(graph).__name__}, not an HNSW graph")
            else:
                graph = faiss.IndexHNSWFlat(self.dim, hnsw_m)
                graph.hnsw.efConstruction = 80
                graph.add(self.features)
            graph.hnsw.efSearch = ef_search
            self._index = graph
        else:
            flat = faiss.IndexFlatL2(self.dim)
            flat.add(self.features)
            self._index = flat

    def __len__(self) -> int:
        return len(self.features)

    def index_bytes(self) -> np.ndarray:
        """The serialised approximate index (empty for exact search, which is rebuilt exactly)."""
        if self.kind != "hnsw" or self._index is None:
            return np.zeros(0, np.uint8)
        import faiss

        return faiss.serialize_index(self._index)

    def search(self, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(distances, indices), each (M, k); Euclidean distances (not squared)."""
        import torch

        q = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, len(self.features))
        if self._torch_bank is not None:
            out_d, out_i = [], []
            for chunk in torch.from_numpy(q).to(self.device).split(4096):
                d = torch.cdist(chunk, self._torch_bank)
                vals, idx = torch.topk(d, k, dim=1, largest=False)
                out_d.append(vals.cpu())
                out_i.append(idx.cpu())
            return torch.cat(out_d).numpy(), torch.cat(out_i).numpy()
        if self._index is None:
            raise ValueError("the memory bank has no search index")
        d2, nearest = self._index.search(q, k)
        return np.sqrt(np.maximum(d2, 0.0)), nearest
