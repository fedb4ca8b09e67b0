"""SAM on small structures: a native-resolution crop around the prompt is encoded (cached by image
hash + crop box) and the mask comes back on the whole image's grid."""

from __future__ import annotations

import numpy as np
import pytest

from core.sam.crop import crop_box, crop_key, paste_mask


def test_crop_box_for_small_and_large_prompts():
    hw = (1411, 1411)
    c = crop_box(hw, 256, points=np.array([[700.0, 300.0]]))
    assert c is not None and c[2] - c[0] == 512 and c[3] - c[1] == 512  # twice the encoder input around a click
    assert c[0] <= 700 < c[2] and c[1] <= 300 < c[3]
    edge = crop_box(hw, 256, points=np.array([[5.0, 1405.0]]))
    assert edge[0] == 0 and edge[3] == 1411 and edge[2] - edge[0] == 512  # shifted inside the image
    small = crop_box(hw, 256, box=(600, 600, 640, 630))
    assert small is not None and small[2] - small[0] == 256  # at least the encoder input side
    assert crop_box(hw, 256, box=(100, 100, 900, 800)) is None  # a large box: the whole image
    assert crop_box((400, 300), 256, points=np.array([[10.0, 10.0]])) is None  # a small image gains nothing
    assert crop_box(hw, 256) is None


def test_crop_key_and_paste():
    k = crop_key("ab" * 32, (0, 0, 10, 10))
    assert len(k) == 64 and k != crop_key("ab" * 32, (0, 0, 10, 11)) and k != crop_key("cd" * 32, (0, 0, 10, 10))
    m = paste_mask(np.ones((4, 5), bool), (10, 20, 15, 24), (30, 40))
    assert m.sum() == 20 and m[20:24, 10:15].all()


def _disc_photo(h=1411, w=1411, centre=(820, 540), radius=9):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    img = np.empty((h, w, 3), np.float32)
    shade = 0.85 + 0.15 * np.cos(xx / 180.0) * np.sin(yy / 230.0)  # slow illumination change
    img[..., 0], img[..., 1], img[..., 2] = 200 * shade, 120 * shade, 70 * shade
    img += rng.normal(0, 3, img.shape)
    disc = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2
    img[disc] = (60, 20, 15)  # a dark red dot: a microaneurysm-sized disc
    return np.clip(img, 0, 255).astype(np.uint8), disc


@pytest.mark.slow
def test_a_click_on_a_small_disc_returns_a_mask_of_that_disc(tmp_path):
    from core.labels.sam_prompts import predict_prompts
    from core.sam import get_sam_service
    from core.sam.crop import predict_small_prompts
    from core.workspace.arrays import ArrayStore

    img, disc = _disc_photo()
    store = ArrayStore(tmp_path / "arrays.h5")
    sam = get_sam_service("litemedsam", "cpu", store)
    click = np.array([[820.0, 540.0]], np.float32)
    res = predict_small_prompts(sam, img, "ee" * 32, points=click, labels=np.array([1]))
    assert res is not None and res.crop is not None
    assert res.mask.shape == disc.shape
    iou = (res.mask & disc).sum() / (res.mask | disc).sum()
    assert iou > 0.5, f"crop mask IoU {iou:.2f}, area {res.mask.sum()} vs disc {disc.sum()}"
    # the crop's embedding was cached under the image hash + crop box
    assert sam.has_embedding(crop_key("ee" * 32, res.crop))
    whole = predict_prompts(sam, sam.embedding(img, "ff" * 32), img.shape[:2], points=click, labels=np.array([1]))
    whole_iou = 0.0 if whole is None else (whole.mask & disc).sum() / (whole.mask | disc).sum()
    assert iou > whole_iou  # the whole image at 256 px resolves the dot worse


def test_mask_is_small():
    from core.sam.crop import mask_is_small

    m = np.zeros((1000, 1000), bool)
    assert mask_is_small(m) and mask_is_small(None)
    m[100:120, 100:130] = True
    assert mask_is_small(m)
    m[100:300, 100:300] = True
    assert not mask_is_small(m)
