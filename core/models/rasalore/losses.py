"""RASALoRE losses (paper eq. 1, L_PA, L_Struct, L_align) on (B, 1, H, W) maps in [0, 1].

* ``ELDice(P, GT) = (-ln((2 I + eps) / (U + eps))) ** phi`` with I = sum(P * GT), U = sum(P) + sum(GT),
  per sample (Wong et al. 2018; phi = 0.3, eps = 1 smoothing as in Wong's formulation).
* ``G_sigma(M) = M * blur(M) / max(blur(M))`` weights the inside of a weak mask most at its centre;
  ``G_sigma^-1(M) = M * (1 - blur(M) / max(blur(M)))`` most at its boundary (the official code's
  weight maps; sigma 10 px for the weak masks and 15 px for the background term at 256 px).
* ``L_Dec = ELDice(M, G(M_DDPT)) + gamma ELDice(M, G^-1(M_SAM)) + alpha/p sum(M (1 - M_DDPT))
  + beta ELDice((1 - M)(1 - M_DDPT), G(1 - M_DDPT))`` with gamma = Dice(M_SAM, M_DDPT).
* ``L_PA = ELDice(M_FFN, M_PA)``; ``L_Struct = MSE(xi_active, 1) + MSE(xi_inactive, -1)``.

Every term is computed per sample and averaged over the batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def el_dice(pred: torch.Tensor, target: torch.Tensor, phi: float = 0.3, eps: float = 1.0) -> torch.Tensor:
    """Per-sample exponential-logarithmic Dice loss, shape (B,)."""
    p = pred.flatten(1)
    t = target.flatten(1)
    inter = (p * t).sum(1)
    union = p.sum(1) + t.sum(1)
    dice = (2.0 * inter + eps) / (union + eps)
    # -ln(dice) >= 0 since 2I <= U; the floor keeps the gradient of x**phi finite at a perfect match
    return (-torch.log(dice)).clamp_min(1e-6).pow(phi)


def dice(a: torch.Tensor, b: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Per-sample soft Dice coefficient, shape (B,)."""
    x, y = a.flatten(1), b.flatten(1)
    return (2.0 * (x * y).sum(1) + eps) / (x.sum(1) + y.sum(1) + eps)


def gaussian_kernel(sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    radius = max(1, int(math.ceil(4.0 * sigma)))  # scipy's truncate=4.0
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _symmetric_index(n: int, r: int, device) -> torch.Tensor:
    """Indices of a length-n axis padded by r on both sides, mirrored about the edges (d c b a | a b c d)."""
    i = torch.arange(-r, n + r, device=device) % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, 1, H, W) maps, borders mirrored as scipy's default 'reflect'."""
    if sigma <= 0:
        return maps
    k = gaussian_kernel(sigma, maps.device, maps.dtype)
    r = (k.numel() - 1) // 2
    h, w = maps.shape[-2:]
    x = maps.index_select(-1, _symmetric_index(w, r, maps.device))
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = x.index_select(-2, _symmetric_index(h, r, maps.device))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def centre_weight(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """blur(mask) / max(blur(mask)) per sample; zero for an empty mask."""
    b = gaussian_blur(mask, sigma)
    peak = b.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return torch.where(peak > 1e-9, b / peak, torch.zeros_like(b))


def gauss_weighted(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """G_sigma(M): the mask weighted most at the centre of its regions."""
    return mask * centre_weight(mask, sigma)


def inverse_gauss_weighted(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """G_sigma^-1(M): the mask weighted most at its boundary."""
    return mask * (1.0 - centre_weight(mask, sigma))


def decoder_loss(
    pred: torch.Tensor,
    m_ddpt: torch.Tensor,
    m_sam: torch.Tensor | None,
    *,
    alpha: float = 0.6,
    beta: float = 0.6,
    phi: float = 0.3,
    eps: float = 1.0,
    sigma: float = 10.0,
    sigma_background: float = 15.0,
) -> dict[str, torch.Tensor]:
    """L_Dec of eq. (1) and its four terms (batch means). ``m_sam=None``: RASALoRE without MedSAM."""
    t1 = el_dice(pred, gauss_weighted(m_ddpt, sigma), phi, eps)
    if m_sam is not None:
        gamma = dice(m_sam, m_ddpt, eps).detach()
        t2 = gamma * el_dice(pred, inverse_gauss_weighted(m_sam, sigma), phi, eps)
    else:
        gamma = torch.zeros_like(t1)
        t2 = torch.zeros_like(t1)
    background = 1.0 - m_ddpt
    t3 = alpha * (pred * background).flatten(1).mean(1)
    t4 = beta * el_dice((1.0 - pred) * background, gauss_weighted(background, sigma_background), phi, eps)
    total = t1 + t2 + t3 + t4
    return {
        "dec": total.mean(),
        "dec_ddpt": t1.mean(),
        "dec_sam": t2.mean(),
        "dec_fp": t3.mean(),
        "dec_tn": t4.mean(),
        "gamma": gamma.mean(),
    }


def point_activation_loss(m_ffn: torch.Tensor, m_pa: torch.Tensor, phi: float = 0.3, eps: float = 1.0) -> torch.Tensor:
    """L_PA = ELDice(M_FFN, M_PA), batch mean. Both (B, k) or (B, g, g)."""
    return el_dice(m_ffn, m_pa, phi, eps).mean()


def structural_loss(xi: torch.Tensor, m_pa: torch.Tensor) -> torch.Tensor:
    """L_Struct = MSE(xi[active], 1) + MSE(xi[inactive], -1) per sample (a term is 0 when its set is
    empty), batch mean. ``xi`` (B, k, d), ``m_pa`` (B, k) binary."""
    active = m_pa.flatten(1).float().unsqueeze(-1)  # (B, k, 1)
    d = xi.shape[-1]
    sq_pos = ((xi - 1.0) ** 2 * active).sum((1, 2))
    sq_neg = ((xi + 1.0) ** 2 * (1.0 - active)).sum((1, 2))
    n_pos = active.sum((1, 2)) * d
    n_neg = (1.0 - active).sum((1, 2)) * d
    pos = torch.where(n_pos > 0, sq_pos / n_pos.clamp_min(1.0), torch.zeros_like(sq_pos))
    neg = torch.where(n_neg > 0, sq_neg / n_neg.clamp_min(1.0), torch.zeros_like(sq_neg))
    return (pos + neg).mean()


def alignment_loss(xi: torch.Tensor, xi_bridge: torch.Tensor) -> torch.Tensor:
    """Bridge alignment ||xi - xi_bridge||^2, normalised by the number of elements (batch mean)."""
    return ((xi - xi_bridge.detach()) ** 2).flatten(1).mean(1).mean()
