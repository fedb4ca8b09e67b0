"""Feature backbones for the memory-bank methods.

* ``tinyvit`` (offline default): the LiteMedSAM TinyViT image encoder; multi-stage feature maps
  (stage outputs at 1/2 and 1/4 of the 256 px input) and the SAM embedding from one pass, so the
  SAM embedding cache is filled on the way.
* ``wide_resnet50`` (paper-faithful): timm WideResNet-50-2 ``features_only`` (layer2, layer3),
  loaded from the official torchvision ImageNet file in the weights folder. ``weights='random'``
  exists for tests only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import WeightsError


@dataclass
class Features:
    maps: dict[str, object]  # name -> tensor (1, C, h, w) on the valid (unpadded) grid
    input_hw: tuple[int, int]  # the resized image size the maps correspond to


class TinyViTBackbone:
    name = "litemedsam-tinyvit"
    # stage index -> (channels, stride relative to the 256 px input)
    STAGES = {0: (128, 2), 1: (160, 4), 2: (320, 4), 3: (320, 4)}

    def __init__(self, device=None):
        from core.sam.model import load_sam

        self.net = load_sam("litemedsam", device)
        self.weights_sha256 = self.net.weights_sha256
        self.weights_file = "lite_medsam.pth"

    def extract(self, image: np.ndarray, stages: tuple[int, ...] = (1, 3), with_embedding: bool = False) -> Features:
        import torch

        enc = self.net.image_encoder
        x, (nh, nw) = self.net.preprocess(image)
        maps = {}
        with torch.inference_mode():
            h = enc.patch_embed(x)
            for i, layer in enumerate(enc.layers):
                h = layer(h)
                if i in stages or (with_embedding and i == len(enc.layers) - 1):
                    c, stride = self.STAGES[i]
                    side = 256 // stride
                    fmap = h.transpose(1, 2).reshape(1, c, side, side) if h.ndim == 3 else h
                    vh, vw = max(1, round(nh / stride)), max(1, round(nw / stride))
                    if i in stages:
                        maps[f"stage{i}"] = fmap[:, :, :vh, :vw].float().contiguous()
                    if with_embedding and i == len(enc.layers) - 1:
                        maps["embedding"] = enc.neck(fmap).float()
        return Features(maps=maps, input_hw=(nh, nw))


class WideResNet50Backbone:
    name = "wide_resnet50_2"

    def __init__(self, device=None, weights: str = "official"):
        import timm
        import torch

        self.device = device or torch.device("cpu")
        if weights == "random":  # deterministic random init (tests): every instance gets the same weights
            rng_state = torch.random.get_rng_state()
            torch.manual_seed(0)
        self.model = timm.create_model("wide_resnet50_2", pretrained=False, features_only=True, out_indices=(2, 3))
        if weights == "official":
            from core.runtime import weights as W

            path, digest = W.resolve("wide_resnet50_2")
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
            missing, unexpected = self.model.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise WeightsError(f"{path}: not a WideResNet-50-2 state dict (missing {missing[:3]}, unexpected {unexpected[:3]})")
            self.weights_sha256, self.weights_file = digest, path.name
        elif weights == "random":
            torch.random.set_rng_state(rng_state)
            self.weights_sha256, self.weights_file = "random-init (tests only)", ""
        else:
            raise WeightsError(f"unknown WideResNet weights '{weights}': use official or random")
        self.model.eval().to(self.device)

    def extract(self, image: np.ndarray, size: int = 784) -> Features:
        import torch
        import torch.nn.functional as F

        a = np.asarray(image)
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=-1)
        a = a[..., :3].astype(np.float32)
        if a.max() > 255:
            a = (a - a.min()) / max(a.max() - a.min(), 1e-6) * 255.0
        t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None] / 255.0
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        with torch.inference_mode():
            f2, f3 = self.model(((t - mean) / std).to(self.device))
        return Features(maps={"layer2": f2.float(), "layer3": f3.float()}, input_hw=(size, size))


def make_backbone(name: str, device=None, weights: str = "official"):
    if name in ("tinyvit", "litemedsam"):
        return TinyViTBackbone(device)
    if name in ("wide_resnet50", "wide_resnet50_2", "wrn50"):
        return WideResNet50Backbone(device, weights)
    raise WeightsError(f"unknown backbone '{name}': use tinyvit (offline default) or wide_resnet50 (needs weights)")
