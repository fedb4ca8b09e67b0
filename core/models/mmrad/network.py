"""MMRAD as one module: prompted frozen SAM encoder + modality-shared decoder, with the paired
(fundus + OCT) and single-modality training step and inference."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.models.mmrad.decoder import SharedDecoder
from core.models.mmrad.encoder import PromptedEncoder


@dataclass
class Inference:
    maps: dict[str, np.ndarray]  # modality -> probability map on the prepared image's grid
    fusion_logit: float | None  # case-level fusion token logit (both modalities, paired model)


def prepare_image(image: np.ndarray, size: int) -> np.ndarray:
    """2-D grey/RGB image -> uint8 (h, w, 3) with the longest side resized to ``size``."""
    import cv2

    from core.data.anomaly_synthesis.common import as_hwc_uint8

    rgb, _ = as_hwc_uint8(image)
    h, w = rgb.shape[:2]
    s = size / max(h, w)
    nh, nw = max(1, int(h * s + 0.5)), max(1, int(w * s + 0.5))
    if (nh, nw) == (h, w):
        return rgb
    return cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


class MMRADNet(nn.Module):
    def __init__(self, encoder: str, device, prompt_dim: int = 32, low_level_cnn: str = "auto"):
        super().__init__()
        from core.models.mmrad.decoder import sam_decoder_parts

        self.encoder = PromptedEncoder(encoder, device, prompt_dim, low_level_cnn)
        self.decoder = SharedDecoder(*sam_decoder_parts(encoder, device))
        self.to(device)

    # -- input ---------------------------------------------------------------------------------
    def to_input(self, images: list[np.ndarray]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """Prepared uint8 images -> (N, 3, S, S) normalised the encoder's way, zero-padded
        bottom/right; and each image's valid (h, w)."""
        s = self.encoder.img_size
        dev = next(self.parameters()).device
        out, valid = [], []
        for im in images:
            t = torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))).float()
            if self.encoder.normalisation == "minmax01":
                t = (t - t.min()) / torch.clamp(t.max() - t.min(), min=1e-8)
            else:
                mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
                std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
                t = (t - mean) / std
            h, w = im.shape[:2]
            out.append(F.pad(t, (0, s - w, 0, s - h)))
            valid.append((h, w))
        return torch.stack(out).to(dev), valid

    def frame_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, 1, g, g) grid logits -> (N, 1, S, S) on the model frame."""
        s = self.encoder.img_size
        return F.interpolate(logits.float(), size=(s, s), mode="bilinear", align_corners=False)

    # -- training step -------------------------------------------------------------------------
    def training_terms(
        self, samples: list[dict], order: list[str], paired: bool, loss_fn, score_weights: tuple[float, float] = (1.0, 1.0)
    ) -> dict:
        """``samples``: list of {modality: (image uint8 (h, w, 3), mask bool (h, w))}. Returns the
        loss terms: per-modality map CE (eq. 8) and the case-score CE on max(B_c, B_oct) (eq. 9),
        each pair's score term weighted by ``score_weights`` (normal, anomalous)."""
        flat = []  # (sample index, modality, image, mask)
        for si, s in enumerate(samples):
            for mod in order:
                if mod in s:
                    flat.append((si, mod, *s[mod]))
        x, valid = self.to_input([f[2] for f in flat])
        emb = self.encoder(x)
        g = emb.shape[-1]
        dec = self.decoder
        first, second = [], []  # indices into flat
        seen: dict[int, int] = {}
        for k, (si, *_rest) in enumerate(flat):
            if si in seen and paired:
                second.append(k)
            else:
                first.append(k)
                seen.setdefault(si, k)
        logits: dict[int, torch.Tensor] = {}  # index into flat -> map logits
        t1, k1 = dec.run(emb[first], dec.initial_tokens(len(first)))
        for j, k in enumerate(first):
            logits[k] = dec.map_logits(t1[j : j + 1], k1[j : j + 1], (g, g))
        terms: dict[str, torch.Tensor] = {}
        if second:
            pos = {k: j for j, k in enumerate(first)}
            fusion_in = torch.stack([t1[pos[seen[flat[k][0]]], 1] for k in second])
            tokens = torch.stack([dec.mask_token.expand(len(second), -1), fusion_in], dim=1)
            t2, k2 = dec.run(emb[second], tokens)
            for j, k in enumerate(second):
                logits[k] = dec.map_logits(t2[j : j + 1], k2[j : j + 1], (g, g))
            labels = torch.tensor(
                [float(any(samples[flat[k][0]][m][1].any() for m in samples[flat[k][0]])) for k in second], device=emb.device
            )
            logit = dec.score_logit(t2)
            per_pair = torch.stack([loss_fn(logit[i : i + 1], labels[i : i + 1]) for i in range(len(second))])
            pair_weight = torch.where(labels > 0, float(score_weights[1]), float(score_weights[0]))
            terms["score"] = (per_pair * pair_weight).mean()
        frame = self.frame_logits(torch.cat([logits[k] for k in range(len(flat))]))
        target = torch.zeros_like(frame)
        weight = torch.zeros_like(frame)
        for k, (_si, _mod, _im, mask) in enumerate(flat):
            h, w = valid[k]
            target[k, 0, :h, :w] = torch.from_numpy(mask.astype(np.float32))
            weight[k, 0, :h, :w] = 1.0
        for mod in order:
            idx = [k for k, f in enumerate(flat) if f[1] == mod]
            if idx:
                terms[f"map_{mod}"] = loss_fn(frame[idx], target[idx], weight[idx])
        terms["loss"] = reduce(operator.add, terms.values())
        return terms

    # -- inference -----------------------------------------------------------------------------
    @torch.no_grad()
    def infer(self, prepared: dict[str, np.ndarray], order: list[str], paired: bool) -> Inference:
        mods = [m for m in order if m in prepared]
        x, valid = self.to_input([prepared[m] for m in mods])
        return self._decode(self.encoder(x), valid, mods, paired)

    @torch.no_grad()
    def infer_stack(
        self,
        fixed: dict[str, np.ndarray],
        stack_mod: str,
        pages: list[np.ndarray],
        order: list[str],
        paired: bool,
        chunk: int = 8,
        step=None,
    ) -> list[Inference]:
        """One :class:`Inference` per page of a B-scan stack (``stack_mod``), each paired with the
        ``fixed`` images (the fundus photo): the fixed images are encoded once, the pages in batches
        of ``chunk``; ``step(done, total)`` is called after each batch (progress, cancel)."""
        mods = [m for m in order if m in fixed or m == stack_mod]
        fixed_mods = [m for m in mods if m != stack_mod]
        embs, valids = {}, {}
        if fixed_mods:
            x, valid = self.to_input([fixed[m] for m in fixed_mods])
            e = self.encoder(x)
            for i, m in enumerate(fixed_mods):
                embs[m], valids[m] = e[i : i + 1], valid[i]
        out = []
        for start in range(0, len(pages), chunk):
            x, valid = self.to_input(pages[start : start + chunk])
            e = self.encoder(x)
            for j in range(len(valid)):
                embs[stack_mod], valids[stack_mod] = e[j : j + 1], valid[j]
                out.append(self._decode(torch.cat([embs[m] for m in mods]), [valids[m] for m in mods], mods, paired))
            if step is not None:
                step(len(out), len(pages))
        return out

    def _decode(self, emb: torch.Tensor, valid: list[tuple[int, int]], mods: list[str], paired: bool) -> Inference:
        """Maps (and the pair's fusion logit) from the encoder embeddings of ``mods``, in fusion order."""
        g = emb.shape[-1]
        dec = self.decoder
        maps, fusion = {}, None
        t1, k1 = dec.run(emb[:1], dec.initial_tokens(1))
        grid_logits = [dec.map_logits(t1, k1, (g, g))]
        if len(mods) == 2:
            tokens = torch.stack([dec.mask_token[None], t1[:, 1]], dim=1) if paired else dec.initial_tokens(1)
            t2, k2 = dec.run(emb[1:2], tokens)
            grid_logits.append(dec.map_logits(t2, k2, (g, g)))
            if paired:
                fusion = float(dec.score_logit(t2)[0])
        frame = torch.sigmoid(self.frame_logits(torch.cat(grid_logits)))
        for i, m in enumerate(mods):
            h, w = valid[i]
            maps[m] = frame[i, 0, :h, :w].cpu().numpy().astype(np.float32)
        return Inference(maps, fusion)
