"""The per-image work around the encoder was made cheaper without changing a number: the SAM
preprocessing (channels-last resize, a grey image resized once) and PatchCore's 3x3 aggregation
(channels-last pooling) give bit-identical results to the previous code, kept here as reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.models.patchcore.model import aggregate_patch_features
from core.sam.model import SamNetwork


def reference_preprocess(image: np.ndarray, size: int = 256):
    """The preprocessing before the speed work (NCHW copy of the full image, grey repeated first)."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    a = a[..., :3].astype(np.float32)
    h, w = a.shape[:2]
    scale = size / max(h, w)
    nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
    t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]
    t = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    lo, hi = t.amin(), t.amax()
    t = (t - lo) / torch.clamp(hi - lo, min=1e-8)
    return F.pad(t, (0, size - nw, 0, size - nh)), (nh, nw)


@pytest.mark.parametrize("kind", ["rgb", "grey_u8", "grey_float", "wide"])
def test_sam_preprocessing_is_unchanged(kind):
    rng = np.random.default_rng(3)
    image = {
        "rgb": rng.integers(0, 256, (411, 397, 3), dtype=np.uint8),
        "grey_u8": rng.integers(0, 256, (496, 512), dtype=np.uint8),
        "grey_float": rng.random((233, 197), dtype=np.float32) * 900.0,
        "wide": rng.integers(0, 256, (120, 700, 4), dtype=np.uint8),
    }[kind]
    net = SamNetwork("litemedsam", 256, "minmax01", None, None, None, torch.device("cpu"), "", "")
    got, hw = net.preprocess(image)
    ref, ref_hw = reference_preprocess(image)
    assert hw == ref_hw and got.shape == (1, 3, 256, 256)
    assert torch.equal(got.contiguous(), ref)


def test_patchcore_aggregation_is_unchanged():
    torch.manual_seed(0)
    maps = [torch.rand(1, 160, 64, 60), torch.rand(1, 320, 64, 60)]
    ref = []
    for m in maps:
        ref.append(F.avg_pool2d(m, kernel_size=3, stride=1, padding=1, count_include_pad=False)[0].permute(1, 2, 0).reshape(-1, m.shape[1]))
    assert torch.equal(aggregate_patch_features(maps, 1024), torch.cat(ref, dim=1))


def _torch_up(a: np.ndarray, hw) -> np.ndarray:
    """(K, h, w) -> (K, H, W) with torch's bilinear resize (the previous implementation)."""
    t = torch.from_numpy(np.ascontiguousarray(a, np.float32))[:, None]
    return F.interpolate(t, size=hw, mode="bilinear", align_corners=False)[:, 0].numpy()


@pytest.mark.parametrize("frame_hw,image_hw", [((256, 256), (1411, 1411)), ((180, 256), (995, 1411)), ((64, 64), (496, 512))])
def test_map_upsampling_within_tolerance_of_torch(frame_hw, image_hw):
    """Stated tolerance: 2e-5 of the map's largest magnitude (OpenCV's bilinear resize vs torch)."""
    from scipy import ndimage

    from core.models.bank_model import upsample_map

    rng = np.random.default_rng(1)
    frame = ndimage.gaussian_filter(rng.normal(0, 3, frame_hw).astype(np.float32), 4)
    got = upsample_map(frame, image_hw)
    ref = _torch_up(frame[None], image_hw)[0]
    assert got.shape == image_hw and got.dtype == np.float32
    assert np.abs(got - ref).max() <= 2e-5 * np.abs(ref).max()


def test_sam_masks_upsampled_within_tolerance_of_torch():
    """Masks differ from torch's only where the interpolated logit lies within 1e-4 of zero."""
    from core.sam.service import upsample_masks

    rng = np.random.default_rng(2)
    logits = np.stack(
        [np.asarray(F.avg_pool2d(torch.from_numpy(rng.normal(0, 4, (1, 256, 256)).astype(np.float32)), 9, 1, 4)[0]) for _ in range(3)]
    )
    got = upsample_masks(logits[:, :200, :256], (1100, 1411))
    ref_logits = _torch_up(logits[:, :200, :256], (1100, 1411))
    differ = got != (ref_logits > 0)
    assert got.shape == (3, 1100, 1411) and got.dtype == bool
    assert np.all(np.abs(ref_logits[differ]) < 1e-4) and differ.mean() < 1e-4
