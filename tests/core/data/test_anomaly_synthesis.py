"""Anomaly generators: masks, unchanged pixels outside them, determinism, both modalities; the
training helpers they feed (epoch batches, schedules, losses) and the labelled-anomaly helper."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.anomaly_synthesis import ConsistentAnomalyGenerator, MMRADSimulator, perlin_mask
from core.data.anomaly_synthesis.resynth import AUGMENTATIONS, self_mix_weights


def _fundus(n=3, size=96, seed=0):
    import cv2

    from core.data.synthetic import fundus as F

    rng = np.random.default_rng(seed)
    retina = F.load_retina()
    return [cv2.resize(F.random_derivation(rng).apply(retina), (size, size), interpolation=cv2.INTER_AREA) for _ in range(n)]


def _oct(n=3, seed=0):
    import cv2

    from core.data.synthetic.oct import render_bscan

    rng = np.random.default_rng(seed)
    return [cv2.resize(render_bscan(rng, 496, 512).image, (100, 96), interpolation=cv2.INTER_AREA) for _ in range(n)]


@pytest.fixture(scope="module")
def fundus_images():
    return _fundus()


@pytest.fixture(scope="module")
def oct_images():
    return _oct()


def test_perlin_mask_never_empty_and_deterministic():
    for seed in range(20):
        m = perlin_mask((24, 31), np.random.default_rng(seed))
        assert m.shape == (24, 31) and m.dtype == bool and m.any() and not m.all()
    a = perlin_mask((40, 40), np.random.default_rng(7))
    b = perlin_mask((40, 40), np.random.default_rng(7))
    assert np.array_equal(a, b)


def test_self_mix_weights_follow_eq3():
    mask = np.zeros((21, 21), bool)
    mask[3:18, 3:18] = True
    w = self_mix_weights(mask, 0.7)
    assert w[~mask].min() == pytest.approx(0.7)  # background: D = 0 -> alpha
    assert w.max() == pytest.approx(1.0) and w[10, 10] == pytest.approx(1.0)
    assert 0.7 < w[3, 10] < w[6, 10] < w[10, 10]  # grows away from the boundary


@pytest.mark.parametrize("modality", ["fundus", "oct"])
def test_resynth_generator_masks_and_unchanged_pixels(modality, fundus_images, oct_images):
    images = fundus_images if modality == "fundus" else oct_images
    gen = ConsistentAnomalyGenerator(images, modality)
    rng = np.random.default_rng(0)
    nonempty = 0
    for _ in range(12):
        s = gen.sample(rng)
        target = images[s.info["target"]]
        assert s.image.shape == target.shape and s.image.dtype == np.uint8 and s.mask.shape == target.shape[:2]
        assert np.array_equal(s.image[~s.mask], target[~s.mask])  # outside the mask: untouched
        assert len(s.info["augmentations"]) == 3 and set(s.info["augmentations"]) <= set(AUGMENTATIONS)
        if s.mask.any():
            nonempty += 1
            assert not np.array_equal(s.image[s.mask], target[s.mask])  # a lesion was pasted
    assert nonempty >= 10


def test_resynth_generator_is_reproducible(fundus_images):
    g1 = ConsistentAnomalyGenerator(fundus_images, "fundus")
    g2 = ConsistentAnomalyGenerator(fundus_images, "fundus")
    a = [g1(np.random.default_rng(5)) for _ in range(2)]
    b = [g2(np.random.default_rng(5)) for _ in range(2)]
    for (ia, ma), (ib, mb) in zip(a, b):
        assert np.array_equal(ia, ib) and np.array_equal(ma, mb)
    other = g1(np.random.default_rng(6))
    assert not np.array_equal(other[1], a[0][1])


def test_resynth_generator_rejects_mixed_sizes(fundus_images):
    with pytest.raises(ValueError, match="same size"):
        ConsistentAnomalyGenerator([fundus_images[0], fundus_images[1][:50]], "fundus")


@pytest.mark.parametrize("modality", ["fundus", "oct"])
def test_mmrad_simulation_masks_and_unchanged_pixels(modality, fundus_images, oct_images):
    images = fundus_images if modality == "fundus" else oct_images
    sim = MMRADSimulator(modality)
    rng = np.random.default_rng(1)
    nonempty = 0
    for i in range(10):
        src = images[i % len(images)]
        s = sim.sample(src, rng, force=True)
        assert s.image.shape == src.shape and s.image.dtype == np.uint8
        assert np.array_equal(s.image[~s.mask], src[~s.mask])
        if s.mask.any():
            nonempty += 1
            diff = np.abs(s.image.astype(int) - src.astype(int))
            assert (diff.max(axis=-1) if diff.ndim == 3 else diff)[s.mask].mean() >= sim.min_change
    assert nonempty >= 7


def test_mmrad_simulation_probability_and_determinism(fundus_images):
    sim = MMRADSimulator("fundus", p_anomaly=0.7)
    rng = np.random.default_rng(3)
    hits = [sim(fundus_images[0], rng)[1].any() for _ in range(60)]
    assert 0.45 <= np.mean(hits) <= 0.85  # some pure normals, mostly anomalies
    never = MMRADSimulator("fundus", p_anomaly=0.0)
    assert not any(never(fundus_images[0], rng)[1].any() for _ in range(10))
    a = MMRADSimulator("fundus").sample(fundus_images[1], np.random.default_rng(9), force=True)
    b = MMRADSimulator("fundus").sample(fundus_images[1], np.random.default_rng(9), force=True)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def test_gallery_png_round_trip(tmp_path, fundus_images, oct_images):
    import cv2

    from core.data.anomaly_synthesis.gallery import gallery, write_png

    rng = np.random.default_rng(0)
    s1 = ConsistentAnomalyGenerator(fundus_images, "fundus").sample(rng)
    s2 = MMRADSimulator("oct").sample(oct_images[0], rng, force=True)
    path = write_png(tmp_path / "g.png", gallery([[(s1.image, s1.mask, "a"), (s2.image, s2.mask, "b")]], tile=64))
    img = cv2.imread(str(path))
    assert img.shape == (64 + 18, 2 * (64 + 4), 3)


def test_epoch_batches_are_reproducible_per_epoch():
    from core.training.batches import EpochBatches

    def draw(rng, idx):
        return (tuple(idx), float(rng.random()))

    eb = EpochBatches(5, 2, draw, seed=1, samples_per_epoch=7)
    assert len(eb) == 4
    eb.set_epoch(0)
    e0 = list(eb)
    eb.set_epoch(1)
    e1 = list(eb)
    eb.set_epoch(0)
    assert list(eb) == e0 and e1 != e0
    assert sum(len(b[0]) for b in e0) == 7


def test_warmup_cosine_schedule():
    from core.training.schedules import effective_warmup, warmup_cosine_factor

    f = [warmup_cosine_factor(e, 10, 2, 0.5) for e in range(10)]
    assert f[0] < f[1] < f[2] == pytest.approx(1.0)
    assert f[-1] == pytest.approx(0.5) and all(a >= b for a, b in zip(f[2:], f[3:]))
    assert effective_warmup(50, 400) == 50 and effective_warmup(50, 20) == 5


def test_focal_loss_matches_formula():
    import torch

    from core.training.losses import focal_loss

    logits = torch.tensor([2.0, -1.0, 0.5])
    target = torch.tensor([1.0, 0.0, 0.0])
    p = torch.sigmoid(logits)
    ref = torch.stack([-((1 - p[0]) ** 2) * torch.log(p[0]), -(p[1] ** 2) * torch.log(1 - p[1]), -(p[2] ** 2) * torch.log(1 - p[2])]).mean()
    assert float(focal_loss(logits, target, 2.0)) == pytest.approx(float(ref), rel=1e-5)
    w = torch.tensor([1.0, 0.0, 0.0])
    assert float(focal_loss(logits, target, 2.0, w)) == pytest.approx(float(-((1 - p[0]) ** 2) * torch.log(p[0])), rel=1e-5)


def test_labelled_anomalies_only_reviewed_test_cases(small_demo):
    from core.domain import Decision
    from core.models.training_data import labelled_anomalies
    from core.workspace import Workspace

    ws = Workspace.open(small_demo)
    assert labelled_anomalies(ws, "fundus") == []  # demo lesions are unreviewed test cases
    lesion = next(c for c in ws.cases() if c.id.startswith("FUN-L"))
    ws.set_review(lesion.id, "tester", decision=Decision.ABNORMAL)
    found = labelled_anomalies(ws, "fundus")
    assert [c.case_id for c in found] == [lesion.id]
    im = found[0].of("fundus")
    assert im.mask.any() and im.mask.shape == im.pixels.shape[:2]
