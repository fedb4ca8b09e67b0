"""MMRAD's modality-shared attention decoder with task-specific tokens (Li et al. section 4.2).

The decoder is SAM's two-way transformer (self-attention of the tokens, token-to-image and
image-to-token cross-attention, eqs. 1-3), copied from the SAM mask decoder and trained. The
mask token starts as SAM's first mask token and the fusion token as SAM's IoU token (the paper's
"pretrained token" initialisation); the score MLP starts from SAM's IoU head where shapes allow.

* Localisation (parallel per modality): M = sigmoid(T_m . T_c^1 / sqrt(C)) over the embedding grid
  (eq. 4; the 1/sqrt(C) keeps the initial logits in a trainable range).
* Detection (serial): the fusion token passes the decoder with the first modality, then with the
  second (fundus then OCT by default); S = sigmoid(MLP(T_f^4)) (eq. 5).
Mask and fusion tokens travel together through each pass, as in the paper ("concatenated for
efficient inference").
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ScoreMLP(nn.Module):
    def __init__(self, dim: int = 256, hidden: int = 256, layers: int = 3):
        super().__init__()
        dims = [dim] + [hidden] * (layers - 1) + [1]
        self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(dims, dims[1:])])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, lin in enumerate(self.layers):
            x = lin(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


class SharedDecoder(nn.Module):
    def __init__(self, mask_decoder, prompt_encoder):
        super().__init__()
        self.transformer = copy.deepcopy(mask_decoder.transformer)
        for p in self.transformer.parameters():
            p.requires_grad_(True)
        self.pe_layer = copy.deepcopy(prompt_encoder.pe_layer)  # fixed random Fourier features (buffer)
        dim = mask_decoder.transformer_dim
        self.dim = dim
        self.no_mask_embed = nn.Parameter(prompt_encoder.no_mask_embed.weight.detach().clone().view(1, dim, 1, 1))
        self.mask_token = nn.Parameter(mask_decoder.mask_tokens.weight.detach()[0].clone())
        self.fusion_token = nn.Parameter(mask_decoder.iou_token.weight.detach()[0].clone())
        head = mask_decoder.iou_prediction_head
        self.score_mlp = ScoreMLP(dim, head.layers[0].out_features, len(head.layers))
        with torch.no_grad():
            for i, (dst, src) in enumerate(zip(self.score_mlp.layers, head.layers)):
                if i < len(head.layers) - 1:
                    dst.weight.copy_(src.weight)
                    dst.bias.copy_(src.bias)
                else:  # 4 IoU outputs -> 1 score: the first row
                    dst.weight.copy_(src.weight[:1])
                    dst.bias.copy_(src.bias[:1])

    def initial_tokens(self, batch: int) -> torch.Tensor:
        return torch.stack([self.mask_token, self.fusion_token])[None].expand(batch, -1, -1)

    def run(self, embedding: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoder pass: embedding (B, C, h, w), tokens (B, 2, C) -> (tokens', image tokens (B, h*w, C))."""
        b, _, h, w = embedding.shape
        src = embedding + self.no_mask_embed.to(embedding.dtype)
        pos = self.pe_layer((h, w)).to(embedding.dtype)[None].expand(b, -1, -1, -1)
        return self.transformer(src, pos, tokens)

    def map_logits(self, tokens: torch.Tensor, image_tokens: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """(B, 1, h, w) anomaly logits: mask token . image tokens (eq. 4)."""
        logits = torch.einsum("bnc,bc->bn", image_tokens, tokens[:, 0]) / math.sqrt(self.dim)
        return logits.view(-1, 1, *hw)

    def score_logit(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.score_mlp(tokens[:, 1])[:, 0]


def sam_decoder_parts(encoder: str, device=None):
    """(mask_decoder, prompt_encoder) of the SAM whose weights initialise the decoder: the already
    loaded network when there is one, else only these two parts built from the weights file
    (no image encoder is built)."""
    from core.runtime import weights as W
    from core.sam import model as sam_model

    key = "sam_vit_b" if encoder == "sam_vit_b" else "litemedsam"
    for (enc_id, _dev), net in list(sam_model._cache.items()):
        if enc_id == key:
            return net.mask_decoder, net.prompt_encoder
    from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

    size = 1024 if key == "sam_vit_b" else 256
    decoder = MaskDecoder(
        num_multimask_outputs=3,
        transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
        transformer_dim=256,
        iou_head_depth=3,
        iou_head_hidden_dim=256,
    )
    prompt = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(size, size), mask_in_chans=16)
    path, _digest = W.resolve(key)
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("model", state) if isinstance(state, dict) else state
    decoder.load_state_dict({k[len("mask_decoder.") :]: v for k, v in state.items() if k.startswith("mask_decoder.")}, strict=True)
    prompt.load_state_dict({k[len("prompt_encoder.") :]: v for k, v in state.items() if k.startswith("prompt_encoder.")}, strict=True)
    return decoder.eval(), prompt.eval()
