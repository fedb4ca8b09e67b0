"""The paper-faithful DDPT: dual prompt tuning of a frozen CLIP ViT-B/32 (``ddpt_backbone=clip_vit_b32``).

Needs the ``open_clip_torch`` package and the official OpenAI file ``ViT-B-32.pt`` in the weights
folder (verified by SHA-256, never downloaded). Neither is part of the offline install; without
them fitting stops with an error naming what is missing.

* Text side (CoOp, class token in the middle): ``[SOS] [V]_1..[V]_M/2 CLASS [V]_M/2+1..[V]_M . [EOS]``
  with learnable context vectors, through the frozen text encoder; classes "no tumour" / "tumour".
* Visual side: VPT-deep prompts (10 per block) in every block but the last; in the last block the
  CAVPT class-aware prompts (text features through a meta-net, attending to the image tokens and
  learnable context tokens; auxiliary classifier for ``CE_ca``).
* ``p_i = softmax(cos(q(t_i), f) / tau)``, tau = 0.07; loss ``CE + eta CE_ca`` (eta = 0.3).
* Weak mask: the last block's attention of the class token to the 7 x 7 patch tokens (mean over
  heads), upsampled, scaled to [0, 1] inside the brain, thresholded at 0.5.
"""

from __future__ import annotations

import math

import numpy as np

from core.errors import WeightsError
from core.models.rasalore.settings import RasaloreSettings
from core.runtime.progress import CancelToken, Progress

CLIP_SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLASS_NAMES = ("no tumour", "tumour")  # healthy, unhealthy (the paper: 'No Tumor' / 'Tumor')


def load_open_clip(device):
    """(open_clip module, CLIP model with the official weights) or a WeightsError naming what is missing."""
    try:
        import open_clip
    except ImportError:
        raise WeightsError(
            "ddpt_backbone=clip_vit_b32 needs the 'open_clip_torch' package (pip install open_clip_torch), "
            "which is not part of the offline install; use ddpt_backbone=litemedsam"
        ) from None
    from core.runtime import weights

    path, _digest = weights.resolve("clip_vit_b32")  # WeightsError names ViT-B-32.pt and the weights folder
    # the official OpenAI release is a TorchScript archive: open_clip rebuilds the model from it
    model = open_clip.load_openai_model(str(path), precision="fp32", device=str(device))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return open_clip, model


def _lnd(transformer) -> bool:
    """open_clip's residual blocks run sequence-first unless the transformer says batch_first."""
    return not getattr(transformer, "batch_first", False)


def _blocks(transformer, x, attn_mask=None):
    lnd = _lnd(transformer)
    x = x.transpose(0, 1) if lnd else x
    for r in transformer.resblocks:
        x = r(x, attn_mask=attn_mask)
    return x.transpose(0, 1) if lnd else x


