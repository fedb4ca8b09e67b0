"""Shapes through every RASALoRE module, fixed location embeddings and their persistence."""

import math

import pytest
import torch

from core.models.rasalore.network import (
    RASA,
    CandidatePoints,
    ImageEncoder,
    MaskDecoder,
    PointHead,
    RasaloreNet,
    Refiner,
    count_parameters,
    grid_coords,
    point_mask,
)

S, G, D = 32, 8, 32


def test_grid_and_lore_are_fixed_sinusoids():
    c = grid_coords(4)
    assert c.shape == (16, 2)
    assert torch.allclose(c[0], torch.tensor([-0.75, -0.75])) and torch.allclose(c[5], torch.tensor([-0.25, -0.25]))
    pts = CandidatePoints(G, D, scale=128.0, seed=3)
    e = pts.embeddings
    assert e.shape == (G * G, D) and not any(p.requires_grad for p in pts.parameters())
    # [sin, cos] pairs: every feature pair lies on the unit circle
    assert torch.allclose(e[:, : D // 2] ** 2 + e[:, D // 2 :] ** 2, torch.ones(G * G, D // 2), atol=1e-5)
    # a new object with the same seed gives the same embeddings; another seed does not
    assert torch.equal(CandidatePoints(G, D, 128.0, 3).embeddings, e)
    assert not torch.allclose(CandidatePoints(G, D, 128.0, 4).embeddings, e)
    # high-frequency random features: distinct points are close to orthogonal
    sim = (e @ e.t()) / (D / 2)
    off = sim[~torch.eye(G * G, dtype=bool)]
    assert off.abs().mean() < 0.35
    assert torch.allclose(pts.at_grid(G), e)


def test_module_shapes():
    x = torch.rand(3, 1, S, S)
    enc = ImageEncoder(D)
    image, p1 = enc(x)
    assert image.shape == (3, D, S // 4, S // 4) and p1.shape == (3, D // 8, S // 2, S // 2)
    ref = Refiner(D, G)(p1)
    assert ref.shape == (3, D, G, G)
    lore = CandidatePoints(G, D, 128.0, 0).embeddings
    rasa = RASA(D, 4)
    xi = rasa(ref, lore)
    assert xi.shape == (3, G * G, D)
    assert PointHead(D)(xi).shape == (3, G * G)
    dec = MaskDecoder(D, 4, G * G)
    logits = dec(image, xi, CandidatePoints(G, D, 128.0, 0).at_grid(S // 4))
    assert logits.shape == (3, 1, S, S)


def test_rasa_noise_only_while_training():
    torch.manual_seed(0)
    ref = torch.rand(2, D, G, G)
    lore = CandidatePoints(G, D, 128.0, 0).embeddings
    rasa = RASA(D, 4, noise_std=1.0)
    rasa.eval()
    assert torch.equal(rasa(ref, lore), rasa(ref, lore))
    rasa.train()
    assert not torch.allclose(rasa(ref, lore), rasa(ref, lore))
    # the residual: with zero attention output the embeddings come back
    for p in rasa.attn.out_proj.parameters():
        torch.nn.init.zeros_(p)
    assert torch.allclose(rasa.eval()(ref, lore), lore.expand(2, -1, -1))


def test_full_network_and_parameter_budget():
    net = RasaloreNet(["t1", "t2"], image_size=S, grid=G, dim=D, heads=4)
    out = net(torch.rand(2, 1, S, S), "t2")
    assert out["logits"].shape == (2, 1, S, S) and out["points"].shape == (2, G * G) and out["xi"].shape == (2, G * G, D)
    mask = out["mask"].detach()
    assert 0 <= float(mask.min()) and float(mask.max()) <= 1
    assert net.embed(torch.rand(1, 1, S, S), "t1").shape == (1, G * G, D)
    with pytest.raises(KeyError, match="flair"):
        net(torch.rand(1, 1, S, S), "flair")
    # one set of points and one RASA per sequence; everything else shared
    assert not torch.equal(net.points["t1"].embeddings, net.points["t2"].embeddings)
    assert set(net.rasa) == {"t1", "t2"}
    # the paper's configuration stays under 8 million parameters
    paper = RasaloreNet(["t2"], image_size=256, grid=32, dim=256, heads=4)
    n = count_parameters(paper)
    assert n < 8_000_000 and paper.k == 1024 and paper.points["t2"].embeddings.shape == (1024, 256)


def test_location_embeddings_persist_across_save_and_load(tmp_path):
    net = RasaloreNet(["t1"], image_size=S, grid=G, dim=D, heads=4, seed=5)
    path = tmp_path / "net.pt"
    torch.save(net.state_dict(), path)
    other = RasaloreNet(["t1"], image_size=S, grid=G, dim=D, heads=4, seed=99)
    assert not torch.equal(other.points["t1"].embeddings, net.points["t1"].embeddings)
    other.load_state_dict(torch.load(path, weights_only=True))
    assert torch.equal(other.points["t1"].embeddings, net.points["t1"].embeddings)
    assert torch.equal(other.points["t1"].matrix, net.points["t1"].matrix)
    assert torch.equal(other.token_pe, net.token_pe)
    x = torch.rand(2, 1, S, S)
    assert torch.allclose(other.eval()(x, "t1")["mask"], net.eval()(x, "t1")["mask"])


def test_point_mask_samples_cell_centres():
    weak = torch.zeros(1, 1, 16, 16)
    weak[0, 0, 0:4, 4:8] = 1.0  # the top row, second cell of a 4 x 4 grid
    pm = point_mask(weak, 4)
    assert pm.shape == (1, 16) and pm[0].tolist() == [0, 1] + [0] * 14
    assert math.isclose(float(point_mask(torch.ones(2, 1, 16, 16), 4).sum()), 32.0)


def test_augmentation_moves_masks_with_the_image_and_bounds_the_rotation():
    """Masks follow the image's geometry; max_rotation=0 leaves only flips, so every augmented mask
    is one of the four flips of the original."""
    import torch

    from core.models.rasalore.data import augment

    x = torch.zeros(16, 1, 32, 32)
    m = torch.zeros(16, 1, 32, 32)
    x[:, :, 4:10, 18:28] = 0.8
    m[:, :, 4:10, 18:28] = 1.0
    xa, (ma,) = augment(x, [m], torch.Generator().manual_seed(0))
    assert xa.shape == x.shape and ma.shape == m.shape and float(xa.min()) >= 0.0 and float(xa.max()) <= 1.0
    inside = ((xa > 0.4) & (ma > 0.5)).sum((1, 2, 3)).float() / (ma > 0.5).sum((1, 2, 3)).float().clamp_min(1)
    assert float(inside.min()) > 0.85  # the lesion pixels stay under the mask
    _x, (flipped,) = augment(x, [m], torch.Generator().manual_seed(1), noise_std=0.0, max_rotation=0.0)
    flips = [m[0], m[0].flip(-1), m[0].flip(-2), m[0].flip(-1).flip(-2)]
    assert all(any(torch.equal(f, g) for g in flips) for f in flipped)
    assert len({tuple(f.flatten().tolist()) for f in flipped}) > 1  # the flips do vary


def test_mask_prior_starts_the_output_sparse():
    torch.manual_seed(0)
    net = RasaloreNet(["t2"], image_size=S, grid=G, dim=D, heads=4, seed=0).eval()
    before = net.decoder.upsample[-1].bias.clone()
    net.set_mask_prior(0.0)  # 0: PyTorch's initialisation stays
    assert torch.equal(net.decoder.upsample[-1].bias, before)
    x = torch.rand(2, 1, S, S)
    with torch.no_grad():
        default_mean = float(net(x, "t2")["mask"].mean())
        net.set_mask_prior(0.02)
        assert float(net.decoder.upsample[-1].bias) == pytest.approx(math.log(0.02 / 0.98))
        sparse = net(x, "t2")["mask"]
    assert float(sparse.mean()) < 0.1 < default_mean
