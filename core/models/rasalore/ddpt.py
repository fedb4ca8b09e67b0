"""Discriminative Dual Prompt Tuning (DDPT, paper section 2.1 / appendix B), offline default.

The paper tunes prompts of a frozen CLIP ViT-B/32 (CoOp text context tokens around the class name,
VPT-deep visual prompts, CAVPT class-aware prompts that attend to the image tokens, loss
``CE + eta * CE_ca`` with eta = 0.3, tau = 0.07) and thresholds the last layer's attention map.
CLIP weights do not exist offline, so the default runs the same scheme over frozen LiteMedSAM:

* frozen image encoder (TinyViT distilled from MedSAM) -> 256 x 64 x 64 embedding, average-pooled
  to a ``grid`` x ``grid`` token map with SAM's frozen dense positional encoding;
* frozen transformer layers = LiteMedSAM's two-way transformer (two blocks of token self-attention,
  token -> image and image -> token attention, then a final token -> image attention);
* learnable visual ``[CLS]`` token and VPT-deep visual prompts (a fresh set per block);
* learned class embeddings in place of CLIP's text features (there is no text encoder to turn
  context tokens into features);
* CAVPT in the top block: the class embeddings (through a meta-net) query the image tokens plus
  learnable context tokens; its outputs are inserted as class-aware prompts, and an auxiliary
  classifier on them gives ``CE_ca`` for the query of the ground-truth class;
* ``p_i = softmax(cos(t_i, f) / tau)`` with f the [CLS] output;
* the weak mask is the [CLS] token's final token -> image attention (mean over heads), scaled to
  [0, 1] inside the brain and thresholded at 0.5.

The faithful CLIP path lives in :mod:`core.models.rasalore.ddpt_clip`.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from segment_anything.modeling.transformer import Attention, TwoWayTransformer

CLASSES = ("healthy", "unhealthy")


def attention_with_weights(attn: Attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """SAM's ``Attention`` forward, also returning the (B, heads, Nq, Nk) attention weights."""
    q, k, v = attn.q_proj(q), attn.k_proj(k), attn.v_proj(v)
    q, k, v = (attn._separate_heads(x, attn.num_heads) for x in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    out = attn.out_proj(attn._recombine_heads(weights @ v))
    return out, weights


class CAVPT(nn.Module):
    """Class-aware visual prompt generator with its auxiliary classifier (DPT)."""

    def __init__(self, dim: int, n_classes: int = 2, n_ctx: int = 10, qk_dim: int = 32, class_dim: int | None = None):
        super().__init__()
        self.meta_net = nn.Linear(class_dim or dim, dim)
        self.ctx = nn.Parameter(torch.randn(n_ctx, dim) * 0.02)
        self.q = nn.Linear(dim, qk_dim, bias=False)
        self.k = nn.Linear(dim, qk_dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.ln = nn.LayerNorm(dim)
        self.classifier = nn.Linear(dim, n_classes, bias=False)
        self.ln2 = nn.LayerNorm(dim)

    def forward(self, class_embed: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """class_embed (C, d_class), tokens (B, N, d) -> class-aware prompts (B, C, d), aux logits (B, C, C)."""
        b = tokens.shape[0]
        x = self.meta_net(class_embed).unsqueeze(0).expand(b, -1, -1)
        kv = torch.cat([tokens.detach(), self.ctx.unsqueeze(0).expand(b, -1, -1)], dim=1)
        a = torch.softmax(self.q(x) @ self.k(kv).transpose(1, 2) / math.sqrt(self.q.out_features), dim=-1)
        out = self.v(a @ kv)
        return self.ln2(out + x), self.classifier(self.ln(out))


class SamDDPT(nn.Module):
    """Prompt-tuned frozen LiteMedSAM two-way transformer for healthy / unhealthy slices."""

    frozen_prefixes = ("transformer",)  # not saved with the model: they are LiteMedSAM's weights
    image_pe: torch.Tensor  # buffer: SAM's dense positional encoding on the DDPT grid
    transformer: TwoWayTransformer

    def __init__(
        self,
        transformer: TwoWayTransformer,
        dense_pe: torch.Tensor,
        *,
        grid: int = 32,
        n_prompts: int = 10,
        tau: float = 0.07,
        n_classes: int = 2,
    ):
        super().__init__()
        self.transformer = copy.deepcopy(transformer).eval()
        for p in self.transformer.parameters():
            p.requires_grad_(False)
        dim = int(dense_pe.shape[1])
        self.grid, self.tau = int(grid), float(tau)
        pe = F.adaptive_avg_pool2d(dense_pe.detach().float().cpu(), self.grid)
        self.register_buffer("image_pe", pe.flatten(2).transpose(1, 2).contiguous())  # (1, N, d)
        n_layers = len(self.transformer.layers)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.class_embed = nn.Parameter(torch.randn(n_classes, dim) * 0.02)
        self.vprompts = nn.Parameter(torch.randn(n_layers, n_prompts, dim) * 0.02)
        self.cavpt = CAVPT(dim, n_classes)

    def train(self, mode: bool = True):
        super().train(mode)
        self.transformer.eval()  # frozen: never in training mode
        return self

    def pool(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, 256, 64, 64) encoder embedding -> (B, N, 256) image tokens on the DDPT grid."""
        return F.adaptive_avg_pool2d(embedding.float(), self.grid).flatten(2).transpose(1, 2)

    def forward(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """tokens (B, N, d) from :meth:`pool` -> logits (B, C), aux logits (B, C, C), attention (B, g, g)."""
        b = tokens.shape[0]
        keys = tokens
        key_pe = self.image_pe.expand(b, -1, -1)
        cls = self.cls.expand(b, -1, -1)
        q = cls
        aux = None
        layers = self.transformer.layers
        for i, layer in enumerate(layers):
            extra = [self.vprompts[i].unsqueeze(0).expand(b, -1, -1)]
            if i == len(layers) - 1:  # class-aware prompts in the top block
                cap, aux = self.cavpt(self.class_embed, keys)
                extra.append(cap)
            seq = torch.cat([q, *extra], dim=1)
            pe = torch.cat([cls, *extra], dim=1)
            seq, keys = layer(queries=seq, keys=keys, query_pe=pe, key_pe=key_pe)
            q = seq[:, :1]  # VPT-deep: prompt outputs are dropped
        t = self.transformer
        out, weights = attention_with_weights(t.final_attn_token_to_image, q + cls, keys + key_pe, keys)
        f = t.norm_final_attn(q + out)[:, 0]
        logits = F.normalize(f, dim=-1) @ F.normalize(self.class_embed, dim=-1).t() / self.tau
        attn = weights.mean(1)[:, 0].reshape(b, self.grid, self.grid)
        return {"logits": logits, "aux": aux, "attention": attn}

    def loss(self, out: dict, labels: torch.Tensor, eta: float = 0.3) -> dict[str, torch.Tensor]:
        """CE + eta * CE_ca, the auxiliary term on the CAVPT query of the ground-truth class."""
        ce = F.cross_entropy(out["logits"], labels)
        aux_gt = out["aux"][torch.arange(labels.shape[0], device=labels.device), labels]  # (B, C)
        ce_ca = F.cross_entropy(aux_gt, labels)
        return {"loss": ce + eta * ce_ca, "ce": ce, "ce_ca": ce_ca, "acc": (out["logits"].argmax(1) == labels).float().mean()}

    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]


def attention_to_mask(attn: torch.Tensor, foreground: torch.Tensor, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, g, g) attention + (B, S, S) brain masks -> (map in [0, 1], binary weak mask), both (B, S, S).
    The map is upsampled, restricted to the brain and min-max scaled there (paper: normalise to
    [0, 1], threshold 0.5)."""
    s = foreground.shape[-1]
    a = F.interpolate(attn[:, None].float(), size=(s, s), mode="bilinear", align_corners=False)[:, 0]
    fg = foreground.bool()
    big = torch.finfo(a.dtype).max
    lo = torch.where(fg, a, torch.full_like(a, big)).flatten(1).amin(1).view(-1, 1, 1)
    hi = torch.where(fg, a, torch.full_like(a, -big)).flatten(1).amax(1).view(-1, 1, 1)
    valid = (hi > lo) & fg.flatten(1).any(1).view(-1, 1, 1)
    norm = torch.where(valid, (a - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(a))
    norm = torch.where(fg, norm, torch.zeros_like(norm))
    return norm, norm >= threshold
