"""Frozen SAM image encoders with MMRAD's low-level prompt tuning (LPT, Li et al. section 4.3.2).

    F_c = LN([C_1(X), ..., C_m(X)])          low-level CNN features, linear map to ``prompt_dim``
    F_p = linear(patch embeddings)            the encoder's own patch embeddings, to ``prompt_dim``
    Pr_i = LN_s(LN_i(F_c + F_p))             LN_i unshared per transformer layer, LN_s shared
    x_i <- x_i + Pr_i                        added to the input of transformer layer i

("LN" are linear layers in the paper's notation.) The encoder weights stay frozen; only the
prompt generator learns. The shared up-projection starts at zero, so training starts from the
pretrained encoder's own embedding.

Encoders:
* ``litemedsam`` (offline default) — LiteMedSAM's TinyViT (256 px input). Its transformer blocks
  that run on the 64 x 64 embedding grid (stages 3 and 4: 6 blocks of width 160 and 2 of width
  320) get prompts; TinyViT has two widths there, so LN_s is shared per width. The low-level CNN
  is TinyViT's own pretrained convolutional stage (MBConv blocks), pooled to the grid.
* ``sam_vit_b`` (paper) — SAM ViT-B at 1024 px: 12 blocks of width 768 on the 64 x 64 grid, one
  shared LN_s; low-level CNN = the first three stages of ImageNet ResNet-50(s) (layer3, stride 16
  -> 64 x 64), from user-supplied torchvision files.
* ``vit_tiny_random`` — a randomly initialised 2-block ViT on 64 px input (tests only).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import ConfigError, WeightsError


class PromptGenerator(nn.Module):
    def __init__(self, p_channels: int, c_channels: int, prompt_dim: int, block_dims: list[int]):
        super().__init__()
        self.block_dims = list(block_dims)
        self.embed_p = nn.Linear(p_channels, prompt_dim)  # F_p
        self.embed_c = nn.Linear(c_channels, prompt_dim)  # F_c (eq. 6)
        self.per_layer = nn.ModuleList([nn.Linear(prompt_dim, prompt_dim) for _ in block_dims])  # LN_1..LN_n
        shared = {str(d): nn.Linear(prompt_dim, d) for d in sorted(set(block_dims))}
        self.shared = nn.ModuleDict(shared)  # LN_s
        for lin in shared.values():
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, f_p: torch.Tensor, f_c: torch.Tensor) -> list[torch.Tensor]:
        """f_p (B, N, Cp), f_c (B, N, Cc) on the embedding grid -> one (B, N, d_i) prompt per layer."""
        base = self.embed_p(f_p) + self.embed_c(f_c)
        return [self.shared[str(d)](lin(base)) for lin, d in zip(self.per_layer, self.block_dims)]


def _tokens(fmap: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, grid*grid, C), area-pooled or bilinearly resized to the grid."""
    if fmap.shape[-1] != grid:
        fmap = (
            F.adaptive_avg_pool2d(fmap, grid)
            if fmap.shape[-1] > grid
            else F.interpolate(fmap, size=(grid, grid), mode="bilinear", align_corners=False)
        )
    return fmap.flatten(2).transpose(1, 2)


class LowLevelCNN(nn.Module):
    """C_1..C_m: frozen ImageNet ResNet-50 stages up to layer3, or a random conv stack (tests /
    the paper's "without pre-training" ablation)."""

    def __init__(self, kind: str, device):
        super().__init__()
        self.kind = kind
        self.weights: dict[str, str] = {}
        nets = []
        if kind in ("resnet50", "resnet50x2"):
            import timm

            from core.runtime import weights as W

            for key in ("resnet50", "resnet50_v2") if kind == "resnet50x2" else ("resnet50",):
                path, digest = W.resolve(key)
                net = timm.create_model("resnet50", pretrained=False, features_only=True, out_indices=(3,))
                state = torch.load(path, map_location="cpu", weights_only=True)
                own = net.state_dict()
                missing = [k for k in own if k not in state]
                if missing:
                    raise WeightsError(f"{path}: not a torchvision ResNet-50 state dict (missing {missing[:3]})")
                net.load_state_dict({k: v for k, v in state.items() if k in own})
                nets.append(net)
                self.weights[path.name] = digest
            self.channels = 1024 * len(nets)
            self.normalisation = "imagenet"
        elif kind == "random":
            g = torch.Generator().manual_seed(0)
            net = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 3, 2, 1))
            for p in net.parameters():
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            nets.append(net)
            self.channels = 64
            self.normalisation = "none"
            self.weights["random-init"] = "tests only"
        else:
            raise ConfigError(f"unknown low_level_cnn '{kind}': use stem (TinyViT), resnet50, resnet50x2 or random")
        self.nets = nn.ModuleList(nets)
        self.eval().to(device)
        for p in self.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, x01: torch.Tensor, grid: int) -> torch.Tensor:
        """x01: (B, 3, S, S) image in [0, 1] -> (B, grid*grid, channels)."""
        if self.normalisation == "imagenet":
            mean = torch.tensor([0.485, 0.456, 0.406], device=x01.device).view(1, 3, 1, 1)
            std = torch.tensor([0.229, 0.224, 0.225], device=x01.device).view(1, 3, 1, 1)
            x = (x01 - mean) / std
            side = grid * 16  # layer3 has stride 16: land on the embedding grid
            if x.shape[-1] != side:
                x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
            feats = [net(x)[-1] for net in self.nets]
        else:
            feats = [net(x01) for net in self.nets]
        return _tokens(torch.cat(feats, dim=1), grid)


