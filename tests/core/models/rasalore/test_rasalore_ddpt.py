"""DDPT: the offline LiteMedSAM prompt tuning and the CLIP path's prompt plumbing."""

import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from core.errors import WeightsError
from core.models.rasalore.ddpt import CAVPT, attention_to_mask
from core.models.rasalore.weak_masks import box_of


def test_cavpt_shapes_and_detached_tokens():
    cav = CAVPT(16, 2, n_ctx=3, class_dim=8)
    tokens = torch.randn(4, 10, 16, requires_grad=True)
    prompts, aux = cav(torch.randn(2, 8), tokens)
    assert prompts.shape == (4, 2, 16) and aux.shape == (4, 2, 2)
    (prompts.sum() + aux.sum()).backward()
    assert tokens.grad is None  # DPT: the generator does not train the image tokens
    assert cav.ctx.grad is not None and cav.meta_net.weight.grad is not None


def test_attention_to_mask_scales_inside_the_brain():
    attn = torch.zeros(1, 4, 4)
    attn[0, 1, 2] = 1.0
    fg = torch.zeros(1, 16, 16, dtype=torch.bool)
    fg[0, 2:14, 2:14] = True
    norm, mask = attention_to_mask(attn, fg, 0.5)
    assert norm.shape == (1, 16, 16) and float(norm.max()) == pytest.approx(1.0)
    assert float(norm[~fg].abs().max()) == 0.0 and not mask[~fg].any()
    ys, xs = np.nonzero(mask[0].numpy())
    assert 4 <= ys.mean() <= 8 and 8 <= xs.mean() <= 12  # the hot cell (row 1, col 2) of the 4 x 4 grid
    assert not attention_to_mask(torch.zeros(1, 4, 4), fg)[1].any()  # a flat map gives no mask


def test_box_of_spans_every_component():
    m = np.zeros((10, 12), bool)
    m[2:4, 3:5] = True
    m[7, 9] = True
    assert box_of(m).tolist() == [3, 2, 9, 7]
    assert box_of(np.zeros((4, 4), bool)) is None


