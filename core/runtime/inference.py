"""Inference backends for frozen networks: torch eager, or the same network exported once to ONNX
and run by ONNX Runtime's CPU execution provider.

* :func:`resolve_backend` turns the requested backend (``auto | torch | onnx``: the model card's,
  else ``ANOMALY_STUDIO_BACKEND``, else the ``backend`` user setting) into the one used: ``auto``
  is ONNX Runtime on a CPU and torch on CUDA.
* :class:`FrozenGraph` exports a network on first use into the application-data cache
  (``app_data_dir()/cache/onnx/<name>-<key>.onnx``; never the program folder, never downloaded),
  one file per weights SHA-256, graph revision, opset, torch and onnxruntime versions and input
  size. The export is written atomically under an inter-process lock (torchrun ranks and the GUI
  may ask at once) beside a manifest holding the file's SHA-256; every open re-hashes the file
  and rebuilds it when it is corrupt, truncated or was built for anything else (stale).
* Sessions use as many intra-op threads as this process may use cores.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import StudioError

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx")
BACKEND_ENV = "ANOMALY_STUDIO_BACKEND"
OPSET = 17


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def requested_backend() -> str:
    """The backend asked for outside any model: ``ANOMALY_STUDIO_BACKEND``, else the user setting."""
    env = os.environ.get(BACKEND_ENV)
    if env:
        return check_backend(env)
    from core.settings import Settings

    return check_backend(getattr(Settings.load(), "backend", "auto") or "auto")


def check_backend(name: str) -> str:
    name = str(name).strip().lower()
    if name not in BACKENDS:
        raise StudioError(f"unknown inference backend '{name}': use auto, torch or onnx")
    return name


def resolve_backend(requested: str | None, device) -> str:
    """``torch`` or ``onnx`` for frozen encoders on ``device``. ``requested`` None: the runtime
    setting; ``auto``: ONNX Runtime on a CPU, torch on CUDA."""
    name = check_backend(requested) if requested else requested_backend()
    if name == "auto":
        return "onnx" if getattr(device, "type", str(device)) == "cpu" else "torch"
    return name


def model_backend(recorded: str | None, device) -> str:
    """The backend of a model's frozen encoders: an explicit runtime setting (``torch`` / ``onnx``)
    wins; under ``auto`` a fitted model keeps the backend it was fitted and calibrated with
    (``recorded``, from its card; versions from before backends were recorded: torch), and a new
    model takes ONNX Runtime on a CPU, torch on CUDA."""
    asked = requested_backend()
    if asked != "auto":
        return asked
    if recorded:
        return check_backend(recorded) if recorded != "auto" else resolve_backend("auto", device)
    return resolve_backend("auto", device)


def cache_dir() -> Path:
    from core.settings import app_data_dir

    return app_data_dir() / "cache" / "onnx"


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    import onnxruntime
    import torch

    return {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__}


@dataclass(frozen=True)
class GraphSpec:
    """Everything an exported graph depends on; any change is another file."""

    name: str  # e.g. "litemedsam-encoder"
    weights_sha256: str
    input_shape: tuple[int, ...]  # static, batch 1
    outputs: tuple[str, ...]
    revision: int = 1  # bump when the wrapped module's code changes
    opset: int = OPSET
    # a graph of several inputs names them with example shapes (batch 1; ``input_shape`` is then the
    # first one's) and the axes left free, e.g. (("sparse", 1),); empty: the one input ``input``
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()
    dynamic: tuple[tuple[str, int], ...] = ()

    def input_specs(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        return self.inputs or (("input", self.input_shape),)

    def record(self) -> dict:
        rec = {**asdict(self), **_versions()}
        for extra in ("inputs", "dynamic"):  # absent when empty: the single-input graphs keep their keys
            if not rec[extra]:
                del rec[extra]
        return json.loads(json.dumps(rec))  # tuples as lists, exactly as the manifest reads back

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.record(), sort_keys=True).encode()).hexdigest()[:16]

    def path(self, folder: Path | None = None) -> Path:
        return (folder or cache_dir()) / f"{self.name}-{self.key()}.onnx"


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _manifest_path(path: Path) -> Path:
    return path.with_suffix(".json")


def cached_graph_ok(spec: GraphSpec, path: Path) -> bool:
    """True when ``path`` holds the graph ``spec`` describes, byte for byte as it was written."""
    man = _manifest_path(path)
    if not path.is_file() or not man.is_file():
        return False
    try:
        meta = json.loads(man.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    if not isinstance(meta, dict) or meta.get("spec") != spec.record():
        return False
    return meta.get("size") == path.stat().st_size and meta.get("sha256") == _file_sha256(path)


def export_graph(spec: GraphSpec, build: Callable[[], Any], folder: Path | None = None) -> Path:
    """The verified ONNX file of ``spec``, exporting ``build()`` (a torch module on the CPU, in eval
    mode) when the cache has no valid copy. Corrupt or stale files are replaced, never used."""
    from core.io.atomic import atomic_path, atomic_write_json
    from core.io.filelock import FileLock

    path = spec.path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_suffix(".lock"), timeout=900.0):
        if cached_graph_ok(spec, path):
            return path
        if path.exists():
            log.warning("ONNX cache %s is corrupt or stale: rebuilding it", path)
        import torch

        module = build()
        examples = tuple(torch.zeros(shape, dtype=torch.float32) for _, shape in spec.input_specs())
        dynamic = {name: {axis: f"{name}_{axis}"} for name, axis in spec.dynamic} or None
        # torch 2.14's TorchScript exporter (deprecated there; the torch.export-based one needs
        # onnxscript, not installed) traces these frozen eval-mode graphs exactly
        with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation of this exporter, constant-folding notes
            torch.onnx.export(
                module,
                examples,
                str(tmp),
                input_names=[name for name, _ in spec.input_specs()],
                output_names=list(spec.outputs),
                dynamic_axes=dynamic,
                opset_version=spec.opset,
                dynamo=False,
                do_constant_folding=True,
            )
        atomic_write_json(_manifest_path(path), {"spec": spec.record(), "size": path.stat().st_size, "sha256": _file_sha256(path)})
        _remove_stale(spec, path)
        return path


def _remove_stale(spec: GraphSpec, keep: Path) -> None:
    """Older exports of the same graph name (other weights or versions) are not kept around."""
    for other in keep.parent.glob(f"{spec.name}-*.onnx"):
        if other != keep and len(other.stem) == len(keep.stem):
            for p in (other, _manifest_path(other)):
                try:
                    p.unlink()
                except OSError:
                    pass


class FrozenGraph:
    """A frozen network as an ONNX Runtime session (CPU execution provider). ``run`` takes a batch
    of any size; the graph itself is exported for batch 1 (static shapes)."""

    def __init__(self, spec: GraphSpec, build: Callable[[], Any], folder: Path | None = None):
        import onnxruntime as ort

        self.spec = spec
        self.path = export_graph(spec, build, folder)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = cpu_cores()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # no busy-waiting between operators: on a small shared CPU the spinning threads took the cores
        # the GUI thread and the SAM decoder needed (a warm click was slower right after an encoder run)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()  # one run at a time per session (its threads are all the cores)

    def run(self, x: np.ndarray, outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """(B, ...) float32 input -> {output name: (B, ...) array}, one image at a time."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        names = list(outputs or self.spec.outputs)
        parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
        for i in range(x.shape[0]):
            with self._lock:
                got = self.session.run(names, {"input": x[i : i + 1]})
            for n, a in zip(names, got, strict=True):
                parts[n].append(a)
        return {n: (v[0] if len(v) == 1 else np.concatenate(v, axis=0)) for n, v in parts.items()}

    def run_feed(self, feed: dict[str, np.ndarray], outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """One run of a graph with several inputs: {input name: float32 array} -> {output: array}."""
        names = list(outputs or self.spec.outputs)
        arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feed.items()}
        with self._lock:
            got = self.session.run(names, arrays)
        return dict(zip(names, got, strict=True))


_graphs: dict[tuple[str, str], FrozenGraph] = {}
_graphs_lock = threading.Lock()


def frozen_graph(spec: GraphSpec, build: Callable[[], Any]) -> FrozenGraph:
    """One session per graph and cache folder in this process."""
    key = (spec.key(), str(cache_dir()))
    with _graphs_lock:
        graph = _graphs.get(key)
        if graph is None:
            graph = FrozenGraph(spec, build)
            _graphs[key] = graph
        return graph
