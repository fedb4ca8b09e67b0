"""The RASALoRE segmentation network (paper section 2.2 and appendix A.9).

* Candidate prompt points (CPPs): a sqrt(k) x sqrt(k) grid of cell centres, coordinates in [-1, 1],
  with fixed *location-based random embeddings* (LoRE): random Fourier features
  ``[sin(2 pi c B), cos(2 pi c B)]`` with a Gaussian matrix B (2 x d/2) drawn once from the seed.
  B and the embeddings are persistent buffers: saved with the model and reused at test time.
* Image encoder U: four U-Net encoder blocks (conv-ReLU-conv-ReLU, LayerNorm, Dropout2d 0.1) with
  2x2 max pooling after the first two, giving a (d, S/4, S/4) map; channels d/8, d/4, d/2, d.
* Refiner R: on block 1's pooled output, conv + BN + ReLU, two stride-1 transposed convs + BN +
  ReLU, a 1x1 skip conv, summed, then average pooled to the sqrt(k) x sqrt(k) CPP grid.
* RASA: multi-head attention (4 heads), query = LoRE, key = R(X) (+ the LoRE of the CPP at the
  same grid cell, so every candidate can find its region), value = R(X) + N(0, I) noise while
  training; a residual adds the LoRE -> enriched spatial point embeddings xi (k x d).
* FFN head: 256 -> 128 -> 64 -> 1 with ReLU, LayerNorm and a sigmoid -> point activations (k).
* Mask decoder: attention with query xi, key U(X) tokens (+ their LoRE at the token positions),
  value U(X) (+ noise while training), dropout, residual, LayerNorm; per-pixel products of the
  image tokens with every point embedding (k channels, LayerNorm over k), then two stride-2
  transposed convs and a 1x1 conv back to S x S logits.
* Multi-modality: one set of CPP embeddings and one RASA per MRI sequence; encoder, refiner,
  FFN and decoder are shared.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from core.models.rasalore.settings import RasaloreSettings


def grid_coords(side: int) -> torch.Tensor:
    """(side * side, 2) cell-centre coordinates (x, y) in [-1, 1], row-major (row = y)."""
    c = (torch.arange(side, dtype=torch.float32) + 0.5) / side * 2.0 - 1.0
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=-1)


def fourier_embed(coords: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """(N, 2) coordinates -> (N, d) sinusoidal embeddings with the (2, d/2) random matrix."""
    proj = 2.0 * math.pi * coords @ matrix
    return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)


class CandidatePoints(nn.Module):
    """Fixed CPP grid and its LoRE for one sequence. Nothing here is learnable."""

    matrix: torch.Tensor  # buffers
    embeddings: torch.Tensor

    def __init__(self, grid: int, dim: int, scale: float, seed: int):
        super().__init__()
        gen = torch.Generator().manual_seed(int(seed))
        matrix = torch.randn(2, dim // 2, generator=gen) * float(scale)
        self.grid = grid
        self.register_buffer("matrix", matrix)
        self.register_buffer("embeddings", fourier_embed(grid_coords(grid), matrix))  # (k, d)

    def at_grid(self, side: int) -> torch.Tensor:
        """LoRE evaluated at the cell centres of another grid (decoder token positions)."""
        return fourier_embed(grid_coords(side).to(self.matrix.device), self.matrix)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map (SAM's LayerNorm2d)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class EncoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, dropout: float = 0.1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm = LayerNorm2d(cout)
        self.drop = nn.Dropout2d(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.drop(self.norm(x))


class ImageEncoder(nn.Module):
    """Four U-Net encoder blocks -> (B, d, S/4, S/4); also returns block 1's pooled map for the refiner."""

    def __init__(self, dim: int, dropout: float = 0.1):
        super().__init__()
        c1, c2, c3 = dim // 8, dim // 4, dim // 2
        self.e1 = EncoderBlock(1, c1, dropout)
        self.e2 = EncoderBlock(c1, c2, dropout)
        self.e3 = EncoderBlock(c2, c3, dropout)
        self.e4 = EncoderBlock(c3, dim, dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p1 = F.max_pool2d(self.e1(x), 2)
        p2 = F.max_pool2d(self.e2(p1), 2)
        return self.e4(self.e3(p2)), p1


class Refiner(nn.Module):
    def __init__(self, dim: int, grid: int):
        super().__init__()
        c1, c2, c3 = dim // 8, dim // 4, dim // 2
        self.grid = grid
        self.conv = nn.Sequential(nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(inplace=True))
        self.up1 = nn.Sequential(nn.ConvTranspose2d(c2, c3, 3, stride=1, padding=1), nn.BatchNorm2d(c3), nn.ReLU(inplace=True))
        self.up2 = nn.Sequential(nn.ConvTranspose2d(c3, dim, 3, stride=1, padding=1), nn.BatchNorm2d(dim), nn.ReLU(inplace=True))
        self.skip = nn.Conv2d(c1, dim, 1)

    def forward(self, p1: torch.Tensor) -> torch.Tensor:
        out = self.up2(self.up1(self.conv(p1))) + self.skip(p1)
        return F.adaptive_avg_pool2d(out, self.grid)  # (B, d, g, g): one pixel per CPP


class RASA(nn.Module):
    """Region aware spatial attention of one sequence."""

    def __init__(self, dim: int, heads: int, noise_std: float = 1.0):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.noise_std = noise_std

    def forward(self, refined: torch.Tensor, lore: torch.Tensor) -> torch.Tensor:
        b = refined.shape[0]
        r = refined.flatten(2).transpose(1, 2)  # (B, k, d), row-major like the CPPs
        e = lore.unsqueeze(0).expand(b, -1, -1)
        value = r + torch.randn_like(r) * self.noise_std if self.training and self.noise_std > 0 else r
        out, _ = self.attn(query=e, key=r + e, value=value, need_weights=False)
        return out + e  # residual from the LoRE


class PointHead(nn.Module):
    """FFN: xi (B, k, d) -> point activations (B, k) in [0, 1]."""

    def __init__(self, dim: int):
        super().__init__()
        h1, h2 = dim // 2, dim // 4
        self.net = nn.Sequential(
            nn.Linear(dim, h1), nn.ReLU(), nn.LayerNorm(h1), nn.Linear(h1, h2), nn.ReLU(), nn.LayerNorm(h2), nn.Linear(h2, 1), nn.Sigmoid()
        )

    def forward(self, xi: torch.Tensor) -> torch.Tensor:
        return self.net(xi).squeeze(-1)


class MaskDecoder(nn.Module):
    def __init__(self, dim: int, heads: int, k: int, noise_std: float = 1.0, dropout: float = 0.1):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(k)
        self.noise_std = noise_std
        c2, c3 = dim // 4, dim // 2
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(k, c3, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(c2, 1, 1),
        )

    def forward(self, image: torch.Tensor, xi: torch.Tensor, token_pe: torch.Tensor) -> torch.Tensor:
        b, d, h, w = image.shape
        tokens = image.flatten(2).transpose(1, 2)  # (B, h*w, d)
        value = tokens + torch.randn_like(tokens) * self.noise_std if self.training and self.noise_std > 0 else tokens
        out, _ = self.attn(query=xi, key=tokens + token_pe.unsqueeze(0), value=value, need_weights=False)
        q = self.norm1(self.drop(out) + xi)  # (B, k, d)
        per_point = self.norm2(torch.bmm(tokens, q.transpose(1, 2)))  # (B, h*w, k)
        grid = per_point.transpose(1, 2).reshape(b, -1, h, w)
        return self.upsample(grid)  # (B, 1, 4h, 4w) logits

    @property
    def out_bias(self) -> torch.Tensor:
        """The bias of the last 1 x 1 convolution: the mask logits' offset."""
        conv = self.upsample[-1]
        if not isinstance(conv, nn.Conv2d) or conv.bias is None:
            raise TypeError(f"the mask decoder ends in {type(conv).__name__}, not a convolution with a bias")
        return conv.bias


class RasaloreNet(nn.Module):
    token_pe: torch.Tensor  # buffer: LoRE at the decoder's token grid

    def __init__(
        self,
        sequences: list[str],
        *,
        image_size: int = 256,
        grid: int = 32,
        dim: int = 256,
        heads: int = 4,
        lore_scale: float = 128.0,
        noise_std: float = 1.0,
        dropout: float = 0.1,
        seed: int = 0,
    ):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
        if dim % 8 or dim % heads:
            raise ValueError(f"embedding dimension {dim} must be a multiple of 8 and of the head count {heads}")
        self.sequences = [str(s) for s in sequences]
        self.image_size, self.grid, self.dim = image_size, grid, dim
        points = {s: CandidatePoints(grid, dim, lore_scale, seed * 1000 + i) for i, s in enumerate(self.sequences)}
        self.points = nn.ModuleDict(points)
        self.rasa = nn.ModuleDict({s: RASA(dim, heads, noise_std) for s in self.sequences})
        self.encoder = ImageEncoder(dim, dropout)
        self.refiner = Refiner(dim, grid)
        self.point_head = PointHead(dim)
        self.decoder = MaskDecoder(dim, heads, grid * grid, noise_std, dropout)
        # LoRE at the decoder's token grid: a function of the first sequence's fixed matrix
        self.register_buffer("token_pe", points[self.sequences[0]].at_grid(image_size // 4))

    @classmethod
    def from_settings(cls, c: RasaloreSettings, sequences: list[str] | None = None) -> RasaloreNet:
        """The network a model's settings describe (for ``sequences``, by default the settings' list):
        one place for fitting, loading and the benchmarks to build it."""
        return cls(
            list(sequences) if sequences is not None else c.sequence_list,
            image_size=c.image_size,
            grid=c.grid_size,
            dim=c.embed_dim,
            heads=c.heads,
            lore_scale=c.lore_scale,
            noise_std=c.noise_std,
            dropout=c.dropout,
            seed=c.seed,
        )

    @property
    def k(self) -> int:
        return self.grid * self.grid

    def set_mask_prior(self, prior: float) -> None:
        """Start the mask logits' bias at logit(prior), the expected lesion fraction, so training starts
        from a sparse output instead of 0.5 everywhere (prior <= 0 leaves PyTorch's initialisation)."""
        if prior <= 0:
            return
        with torch.no_grad():
            self.decoder.out_bias.fill_(math.log(prior / (1.0 - prior)))

    def forward(self, x: torch.Tensor, sequence: str) -> dict[str, torch.Tensor]:
        """x (B, 1, S, S) in [0, 1] -> logits (B, 1, S, S), mask (sigmoid), point activations (B, k), xi (B, k, d)."""
        if sequence not in self.rasa:
            raise KeyError(f"no RASA module for sequence '{sequence}' (trained: {', '.join(self.sequences)})")
        image, p1 = self.encoder(x)
        xi = self.rasa[sequence](self.refiner(p1), self.points[sequence].embeddings)
        logits = self.decoder(image, xi, self.token_pe)
        return {"logits": logits, "mask": torch.sigmoid(logits), "points": self.point_head(xi), "xi": xi}

    def embed(self, x: torch.Tensor, sequence: str) -> torch.Tensor:
        """Only the enriched spatial point embeddings (bridge targets)."""
        _image, p1 = self.encoder(x)
        return self.rasa[sequence](self.refiner(p1), self.points[sequence].embeddings)


def point_mask(weak: torch.Tensor, grid: int) -> torch.Tensor:
    """M_PA: the weak mask (B, 1, S, S) sampled at the CPP cell centres -> (B, k) binary."""
    s = weak.shape[-1]
    idx = ((torch.arange(grid, device=weak.device, dtype=torch.float32) + 0.5) * s / grid).long().clamp_(0, s - 1)
    sampled = weak[:, 0][:, idx][:, :, idx]
    return (sampled > 0.5).float().flatten(1)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
