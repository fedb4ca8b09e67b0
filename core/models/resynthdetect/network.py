"""ReSynthDetect networks (Niu et al., sections 3.1 and 3.2).

* :class:`AutoEncoder` — stage 1: encoder E_r + decoder D_r trained with L2 to reconstruct normal
  images; afterwards E_r is frozen and D_r discarded.
* :class:`LocalizationUNet` — stage 2: a U-shaped network whose encoder E_l concatenates its
  features with E_r's features of the same image at every level,
  F_c^i = concat(F_r^i, F_l^i); F_c^i feeds the next encoder level and the decoder's skip
  connection at that level. Output: one anomaly logit per pixel.

Both encoders have the same level structure (channels b, 2b, 4b, 8b, 8b; max-pool between levels).
GroupNorm instead of BatchNorm keeps training and inference consistent with the small batches a
CPU allows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _norm(c: int) -> nn.Module:
    return nn.GroupNorm(min(8, c), c)


class ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            _norm(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            _norm(cout),
            nn.ReLU(inplace=True),
        )


def level_channels(base: int, levels: int) -> list[int]:
    return [base * min(2**i, 8) for i in range(levels)]


class Encoder(nn.Module):
    def __init__(self, in_ch: int = 3, base: int = 32, levels: int = 5):
        super().__init__()
        ch = level_channels(base, levels)
        self.channels = ch
        self.blocks = nn.ModuleList([ConvBlock(in_ch if i == 0 else ch[i - 1], ch[i]) for i in range(levels)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, blk in enumerate(self.blocks):
            x = blk(x if i == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        return feats


class AutoEncoder(nn.Module):
    """E_r + D_r, no skip connections (a plain reconstruction network)."""

    def __init__(self, in_ch: int = 3, base: int = 32, levels: int = 5):
        super().__init__()
        self.encoder = Encoder(in_ch, base, levels)
        ch = self.encoder.channels
        self.decoder = nn.ModuleList([ConvBlock(ch[i], ch[i - 1]) for i in range(levels - 1, 0, -1)])
        self.head = nn.Conv2d(ch[0], in_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)[-1]
        for blk in self.decoder:
            h = blk(F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False))
        return self.head(h)


class LocalizationUNet(nn.Module):
    """E_l with E_r's features concatenated at every level, and a U-Net decoder D_l."""

    def __init__(
        self, in_ch: int = 3, base: int = 32, levels: int = 5, rec_channels: list[int] | None = None, use_reconstruction: bool = True
    ):
        super().__init__()
        ch = level_channels(base, levels)
        rec = (rec_channels or ch) if use_reconstruction else [0] * levels
        self.use_reconstruction = use_reconstruction
        self.levels = levels
        cat = [ch[i] + rec[i] for i in range(levels)]
        self.enc = nn.ModuleList([ConvBlock(in_ch if i == 0 else cat[i - 1], ch[i]) for i in range(levels)])
        # decoder: from the deepest concatenated features up, with the concatenated skips
        self.dec = nn.ModuleList()
        d = cat[-1]
        for i in range(levels - 2, -1, -1):
            self.dec.append(ConvBlock(d + cat[i], ch[i]))
            d = ch[i]
        self.head = nn.Conv2d(ch[0], 1, 1)

    def forward(self, x: torch.Tensor, rec_feats: list[torch.Tensor] | None) -> torch.Tensor:
        if self.use_reconstruction and rec_feats is None:
            raise ValueError("this localisation network concatenates the autoencoder's features: pass rec_feats")
        skips = []
        h = x
        for i, blk in enumerate(self.enc):
            h = blk(h if i == 0 else F.max_pool2d(h, 2))
            if self.use_reconstruction and rec_feats is not None:
                h = torch.cat([rec_feats[i].to(h.dtype), h], dim=1)  # F_c^i = concat(F_r^i, F_l^i)
            skips.append(h)
        d = skips[-1]
        for j, blk in enumerate(self.dec):
            skip = skips[self.levels - 2 - j]
            d = F.interpolate(d, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            d = blk(torch.cat([d, skip], dim=1))
        return self.head(d)
