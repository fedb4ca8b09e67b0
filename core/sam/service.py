"""Embeddings with a two-level cache (memory LRU + workspace HDF5 by content hash) and prompt
decoding. The encoder is the slow part; it and the mask decoder run on the inference backend
(ONNX Runtime on a CPU, torch on CUDA; core.sam.encoder, core.sam.decoder). ``embeddings(images)`` encodes a batch."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from core.hashing import array_sha256
from core.sam.decoder import decode, decoder_graph
from core.sam.encoder import ImageEncoder, image_encoder
from core.sam.model import SamNetwork, load_sam


@dataclass
class SamPrediction:
    masks: np.ndarray  # bool (K, H, W) on the original image grid
    scores: np.ndarray  # predicted IoU per mask (K,)
    low_res_logits: np.ndarray  # (K, 256, 256) in the model frame, reusable as mask_input


class SamService:
    def __init__(self, network: SamNetwork, store=None, memory_items: int = 8, backend: str = "torch"):
        self.net = network
        self.backend = backend
        self.encoder: ImageEncoder = image_encoder(network, backend)
        self.store = store  # core.workspace.arrays.ArrayStore or None
        self._memory: OrderedDict[str, tuple[np.ndarray, tuple[int, int], tuple[int, int]]] = OrderedDict()
        self._memory_items = memory_items
        self._lock = threading.RLock()

    def cache_key(self, sha: str) -> str:
        """Embeddings of each backend are kept apart (torch keeps the original key), so a model
        always reads embeddings of the backend it was calibrated with."""
        suffix = "" if self.backend == "torch" else f"-{self.backend}"
        return f"sam/{self.net.encoder_id}{suffix}/{sha}"

    # -- encoder -------------------------------------------------------------------------------
    def embedding(self, image: np.ndarray, sha: str | None = None) -> np.ndarray:
        """(256, 64, 64) float32 embedding of a 2-D image; computed once per content hash."""
        return self.embeddings([image], [sha])[0]

    def embeddings(self, images: list[np.ndarray], shas: list[str | None] | None = None, batch: int = 8) -> list[np.ndarray]:
        """Embeddings of several 2-D images (B-scans, slices, the images of a run): cached ones are
        read, the others encoded ``batch`` at a time (one batched call on CUDA)."""
        keys = [s or array_sha256(im) for im, s in zip(images, shas or [None] * len(images), strict=True)]
        out: list[np.ndarray | None] = [self._cached(self.cache_key(s)) for s in keys]
        todo = [i for i, e in enumerate(out) if e is None]
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            for i, emb in zip(part, self._encode_batch([images[i] for i in part]), strict=True):
                out[i] = emb
                if self.store is not None:
                    attrs = {"encoder": self.net.encoder_id, "weights_sha256": self.net.weights_sha256, "backend": self.backend}
                    self.store.put(self.cache_key(keys[i]), emb, attrs=attrs)
        done = [e for e in out if e is not None]  # every image has its embedding now
        for im, s, got in zip(images, keys, done, strict=True):
            self._remember(self.cache_key(s), got, im.shape[:2])
        return done

    def _cached(self, key: str) -> np.ndarray | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key][0]
        return self.store.get(key) if self.store is not None else None

    def _remember(self, key: str, emb: np.ndarray, hw) -> None:
        with self._lock:
            self._memory[key] = (emb, tuple(hw), self.resized_hw(hw))
            self._memory.move_to_end(key)
            while len(self._memory) > self._memory_items:
                self._memory.popitem(last=False)

    def has_embedding(self, sha: str) -> bool:
        key = self.cache_key(sha)
        with self._lock:
            if key in self._memory:
                return True
        return self.store is not None and self.store.has(key)

    def resized_hw(self, hw: tuple[int, int]) -> tuple[int, int]:
        h, w = hw
        scale = self.net.img_size / max(h, w)
        return int(h * scale + 0.5), int(w * scale + 0.5)

    def _encode(self, image: np.ndarray) -> np.ndarray:
        return self._run_encoder([image])[0]

    def _encode_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return [self._encode(images[0])] if len(images) == 1 else self._run_encoder(images)

    def _run_encoder(self, images: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        x = torch.cat([self.net.preprocess(im)[0] for im in images])
        emb = self.encoder.run(x, ("embedding",))["embedding"]
        return [e.cpu().numpy().astype(np.float32) for e in emb]

    # -- decoder -------------------------------------------------------------------------------
    def to_model_coords(self, xy: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        h, w = hw
        scale = self.net.img_size / max(h, w)
        return np.asarray(xy, dtype=np.float32) * np.array([scale, scale], np.float32)

    def predict(
        self,
        embedding: np.ndarray,
        image_hw: tuple[int, int],
        *,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        dense: np.ndarray | None = None,
        multimask: bool = True,
    ) -> SamPrediction:
        """Decode masks. ``points`` (N, 2) x/y in image pixels with ``labels`` 1/0; ``box`` x0 y0 x1 y1;
        ``mask_input`` (256, 256) low-res logits from an earlier prediction; ``dense`` an extra dense
        embedding (256, 64, 64) added to the image embedding (MIAS-SAM's map prompt)."""
        import torch
        import torch.nn.functional as F

        dev = self.net.device
        emb = torch.from_numpy(np.ascontiguousarray(embedding))[None].to(dev)
        pts = None
        if points is not None and len(points):
            coords = torch.from_numpy(self.to_model_coords(points, image_hw))[None].to(dev)
            labs = torch.as_tensor(np.asarray(labels if labels is not None else np.ones(len(points))), dtype=torch.int64)[None].to(dev)
            pts = (coords, labs)
        boxes = None
        if box is not None:
            b = self.to_model_coords(np.asarray(box, np.float32).reshape(2, 2), image_hw).reshape(1, 1, 4)
            boxes = torch.from_numpy(b).to(dev)
        masks_in = None
        if mask_input is not None:
            masks_in = torch.from_numpy(np.ascontiguousarray(mask_input, dtype=np.float32))[None, None].to(dev)
        with torch.inference_mode():
            sparse, dense_pe = self.net.prompt_encoder(points=pts, boxes=boxes, masks=masks_in)
            if dense is not None:
                dense_pe = dense_pe + torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32))[None].to(dev)
            low, iou = self.decode_tokens(emb, sparse, dense_pe, multimask)
            nh, nw = self.resized_hw(image_hw)
            up = F.interpolate(low, size=(self.net.img_size, self.net.img_size), mode="bilinear", align_corners=False)
            logits = up[0, :, :nh, :nw].float().cpu().numpy()
        return SamPrediction(
            masks=upsample_masks(logits, image_hw), scores=iou[0].float().cpu().numpy(), low_res_logits=low[0].float().cpu().numpy()
        )

    def prepare_graphs(self) -> None:
        """Open this service's ONNX Runtime sessions (encoder and mask decoder) now, exporting them on
        first use (the decoder 2.5 s once per install; 0.13 s per process to verify and open), so
        neither the first model run nor the first click pays for it; nothing on torch."""
        if self.backend == "onnx":
            self.encoder.graph()
            decoder_graph(self.net)

    def decode_tokens(self, embedding, sparse, dense, multimask: bool):
        """The mask decoder on this service's backend (core.sam.decoder.decode): one image embedding
        (1, 256, 64, 64) tensor, N prompt sets of prompt-encoder output -> (N, K, 256, 256) low-res
        logits and (N, K) IoU predictions."""
        return decode(self.net, self.backend, embedding, sparse, dense, multimask)

    def mask_prompt_from_map(self, prob_map: np.ndarray, logit_scale: float = 8.0) -> np.ndarray:
        """A map in [0, 1] on the image grid -> (256, 256) mask logits in the model frame."""
        import torch
        import torch.nn.functional as F

        h, w = prob_map.shape
        nh, nw = self.resized_hw((h, w))
        t = torch.from_numpy(np.ascontiguousarray(prob_map, dtype=np.float32))[None, None]
        t = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False)
        t = F.pad(t, (0, self.net.img_size - nw, 0, self.net.img_size - nh))
        t = F.interpolate(t, size=(256, 256), mode="bilinear", align_corners=False)
        return ((t[0, 0] - 0.5) * 2.0 * logit_scale).numpy()


