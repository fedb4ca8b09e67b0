"""Feature backbones for the memory-bank methods.

* ``tinyvit`` (offline default): the LiteMedSAM TinyViT image encoder; multi-stage feature maps
  (stage outputs at 1/2 and 1/4 of the 256 px input) and, on request, the SAM embedding from the
  same pass.
* ``wide_resnet50`` (paper-faithful): timm WideResNet-50-2 ``features_only`` (layer2, layer3),
  loaded from the official torchvision ImageNet file in the weights folder. ``weights='random'``
  exists for tests only (always torch).

Both run on an inference backend (core.runtime.inference): ``onnx`` (the network exported once,
run by ONNX Runtime on the CPU) or ``torch``. ``extract_batch`` takes several images at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import WeightsError
from core.sam.encoder import TINYVIT_STAGES


@dataclass
class Features:
    maps: dict[str, object]  # name -> tensor (1, C, h, w) on the valid (unpadded) grid
    input_hw: tuple[int, int]  # the resized image size the maps correspond to


class TinyViTBackbone:
    name = "litemedsam-tinyvit"
    STAGES = TINYVIT_STAGES  # stage index -> (channels, stride relative to the 256 px input)

    def __init__(self, device=None, backend: str = "torch"):
        from core.sam.encoder import image_encoder
        from core.sam.model import load_sam

        self.net = load_sam("litemedsam", device)
        self.backend = backend
        self.encoder = image_encoder(self.net, backend)
        self.weights_sha256 = self.net.weights_sha256
        self.weights_file = "lite_medsam.pth"

    def extract(self, image: np.ndarray, stages: tuple[int, ...] = (1, 3), with_embedding: bool = False) -> Features:
        return self.extract_batch([image], stages, with_embedding)[0]

    def extract_batch(self, images: list[np.ndarray], stages: tuple[int, ...] = (1, 3), with_embedding: bool = False) -> list[Features]:
        """Stage maps (1, C, h, w) on each image's valid (unpadded) grid, one encoder call for all."""
        import torch

        prepped = [self.net.preprocess(im) for im in images]
        x = torch.cat([p[0] for p in prepped])
        names = tuple(f"stage{s}" for s in stages) + (("embedding",) if with_embedding else ())
        got = self.encoder.run(x, names)
        out = []
        for b, (_x, (nh, nw)) in enumerate(prepped):
            maps = {}
            for s in stages:
                stride = self.STAGES[s][1]
                vh, vw = max(1, round(nh / stride)), max(1, round(nw / stride))
                maps[f"stage{s}"] = got[f"stage{s}"][b : b + 1, :, :vh, :vw].contiguous()
            if with_embedding:
                maps["embedding"] = got["embedding"][b : b + 1]
            out.append(Features(maps=maps, input_hw=(nh, nw)))
        return out


class WideResNet50Backbone:
    name = "wide_resnet50_2"

    def __init__(self, device=None, weights: str = "official", backend: str = "torch"):
        import timm
        import torch

        self.device = device or torch.device("cpu")
        self.backend = backend if weights == "official" else "torch"  # random weights (tests): never exported
        self._graphs: dict[int, object] = {}
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

    def graph(self, size: int):
        """The ONNX Runtime session of layer2 + layer3 at ``size`` px (exported once per size)."""
        import copy

        from core.runtime.inference import GraphSpec, frozen_graph

        if size not in self._graphs:
            spec = GraphSpec("wide_resnet50_2-layer2-layer3", self.weights_sha256, (1, 3, size, size), ("layer2", "layer3"))
            self._graphs[size] = frozen_graph(spec, lambda: copy.deepcopy(self.model).to("cpu").eval())
        return self._graphs[size]

    def extract(self, image: np.ndarray, size: int = 784) -> Features:
        return self.extract_batch([image], size)[0]

    def extract_batch(self, images: list[np.ndarray], size: int = 784) -> list[Features]:
        import torch

        x = torch.cat([self._prepare(im, size) for im in images])
        if self.backend == "onnx":
            got = self.graph(size).run(x.numpy())
            f2, f3 = torch.from_numpy(got["layer2"]), torch.from_numpy(got["layer3"])
        else:
            with torch.inference_mode():
                f2, f3 = self.model(x.to(self.device))
        return [
            Features(maps={"layer2": f2[b : b + 1].float(), "layer3": f3[b : b + 1].float()}, input_hw=(size, size))
            for b in range(len(images))
        ]

    @staticmethod
    def _prepare(image: np.ndarray, size: int):
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
        return (t - mean) / std


def make_backbone(name: str, device=None, weights: str = "official", backend: str = "torch"):
    if name in ("tinyvit", "litemedsam"):
        return TinyViTBackbone(device, backend)
    if name in ("wide_resnet50", "wide_resnet50_2", "wrn50"):
        return WideResNet50Backbone(device, weights, backend)
    raise WeightsError(f"unknown backbone '{name}': use tinyvit (offline default) or wide_resnet50 (needs weights)")