@pytest.mark.slow
def test_sam_ddpt_learns_and_freezes_litemedsam():
    from core.models.rasalore.ddpt import SamDDPT
    from core.sam.model import load_sam

    net = load_sam("litemedsam", "cpu")
    ddpt = SamDDPT(net.mask_decoder.transformer, net.prompt_encoder.get_dense_pe(), grid=8, n_prompts=4)
    assert all(not p.requires_grad for p in ddpt.transformer.parameters())
    before = {k: v.clone() for k, v in ddpt.transformer.state_dict().items()}
    torch.manual_seed(0)
    tokens = torch.randn(8, 64, 256) * 0.1
    tokens[4:, 20:28] += 1.5  # "unhealthy" slices carry a bright region
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    opt = torch.optim.SGD(ddpt.trainable(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    first = None
    for _ in range(15):
        out = ddpt(tokens)
        terms = ddpt.loss(out, labels)
        first = first if first is not None else float(terms["loss"].detach())
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    assert float(terms["loss"].detach()) < first
    assert out["logits"].shape == (8, 2) and out["attention"].shape == (8, 8, 8)
    assert torch.allclose(out["attention"].sum((1, 2)), torch.ones(8), atol=1e-4)  # a softmax over the tokens
    for k, v in ddpt.transformer.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_clip_path_names_the_missing_package(monkeypatch):
    from core.models.rasalore.ddpt_clip import load_open_clip

    monkeypatch.setitem(sys.modules, "open_clip", None)  # not installed
    with pytest.raises(WeightsError, match="open_clip_torch"):
        load_open_clip("cpu")
    monkeypatch.setitem(sys.modules, "open_clip", types.ModuleType("open_clip"))
    with pytest.raises(WeightsError, match="ViT-B-32.pt"):  # installed, weights missing
        load_open_clip("cpu")


# -- a miniature CLIP with open_clip's module layout, to exercise the prompt plumbing -------------
class _Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, h)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x, attn_mask=None):  # sequence-first, as open_clip's blocks
        x = x + self.attn(self.ln_1(x), self.ln_1(x), self.ln_1(x), need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


def _mini_clip(width=32, text_width=24, out=16, vocab=50, ctx_len=20):
    clip = nn.Module()
    v = nn.Module()
    v.conv1 = nn.Conv2d(3, width, 32, 32, bias=False)
    v.class_embedding = nn.Parameter(torch.randn(width) * 0.1)
    v.positional_embedding = nn.Parameter(torch.randn(50, width) * 0.1)
    v.ln_pre, v.ln_post = nn.LayerNorm(width), nn.LayerNorm(width)
    v.transformer = nn.Module()
    v.transformer.resblocks = nn.ModuleList([_Block(width, 4) for _ in range(3)])
    v.proj = nn.Parameter(torch.randn(width, out) * 0.1)
    v.output_dim = out
    clip.visual = v
    clip.token_embedding = nn.Embedding(vocab, text_width)
    clip.positional_embedding = nn.Parameter(torch.randn(ctx_len, text_width) * 0.1)
    clip.transformer = nn.Module()
    clip.transformer.resblocks = nn.ModuleList([_Block(text_width, 4) for _ in range(2)])
    clip.ln_final = nn.LayerNorm(text_width)
    clip.text_projection = nn.Parameter(torch.randn(text_width, out) * 0.1)
    clip.attn_mask = torch.full((ctx_len, ctx_len), float("-inf")).triu(1)
    for p in clip.parameters():
        p.requires_grad_(False)

    def tokenizer(texts):
        out_t = torch.zeros(len(texts), ctx_len, dtype=torch.long)
        for i, t in enumerate(texts):
            words = t.replace(".", " .").split()
            ids = [1] + [2 + (sum(map(ord, w)) % (vocab - 4)) for w in words] + [vocab - 1]
            out_t[i, : len(ids)] = torch.tensor(ids)
        return out_t

    fake = types.SimpleNamespace(get_tokenizer=lambda name: tokenizer)
    return fake, clip


def test_clip_ddpt_prompts_train_and_clip_stays_frozen():
    from core.models.rasalore.ddpt_clip import _build_module, clip_inputs

    fake, clip = _mini_clip()
    module = _build_module(fake, clip, n_ctx=4, n_prompts=3, tau=0.07)
    assert {n.split(".")[0] for n, p in module.named_parameters() if p.requires_grad} == {"ctx", "vprompts", "cavpt"}
    text = module.text_features()
    assert text.shape == (2, 16) and not torch.allclose(text[0], text[1])
    x = clip_inputs(np.random.default_rng(0).random((2, 256, 256)).astype(np.float32)).float()
    assert x.shape == (2, 3, 224, 224)
    out = module(x)
    assert out["logits"].shape == (2, 2) and out["aux"].shape == (2, 2, 2) and out["attention"].shape == (2, 7, 7)
    terms = module.loss(out, torch.tensor([0, 1]))
    terms["loss"].backward()
    assert module.ctx.grad is not None and module.ctx.grad.abs().sum() > 0
    assert module.vprompts.grad.abs().sum() > 0 and module.cavpt.meta_net.weight.grad is not None
    assert all(p.grad is None for p in clip.parameters())


def test_healthy_ddpt_shots_match_the_lesion_slice_positions():
    """Healthy DDPT shots sit where the unhealthy ones do (relative slice position), one each,
    never twice, so DDPT cannot separate the classes by brain size alone."""
    from types import SimpleNamespace

    from core.models.rasalore.weak_masks import matched_healthy, relative_position

    sick = SimpleNamespace(case_id="S", labels=np.zeros(101, np.int8))
    well = [SimpleNamespace(case_id=f"N{i}", labels=np.zeros(51, np.int8)) for i in range(2)]
    unhealthy = [(sick, k) for k in (40, 50, 50, 60)]
    healthy = [(c, k) for c in well for k in range(51)]
    picked = matched_healthy(unhealthy, healthy, np.random.default_rng(0))
    assert len(picked) == 4 and len({(c.case_id, k) for c, k in picked}) == 4
    assert sorted(relative_position(c, k) for c, k in picked) == [0.4, 0.5, 0.5, 0.6]
    assert len(matched_healthy(unhealthy, healthy[:2], np.random.default_rng(0))) == 2  # runs out: fewer shots