def upsample_masks(logits: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """(K, h, w) mask logits in the resized frame -> (K, H, W) bool masks on the image grid
    (bilinear with half-pixel centres, as torch's align_corners=False; OpenCV is 50-100x faster at
    1411 px and differs from torch only in pixels whose logit lies within 1e-4 of 0)."""
    import cv2

    h, w = int(image_hw[0]), int(image_hw[1])
    return np.stack([cv2.resize(np.ascontiguousarray(m, np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0 for m in logits])


_services: OrderedDict[tuple[str, str, str, str], SamService] = OrderedDict()
_services_lock = threading.Lock()
MAX_SERVICES = 4  # each keeps up to 8 embeddings (32 MB) in memory; one per workspace opened in a session


def get_sam_service(encoder: str = "litemedsam", device: str = "auto", store=None, backend: str | None = None) -> SamService:
    """One service per (encoder, device, store, backend): GUI clicks and models share embeddings.
    ``backend`` None: the runtime setting (ONNX Runtime on a CPU, torch on CUDA). The least
    recently used beyond ``MAX_SERVICES`` are forgotten (the network itself stays shared), so
    opening one workspace after another does not keep every earlier one's embeddings."""
    from core.runtime.inference import resolve_backend

    net = load_sam(encoder, device)
    backend = resolve_backend(backend, net.device)
    key = (encoder, str(net.device), str(getattr(store, "path", None)), backend)
    with _services_lock:
        if key not in _services:
            _services[key] = SamService(net, store, backend=backend)
            while len(_services) > MAX_SERVICES:
                _services.popitem(last=False)
        _services.move_to_end(key)
        return _services[key]
