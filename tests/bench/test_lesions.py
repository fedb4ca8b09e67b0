"""The benchmark's independent lesion generator: exact masks, determinism, field of view."""

from __future__ import annotations

import numpy as np
import pytest

from bench.lesions import FUNDUS_KINDS, OCT_KINDS, fundus_fov, fundus_lesion, mri_lesion, oct_lesion


@pytest.fixture(scope="module")
def retina():
    from core.data.synthetic.fundus import load_retina

    img = load_retina()
    return img, fundus_fov(img)


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a != b
    return d.any(axis=-1) if d.ndim == 3 and a.shape[-1] == 3 else d


@pytest.mark.parametrize("kind", FUNDUS_KINDS)
def test_fundus_mask_is_exactly_where_pixels_changed(retina, kind):
    img, fov = retina
    for radius, contrast in ((3, "faint"), (20, "strong"), (10, "faint")):
        les = fundus_lesion(img, radius, contrast, seed=radius, kind=kind, fov=fov)
        assert les.image.shape == img.shape and les.image.dtype == img.dtype and les.kind == kind
        changed = _changed(les.image, img)
        assert not (changed & ~les.mask).any()  # nothing outside the mask changed
        assert changed[les.mask].mean() > 0.95  # and the mask is the lesion, not a halo around it
        area = les.mask.sum()
        assert 0.4 * np.pi * radius**2 < area < 2.5 * np.pi * radius**2 + 12


def test_fundus_contrast_and_colour(retina):
    img, fov = retina
    f = img.astype(np.float32)
    dark = {c: fundus_lesion(img, 15, c, seed=4, kind="haemorrhage", fov=fov) for c in ("faint", "strong")}
    shifts = {c: float((f - les.image.astype(np.float32))[les.mask].mean()) for c, les in dark.items()}
    assert shifts["strong"] > 2 * shifts["faint"] > 0  # darker, and more so at strong contrast
    bright = fundus_lesion(img, 15, "strong", seed=4, kind="exudate", fov=fov)
    assert (bright.image.astype(np.float32) - f)[bright.mask].mean() > 20


def test_deterministic_per_seed_and_seeds_differ(retina):
    img, fov = retina
    a = fundus_lesion(img, 8, "strong", seed=11, fov=fov)
    b = fundus_lesion(img, 8, "strong", seed=11, fov=fov)
    c = fundus_lesion(img, 8, "strong", seed=12, fov=fov)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert a.centre != c.centre and not np.array_equal(a.mask, c.mask)


def test_never_touches_pixels_outside_the_field_of_view(retina):
    from core.data.synthetic.fundus import fov_mask  # the demo's own, independent definition of the field of view

    img, fov = retina
    reference = fov_mask(img)
    ys, xs = np.nonzero(fov)
    edge = (int(xs.min()) + 2, int(ys[xs == xs.min()].mean()))  # (x, y) on the left rim of the field of view
    lesions = [fundus_lesion(img, 40, "strong", seed=1, kind="cotton_wool", centre=edge, fov=fov)]
    lesions += [fundus_lesion(img, r, "strong", seed=s, fov=fov) for s, r in ((2, 40), (3, 20), (5, 6))]
    for les in lesions:
        changed = _changed(les.image, img)
        assert changed.any()
        assert not (changed & ~reference).any() and not (les.mask & ~reference).any()
    assert lesions[0].mask.sum() < np.pi * 40**2 * 0.7  # the rim cut the lesion off


@pytest.mark.parametrize("kind", OCT_KINDS)
def test_oct_lesions(kind):
    from core.data.synthetic.oct import render_bscan

    scan = render_bscan(np.random.default_rng(0)).image
    for radius, contrast in ((4, "faint"), (20, "strong")):
        les = oct_lesion(scan, radius, contrast, seed=radius, kind=kind)
        changed = les.image != scan
        assert not (changed & ~les.mask).any() and changed[les.mask].mean() > 0.9
        delta = les.image.astype(np.float32)[les.mask].mean() - scan.astype(np.float32)[les.mask].mean()
        assert delta < -5 if kind == "fluid" else delta > 5
    again = oct_lesion(scan, 20, "strong", seed=20, kind=kind)
    np.testing.assert_array_equal(again.image, les.image)


def test_mri_ellipsoid_inside_the_brain():
    yy, zz, xx = np.mgrid[:48, :48, :48]
    brain = ((yy - 24) ** 2 + (zz - 24) ** 2 + (xx - 24) ** 2) < 20**2
    rng = np.random.default_rng(0)
    vol = np.where(brain, 600 + rng.normal(0, 20, brain.shape), 0).astype(np.int16)
    for polarity in ("bright", "dark"):
        les = mri_lesion(vol, 5, "strong", seed=3, polarity=polarity)
        changed = les.image != vol
        assert les.image.dtype == vol.dtype
        assert not (changed & ~les.mask).any() and changed[les.mask].mean() > 0.95
        assert not (les.mask & ~brain).any()
        assert 0.5 < les.mask.sum() / (4 / 3 * np.pi * 5**3) < 1.6
        delta = float(les.image[les.mask].mean()) - float(vol[les.mask].mean())
        assert delta > 100 if polarity == "bright" else delta < -100
    other = mri_lesion(vol, 5, "strong", seed=4)
    assert not np.array_equal(other.mask, les.mask)


def test_bad_arguments():
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="contrast"):
        fundus_lesion(img, 3, "medium")
    with pytest.raises(ValueError, match="kind"):
        fundus_lesion(img, 3, "faint", kind="drusen")
    with pytest.raises(ValueError, match="grey B-scan"):
        oct_lesion(img, 3)