class PromptedEncoder(nn.Module):
    """Frozen SAM image encoder + trainable prompt generator. ``forward(x)`` takes (B, 3, S, S)
    normalised and padded the encoder's way and returns the (B, 256, grid, grid) embedding."""

    _frozen: dict[str, Any]  # the frozen encoder ("enc") and low-level CNN ("cnn"), set past nn.Module

    def __init__(self, encoder: str = "litemedsam", device=None, prompt_dim: int = 32, low_level_cnn: str = "auto"):
        super().__init__()
        device = device or torch.device("cpu")
        self.encoder_id = encoder
        frozen: dict = {}
        if encoder in ("litemedsam", "sam_vit_b"):
            from core.sam.model import load_sam

            net = load_sam(encoder, device)
            frozen["enc"] = net.image_encoder
            self.img_size, self.normalisation = net.img_size, net.normalisation
            self.weights = {net.weights_file.rsplit("/", 1)[-1]: net.weights_sha256}
        elif encoder == "vit_tiny_random":
            from segment_anything.modeling import ImageEncoderViT

            torch.manual_seed(0)
            enc = ImageEncoderViT(
                img_size=64,
                patch_size=4,
                embed_dim=32,
                depth=2,
                num_heads=2,
                mlp_ratio=2.0,
                out_chans=256,
                qkv_bias=True,
                use_rel_pos=False,
                window_size=0,
                global_attn_indexes=(),
            )
            enc.eval().to(device)
            for p in enc.parameters():
                p.requires_grad_(False)
            frozen["enc"] = enc
            self.img_size, self.normalisation = 64, "minmax01"
            self.weights = {"random-init": "tests only"}
        else:
            raise ConfigError(f"unknown encoder '{encoder}': use litemedsam, sam_vit_b (weights file) or vit_tiny_random (tests)")
        enc = frozen["enc"]
        self.tinyvit = encoder == "litemedsam"
        if low_level_cnn == "auto":
            low_level_cnn = "stem" if self.tinyvit else "resnet50" if encoder == "sam_vit_b" else "random"
        if low_level_cnn == "stem" and not self.tinyvit:
            raise ConfigError("low_level_cnn=stem uses TinyViT's convolutional stage: only with encoder=litemedsam")
        self.low_level_kind = low_level_cnn
        if self.tinyvit:
            self.grid = 64
            self.prompted = [(li, bi) for li in (2, 3) for bi in range(len(enc.layers[li].blocks))]
            block_dims = [enc.layers[li].dim for li, _ in self.prompted]
            p_ch = enc.patch_embed.embed_dim
            c_ch = enc.layers[0].dim
        else:
            self.grid = enc.img_size // enc.patch_embed.proj.kernel_size[0]
            self.prompted = [(0, i) for i in range(len(enc.blocks))]
            dim = enc.patch_embed.proj.out_channels
            block_dims = [dim] * len(enc.blocks)
            p_ch = dim
            c_ch = 0
        cnn = None
        if low_level_cnn != "stem":
            cnn = LowLevelCNN(low_level_cnn, device)
            c_ch = cnn.channels
            self.weights.update(cnn.weights)
        frozen["cnn"] = cnn
        object.__setattr__(self, "_frozen", frozen)  # not submodules: never saved, never trained
        self.prompts = PromptGenerator(p_ch, c_ch, int(prompt_dim), block_dims)

    @property
    def enc(self):
        return self._frozen["enc"]

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder-normalised input back to [0, 1] for the low-level CNN."""
        if self.normalisation == "imagenet":
            mean = torch.tensor([123.675, 116.28, 103.53], device=x.device).view(1, 3, 1, 1)
            std = torch.tensor([58.395, 57.12, 57.375], device=x.device).view(1, 3, 1, 1)
            return ((x * std + mean) / 255.0).clamp(0, 1)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc, cnn, g = self.enc, self._frozen["cnn"], self.grid
        if self.tinyvit:
            with torch.no_grad():
                pe = enc.patch_embed(x)  # (B, 64, 256, 256)
                conv = enc.layers[0].blocks
                h = pe
                for blk in conv:
                    h = blk(h)
                stem = h  # TinyViT's pretrained CNN stage
                h = enc.layers[0].downsample(h)
                h = enc.layers[1](h)  # 128 x 128 blocks, not prompted
            f_p = _tokens(pe, g)
            f_c = _tokens(stem, g) if cnn is None else cnn(self.to_unit(x), g)
            prompts = iter(self.prompts(f_p, f_c))
            for li in (2, 3):
                layer = enc.layers[li]
                for blk in layer.blocks:
                    h = blk(h + next(prompts).to(h.dtype))
                if layer.downsample is not None:
                    h = layer.downsample(h)
            b, _, c = h.shape
            return enc.neck(h.view(b, g, g, c).permute(0, 3, 1, 2))
        with torch.no_grad():
            tok = enc.patch_embed(x)  # (B, g, g, C)
        b = tok.shape[0]
        f_p = tok.reshape(b, g * g, -1)
        f_c = cnn(self.to_unit(x) if self.normalisation == "imagenet" else x, g)
        h = tok + enc.pos_embed if enc.pos_embed is not None else tok
        for blk, pr in zip(enc.blocks, self.prompts(f_p, f_c)):
            h = blk(h + pr.view(b, g, g, -1).to(h.dtype))
        return enc.neck(h.permute(0, 3, 1, 2))