def _build_module(open_clip, clip, n_ctx: int, n_prompts: int, tau: float):
    import torch
    from torch import nn

    from core.models.rasalore.ddpt import CAVPT

    class ClipDDPT(nn.Module):
        frozen_prefixes = ("clip",)

        def __init__(self):
            super().__init__()
            self.clip = clip
            self.tau = tau
            visual = clip.visual
            width = visual.conv1.out_channels
            embed_dim = clip.token_embedding.weight.shape[1]
            out_dim = getattr(visual, "output_dim", None) or embed_dim
            self.ctx = nn.Parameter(torch.randn(n_ctx, embed_dim) * 0.02)
            half = n_ctx // 2
            tokenizer = open_clip.get_tokenizer("ViT-B-32")
            prompts = [" ".join(["X"] * n_ctx) + f" {name}." for name in CLASS_NAMES]
            tokens = tokenizer(prompts)
            with torch.no_grad():
                emb = clip.token_embedding(tokens)
            self.register_buffer("tokens", tokens, persistent=False)
            self.register_buffer("prefix", emb[:, :1].clone(), persistent=False)  # SOS
            self.register_buffer("suffix", emb[:, 1 + n_ctx :].clone(), persistent=False)  # class, '.', EOS, padding
            self.name_lens = [len(tokenizer([n])[0].nonzero()) - 2 for n in CLASS_NAMES]
            self.half = half
            n_blocks = len(visual.transformer.resblocks)
            self.vprompts = nn.Parameter(torch.randn(n_blocks - 1, n_prompts, width) * 0.02)
            self.cavpt = CAVPT(width, len(CLASS_NAMES), class_dim=out_dim)

        def train(self, mode: bool = True):
            super().train(mode)
            self.clip.eval()
            return self

        def trainable(self):
            return [p for p in self.parameters() if p.requires_grad]

        def text_features(self):
            parts = []
            for i, n in enumerate(self.name_lens):
                parts.append(
                    torch.cat(
                        [
                            self.prefix[i : i + 1],
                            self.ctx[None, : self.half],
                            self.suffix[i : i + 1, :n],
                            self.ctx[None, self.half :],
                            self.suffix[i : i + 1, n:],
                        ],
                        dim=1,
                    )
                )
            x = torch.cat(parts) + self.clip.positional_embedding
            x = _blocks(self.clip.transformer, x, attn_mask=self.clip.attn_mask)
            x = self.clip.ln_final(x)
            x = x[torch.arange(x.shape[0]), self.tokens.argmax(dim=-1)]
            tp = self.clip.text_projection
            return tp(x) if isinstance(tp, nn.Module) else x @ tp

        def forward(self, images):
            v = self.clip.visual
            b = images.shape[0]
            x = v.conv1(images).flatten(2).transpose(1, 2)  # (B, 49, width)
            cls = v.class_embedding.view(1, 1, -1).expand(b, -1, -1).to(x.dtype)
            x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)
            x = v.ln_pre(x)
            n_tok = x.shape[1]
            text = self.text_features()
            blocks = v.transformer.resblocks
            lnd = _lnd(v.transformer)
            for i, blk in enumerate(blocks[:-1]):  # VPT-deep
                seq = torch.cat([x, self.vprompts[i].unsqueeze(0).expand(b, -1, -1)], dim=1)
                seq = blk(seq.transpose(0, 1)).transpose(0, 1) if lnd else blk(seq)
                x = seq[:, :n_tok]
            cap, aux = self.cavpt(text, x)  # class-aware prompts, last block
            seq = torch.cat([x, cap], dim=1)
            last = blocks[-1]
            h = last.ln_1(seq)
            h_in = h.transpose(0, 1) if lnd else h
            attn_out, weights = last.attn(h_in, h_in, h_in, need_weights=True, average_attn_weights=True)
            attn_out = attn_out.transpose(0, 1) if lnd else attn_out
            ls1 = getattr(last, "ls_1", nn.Identity())
            ls2 = getattr(last, "ls_2", nn.Identity())
            seq = seq + ls1(attn_out)
            seq = seq + ls2(last.mlp(last.ln_2(seq)))
            f = v.ln_post(seq[:, 0])
            f = f @ v.proj if v.proj is not None else f
            logits = torch.nn.functional.normalize(f, dim=-1) @ torch.nn.functional.normalize(text, dim=-1).t() / self.tau
            side = int(round(math.sqrt(n_tok - 1)))
            attn = weights[:, 0, 1:n_tok].reshape(b, side, side)
            return {"logits": logits, "aux": aux, "attention": attn}

        def loss(self, out, labels, eta: float = 0.3):
            import torch.nn.functional as F

            ce = F.cross_entropy(out["logits"], labels)
            aux_gt = out["aux"][torch.arange(labels.shape[0], device=labels.device), labels]
            ce_ca = F.cross_entropy(aux_gt, labels)
            return {"loss": ce + eta * ce_ca, "ce": ce, "ce_ca": ce_ca, "acc": (out["logits"].argmax(1) == labels).float().mean()}

    return ClipDDPT()


def clip_inputs(slices: np.ndarray):
    """(n, 256, 256) grey slices in [0, 1] -> (n, 3, 224, 224) CLIP-normalised float16 images."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(slices, np.float32))[:, None]
    t = F.interpolate(t, size=(CLIP_SIZE, CLIP_SIZE), mode="bicubic", align_corners=False).clamp(0, 1).repeat(1, 3, 1, 1)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return ((t - mean) / std).to(torch.float16)


def make_weak_masks_clip(
    cases, sequence: str, config: RasaloreSettings, *, device, context=None, progress: Progress, cancel: CancelToken, store=None
):
    """Stage 1 with CLIP ViT-B/32 DDPT; MedSAM refinement as in the offline path."""
    from core.models.rasalore.weak_masks import encode_slices, finish_weak_masks, plan_ddpt, train_ddpt
    from core.sam.model import load_sam

    open_clip, clip = load_open_clip(device)
    plan = plan_ddpt(cases, sequence, config)
    module = _build_module(open_clip, clip, config.ddpt_context, config.ddpt_prompts, config.ddpt_tau)
    inputs = clip_inputs(plan.slices)
    state = train_ddpt(module, inputs, plan, config, device=device, context=context, progress=progress, cancel=cancel)
    net = load_sam("litemedsam", device)
    full = {}
    if config.use_medsam:
        for i, emb in encode_slices(
            net, plan.slices[: plan.n_unhealthy], progress=progress, cancel=cancel, what="unhealthy slice", store=store
        ):
            full[i] = emb
    return finish_weak_masks(plan, module, inputs, state, config, net=net, embeddings=full, device=device, progress=progress, cancel=cancel)
