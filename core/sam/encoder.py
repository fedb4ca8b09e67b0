"""The frozen SAM-family image encoder on either inference backend (core.runtime.inference).

* ``torch``: the network itself (CUDA on a GPU; the reference everywhere).
* ``onnx``: the same network exported once to ONNX and run by ONNX Runtime on the CPU. For
  LiteMedSAM one graph gives every TinyViT stage output and the neck's embedding, so PatchCore /
  ReSAD features and SAM embeddings come from one graph and one cache file.

``ImageEncoder.run(x, outputs)`` takes a preprocessed batch (B, 3, S, S) and returns the requested
outputs as float32 torch tensors: ``stage0`` .. ``stage3`` (B, C, side, side) on the full padded
grid (LiteMedSAM only) and ``embedding`` (B, 256, 64, 64).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from core.errors import WeightsError

# LiteMedSAM TinyViT: stage index -> (channels, stride relative to the 256 px input)
TINYVIT_STAGES = {0: (128, 2), 1: (160, 4), 2: (320, 4), 3: (320, 4)}
GRAPH_REVISION = 1  # bump when the exported wrapper below changes


def _stage_map(h, i: int):
    c, stride = TINYVIT_STAGES[i]
    side = 256 // stride
    return h.transpose(1, 2).reshape(-1, c, side, side) if h.ndim == 3 else h


def _tinyvit_outputs(enc, x, stages: Sequence[int], embedding: bool) -> dict:
    """Run TinyViT up to the last stage needed; stage maps (B, C, side, side) and the embedding."""
    out = {}
    last = 3 if embedding else max(stages)
    h = enc.patch_embed(x)
    for i, layer in enumerate(enc.layers):
        if i > last:
            break
        h = layer(h)
        if i in stages or (embedding and i == 3):
            fmap = _stage_map(h, i)
            if i in stages:
                out[f"stage{i}"] = fmap
            if embedding and i == 3:
                out["embedding"] = enc.neck(fmap)
    return out


def _export_module(net):
    """A CPU copy of the encoder whose forward returns every output the graph offers."""
    import copy

    import torch
    from torch import nn

    enc = copy.deepcopy(net.image_encoder).to("cpu").to(memory_format=torch.contiguous_format).eval()

    class TinyViTAll(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = enc

        def forward(self, x):
            o = _tinyvit_outputs(self.enc, x, (0, 1, 2, 3), True)
            return o["stage0"], o["stage1"], o["stage2"], o["stage3"], o["embedding"]

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = enc

        def forward(self, x):
            return self.enc(x)

    return TinyViTAll() if net.encoder_id == "litemedsam" else Plain()


def graph_outputs(encoder_id: str) -> tuple[str, ...]:
    return ("stage0", "stage1", "stage2", "stage3", "embedding") if encoder_id == "litemedsam" else ("embedding",)


class ImageEncoder:
    """One network's image encoder on one backend (``torch`` or ``onnx``)."""

    def __init__(self, net, backend: str):
        if backend not in ("torch", "onnx"):
            raise WeightsError(f"unknown inference backend '{backend}' for the {net.encoder_id} encoder")
        self.net = net
        self.backend = backend
        self._lock = threading.Lock()

    @property
    def outputs(self) -> tuple[str, ...]:
        return graph_outputs(self.net.encoder_id)

    def graph(self):
        """The ONNX Runtime session (exported on first use, verified on every process start); one
        per application-data folder (core.runtime.inference.frozen_graph), looked up on each call."""
        from core.runtime.inference import GraphSpec, frozen_graph

        s = self.net.img_size
        spec = GraphSpec(f"{self.net.encoder_id}-image-encoder", self.net.weights_sha256, (1, 3, s, s), self.outputs, GRAPH_REVISION)
        with self._lock:
            return frozen_graph(spec, lambda: _export_module(self.net))

    def run(self, x, outputs: Sequence[str] = ("embedding",)) -> dict:
        """(B, 3, S, S) preprocessed batch -> {output: float32 tensor}; CPU tensors from ONNX Runtime,
        the network's device from torch."""
        import torch

        unknown = [o for o in outputs if o not in self.outputs]
        if unknown:
            raise WeightsError(f"the {self.net.encoder_id} encoder has no output(s) {unknown}")
        if self.backend == "onnx":
            arr = x.detach().to("cpu", torch.float32).contiguous().numpy() if hasattr(x, "detach") else np.asarray(x, np.float32)
            got = self.graph().run(arr, outputs)
            return {k: torch.from_numpy(v) for k, v in got.items()}
        with torch.inference_mode():
            if self.net.encoder_id == "litemedsam":
                stages = [int(o[5:]) for o in outputs if o.startswith("stage")]
                o = _tinyvit_outputs(self.net.image_encoder, x, stages, "embedding" in outputs)
                return {k: o[k].float() for k in outputs}
            return {"embedding": self.net.image_encoder(x).float()}


_encoders: dict[tuple[int, str], ImageEncoder] = {}
_encoders_lock = threading.Lock()


def image_encoder(net, backend: str) -> ImageEncoder:
    """The shared encoder of ``net`` on ``backend`` (one ONNX session per process and graph)."""
    key = (id(net), backend)
    with _encoders_lock:
        enc = _encoders.get(key)
        if enc is None:
            enc = ImageEncoder(net, backend)
            _encoders[key] = enc
        return enc
