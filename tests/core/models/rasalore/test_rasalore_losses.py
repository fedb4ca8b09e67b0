"""RASALoRE loss terms against hand-computed values."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from core.models.rasalore.losses import (
    alignment_loss,
    centre_weight,
    decoder_loss,
    dice,
    el_dice,
    gaussian_blur,
    inverse_gauss_weighted,
    point_activation_loss,
    structural_loss,
)


def t(a):
    return torch.tensor(a, dtype=torch.float32).view(1, 1, *np.shape(a))


def test_el_dice_by_hand():
    p = t([[1.0, 0.5], [0.0, 0.0]])
    g = t([[1.0, 1.0], [0.0, 0.0]])
    # I = 1.5, U = 1.5 + 2 = 3.5; eps = 1: dice = (3 + 1) / (3.5 + 1)
    expected = (-math.log(4.0 / 4.5)) ** 0.3
    assert el_dice(p, g).item() == pytest.approx(expected, rel=1e-6)
    # a small epsilon and phi = 1 give the plain -ln(Dice)
    assert el_dice(p, g, phi=1.0, eps=1e-7).item() == pytest.approx(-math.log(3.0 / 3.5), rel=1e-5)
    # per sample, and a perfect match is (almost) zero with a finite gradient
    both = torch.cat([p, g])
    per = el_dice(both, torch.cat([g, g]))
    assert per.shape == (2,) and per[1].item() < 0.02
    q = g.clone().requires_grad_(True)
    el_dice(q, g).sum().backward()
    assert torch.isfinite(q.grad).all()


def test_dice_and_empty_masks():
    z = torch.zeros(1, 1, 4, 4)
    assert dice(z, z).item() == pytest.approx(1.0)  # two empty masks agree
    one = torch.ones(1, 1, 4, 4)
    assert dice(one, z).item() == pytest.approx(1.0 / 17.0)


def test_gaussian_weights_match_scipy():
    m = np.zeros((32, 32), np.float32)
    m[8:20, 10:24] = 1.0
    sigma = 2.5
    ref = ndimage.gaussian_filter(m, sigma, mode="reflect", truncate=4.0)
    got = gaussian_blur(t(m), sigma)[0, 0].numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)
    w = centre_weight(t(m), sigma)[0, 0].numpy()
    np.testing.assert_allclose(w, ref / ref.max(), atol=1e-5)
    inv = inverse_gauss_weighted(t(m), sigma)[0, 0].numpy()
    assert inv[14, 17] < inv[8, 10]  # boundary weighted more than the centre
    assert centre_weight(torch.zeros(1, 1, 8, 8), 2.0).abs().sum() == 0


def test_decoder_loss_terms_by_hand():
    # sigma = 0 makes G(M) = M, G^-1(M) = 0 and G(1 - M) = 1 - M, so every term is a short sum
    p = t([[0.9, 0.2], [0.4, 0.0]])
    m_ddpt = t([[1.0, 0.0], [1.0, 0.0]])
    m_sam = t([[1.0, 0.0], [0.0, 0.0]])
    out = decoder_loss(p, m_ddpt, m_sam, alpha=0.6, beta=0.6, sigma=0.0, sigma_background=0.0)
    eld = lambda i, u: (-math.log((2 * i + 1) / (u + 1))) ** 0.3  # noqa: E731
    t1 = eld(0.9 + 0.4, 1.5 + 2.0)
    gamma = (2 * 1 + 1) / (1 + 2 + 1)
    t2 = gamma * eld(0.0, 1.5 + 0.0)
    t3 = 0.6 * (0.2 + 0.0) / 4
    # (1 - p)(1 - m_ddpt) = [0, 0.8, 0, 1]; target 1 - m_ddpt = [0, 1, 0, 1]
    t4 = 0.6 * eld(0.8 + 1.0, 1.8 + 2.0)
    assert out["dec_ddpt"].item() == pytest.approx(t1, rel=1e-5)
    assert out["gamma"].item() == pytest.approx(gamma, rel=1e-6)
    assert out["dec_sam"].item() == pytest.approx(t2, rel=1e-5)
    assert out["dec_fp"].item() == pytest.approx(t3, rel=1e-6)
    assert out["dec_tn"].item() == pytest.approx(t4, rel=1e-5)
    assert out["dec"].item() == pytest.approx(t1 + t2 + t3 + t4, rel=1e-5)
    # without MedSAM the second term vanishes
    assert decoder_loss(p, m_ddpt, None, sigma=0.0, sigma_background=0.0)["dec_sam"].item() == 0.0


def test_decoder_loss_prefers_the_weak_mask():
    m = torch.zeros(2, 1, 32, 32)
    m[:, :, 10:20, 10:20] = 1.0
    good = m * 0.95 + 0.02
    bad = torch.roll(m, 12, dims=-1) * 0.95 + 0.02
    assert decoder_loss(good, m, m)["dec"] < decoder_loss(bad, m, m)["dec"]


def test_point_activation_and_structural_losses_by_hand():
    ffn = torch.tensor([[0.8, 0.1, 0.0, 0.6]])
    pa = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    expected = (-math.log((2 * 1.4 + 1) / (1.5 + 2 + 1))) ** 0.3
    assert point_activation_loss(ffn, pa).item() == pytest.approx(expected, rel=1e-5)
    xi = torch.tensor([[[1.0, 3.0], [-1.0, 1.0]]])  # point 0 active, point 1 inactive
    mask = torch.tensor([[1.0, 0.0]])
    # MSE([1, 3], 1) = (0 + 4) / 2 = 2; MSE([-1, 1], -1) = (0 + 4) / 2 = 2
    assert structural_loss(xi, mask).item() == pytest.approx(4.0)
    # an empty active set contributes nothing
    assert structural_loss(xi, torch.zeros(1, 2)).item() == pytest.approx((4 + 16 + 0 + 4) / 4)


def test_alignment_loss():
    a = torch.ones(2, 3, 4)
    b = torch.zeros(2, 3, 4, requires_grad=True)
    assert alignment_loss(a, b).item() == pytest.approx(1.0)
    loss = alignment_loss(b, a)
    loss.backward()
    assert b.grad is not None and torch.isfinite(b.grad).all()
