"""Embeddings with a two-level cache (memory LRU + workspace HDF5 by content hash) and prompt
decoding. The encoder is the slow part (~1.6 s on a 2-core CPU); the decoder is fast."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from core.hashing import array_sha256
from core.sam.model import SamNetwork, load_sam


@dataclass
class SamPrediction:
    masks: np.ndarray  # bool (K, H, W) on the original image grid
    scores: np.ndarray  # predicted IoU per mask (K,)
    low_res_logits: np.ndarray  # (K, 256, 256) in the model frame, reusable as mask_input


class SamService:
    def __init__(self, network: SamNetwork, store=None, memory_items: int = 8):
        self.net = network
        self.store = store  # core.workspace.arrays.ArrayStore or None
        self._memory: OrderedDict[str, tuple[np.ndarray, tuple[int, int], tuple[int, int]]] = OrderedDict()
        self._memory_items = memory_items
        self._lock = threading.RLock()

    def cache_key(self, sha: str) -> str:
        return f"sam/{self.net.encoder_id}/{sha}"

    # -- encoder -------------------------------------------------------------------------------
    def embedding(self, image: np.ndarray, sha: str | None = None) -> np.ndarray:
        """(256, 64, 64) float32 embedding of a 2-D image; computed once per content hash."""
        sha = sha or array_sha256(image)
        key = self.cache_key(sha)
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key][0]
        emb = None
        if self.store is not None:
            emb = self.store.get(key)
        if emb is None:
            emb = self._encode(image)
            if self.store is not None:
                self.store.put(key, emb, attrs={"encoder": self.net.encoder_id, "weights_sha256": self.net.weights_sha256})
        with self._lock:
            self._memory[key] = (emb, tuple(image.shape[:2]), self.resized_hw(image.shape[:2]))
            while len(self._memory) > self._memory_items:
                self._memory.popitem(last=False)
        return emb

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
        import torch

        x, _ = self.net.preprocess(image)
        with torch.inference_mode():
            emb = self.net.image_encoder(x)
        return emb[0].float().cpu().numpy().astype(np.float32)

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
            low, iou = self.net.mask_decoder(
                image_embeddings=emb,
                image_pe=self.net.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense_pe,
                multimask_output=multimask,
            )
            nh, nw = self.resized_hw(image_hw)
            up = F.interpolate(low, size=(self.net.img_size, self.net.img_size), mode="bilinear", align_corners=False)
            up = up[..., :nh, :nw]
            up = F.interpolate(up, size=tuple(image_hw), mode="bilinear", align_corners=False)
        return SamPrediction(
            masks=(up[0] > 0).cpu().numpy(), scores=iou[0].float().cpu().numpy(), low_res_logits=low[0].float().cpu().numpy()
        )

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


_services: OrderedDict[tuple[str, str, str], SamService] = OrderedDict()
_services_lock = threading.Lock()
MAX_SERVICES = 4  # each keeps up to 8 embeddings (32 MB) in memory; one per workspace opened in a session


def get_sam_service(encoder: str = "litemedsam", device: str = "auto", store=None) -> SamService:
    """One service per (encoder, device, store): GUI clicks and models share embeddings. The least
    recently used beyond ``MAX_SERVICES`` are forgotten (the network itself stays shared), so
    opening one workspace after another does not keep every earlier one's embeddings."""
    net = load_sam(encoder, device)
    key = (encoder, str(net.device), str(getattr(store, "path", None)))
    with _services_lock:
        if key not in _services:
            _services[key] = SamService(net, store)
            while len(_services) > MAX_SERVICES:
                _services.popitem(last=False)
        _services.move_to_end(key)
        return _services[key]
