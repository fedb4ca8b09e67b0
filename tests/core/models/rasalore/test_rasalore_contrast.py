"""Healthy-reference weak masks (RASALoRE's offline stage 1): distances, memory, the mask they give."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.models.rasalore.contrast import distance_maps, sample_memory, token_maps


def test_distance_is_one_minus_the_best_cosine_similarity():
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(3, 10, 8, generator=g), dim=-1)
    mem = F.normalize(torch.randn(50, 8, generator=g), dim=-1)
    want = 1.0 - (q @ mem.t()).amax(-1)
    got = distance_maps(q, mem, chunk=7)  # chunking over the memory changes nothing
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert float(distance_maps(mem[None, :5], mem).abs().max()) < 1e-5  # a memory token is at distance 0


def test_memory_is_capped_by_a_seeded_draw():
    h = torch.arange(4 * 6 * 2, dtype=torch.float32).reshape(4, 6, 2)
    assert sample_memory(h, 0, 1).shape == (24, 2) and sample_memory(h, 100, 1).shape == (24, 2)
    a, b, c = sample_memory(h, 10, 1), sample_memory(h, 10, 1), sample_memory(h, 10, 2)
    assert a.shape == (10, 2) and torch.equal(a, b) and not torch.equal(a, c)
    rows = {tuple(r) for r in h.reshape(-1, 2).tolist()}
    assert all(tuple(r) in rows for r in a.tolist())


def test_token_maps_pool_and_normalise():
    emb = torch.randn(2, 256, 64, 64)
    t = token_maps(emb, 16)
    assert t.shape == (2, 256, 256)
    torch.testing.assert_close(t.norm(dim=-1), torch.ones(2, 256))
    want = F.normalize(emb[0, :, :4, :4].mean((1, 2)), dim=0)  # token 0 = the top-left 4 x 4 block
    torch.testing.assert_close(t[0, 0], want, rtol=1e-4, atol=1e-5)


def test_the_odd_region_becomes_the_weak_mask():
    """Healthy references share one texture; the unhealthy slice carries a foreign patch. The
    thresholded, brain-scaled distance map marks that patch and nothing else."""
    from core.models.rasalore.ddpt import attention_to_mask

    g = torch.Generator().manual_seed(3)
    base = torch.randn(256, generator=g)
    healthy = base + 0.05 * torch.randn(6, 256, 16, 16, generator=g).permute(0, 2, 3, 1)
    sick = base + 0.05 * torch.randn(1, 16, 16, 256, generator=g)
    sick[0, 5:8, 9:12] = torch.randn(256, generator=g)  # the lesion tokens
    to_tokens = lambda x: F.normalize(x.reshape(x.shape[0], -1, 256), dim=-1)  # noqa: E731
    d = distance_maps(to_tokens(sick), sample_memory(to_tokens(healthy), 512, 0)).reshape(1, 16, 16)
    brain = torch.ones(1, 64, 64, dtype=torch.bool)
    _scaled, mask = attention_to_mask(d, brain, 0.7)
    truth = np.zeros((64, 64), bool)
    truth[20:32, 36:48] = True
    m = mask[0].numpy()
    dice = 2 * (m & truth).sum() / (m.sum() + truth.sum())
    assert dice > 0.8, dice


@pytest.mark.parametrize(
    "source,backbone,want",
    [
        ("auto", "litemedsam", "healthy_contrast"),
        ("auto", "clip_vit_b32", "ddpt_attention"),
        ("ddpt_attention", "litemedsam", "ddpt_attention"),
    ],
)
def test_weak_mask_source(source, backbone, want):
    from core.models.rasalore.model import Rasalore

    assert Rasalore(weak_mask=source, ddpt_backbone=backbone).weak_mask_source() == want


def test_unknown_weak_mask_source_is_refused():
    from core.errors import ConfigError
    from core.models.rasalore.model import Rasalore

    with pytest.raises(ConfigError, match="weak_mask"):
        Rasalore(weak_mask="oracle")


def test_healthy_quantile_rule_needs_no_pixel_labels():
    """The weak-mask level comes from healthy reference slices scored against each other (never
    against themselves): a region of unusual tokens in an unhealthy slice exceeds it, healthy
    tissue mostly does not."""
    import torch

    from core.models.rasalore.contrast import absolute_mask, healthy_level
    from core.models.rasalore.model import Rasalore

    g, d = 8, 16
    rng = torch.Generator().manual_seed(0)
    centre = torch.nn.functional.normalize(torch.randn(d, generator=rng), dim=0)

    def slices(n, spread=0.05):
        t = centre + spread * torch.randn(n, g * g, d, generator=rng)
        return torch.nn.functional.normalize(t, dim=-1)

    healthy = slices(10)
    fg = torch.ones(10, 32, 32, dtype=torch.bool)
    config = Rasalore.parse_settings({"contrast_quantile": 0.99, "contrast_memory": 100000})
    level = healthy_level(healthy, fg, g, config)
    memory = sample_memory(healthy, 100000, 0)
    sick = slices(1)
    sick[0, :16] = torch.nn.functional.normalize(torch.randn(16, d, generator=rng), dim=-1)  # the lesion: first two token rows
    maps = distance_maps(sick, memory).reshape(1, g, g)
    mask = absolute_mask(maps, torch.ones(1, 32, 32, dtype=torch.bool), level)[0]
    assert mask[:6].float().mean() > 0.9  # the lesion rows (upsampled: 8 of 32 pixel rows, edges blurred)
    assert mask[12:].float().mean() < 0.05  # healthy tissue stays out
    with pytest.raises(ValueError):
        healthy_level(healthy[:1], fg[:1], g, config)
