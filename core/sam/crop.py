"""Native-resolution crops for SAM prompts on small structures.

The encoder sees a 1411 px fundus photo at 256 px (5.5 times smaller), so a 6 px microaneurysm is
about one pixel of the model frame and a click on it returns a mask of its neighbourhood. For a
small prompt, a crop of the image around it is encoded instead (cached like any embedding, under a
key made of the image's hash and the crop box) and the mask is mapped back onto the image grid.
"""

from __future__ import annotations

import hashlib

import numpy as np

CROP_CONTEXT = 4.0  # a box prompt's crop is this many times the box's longer side
SMALL_SHARE = 0.2  # a box whose longer side is below this share of the image's longer side is small
MIN_GAIN = 1.5  # crop only when the crop is at least this much less shrunk than the whole image
SMALL_MASK_SHARE = 0.05  # a whole-image mask whose extent is below this share of the image side asks for a crop


def mask_is_small(mask: np.ndarray | None) -> bool:
    """No mask, or one whose bounding box is under :data:`SMALL_MASK_SHARE` of the image's longer side:
    the structure may be too small for the whole-image embedding (try a crop)."""
    if mask is None or not mask.any():
        return True
    ys, xs = np.nonzero(mask)
    return max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 < SMALL_MASK_SHARE * max(mask.shape)


def crop_key(image_sha: str, crop: tuple[int, int, int, int]) -> str:
    """Cache key (a hex digest, like an image hash) of ``crop`` (x0, y0, x1, y1) of the image ``image_sha``."""
    return hashlib.sha256(f"{image_sha}:crop:{','.join(str(int(v)) for v in crop)}".encode()).hexdigest()


def crop_box(
    hw: tuple[int, int], encoder_side: int, points: np.ndarray | None = None, box=None, context: float = CROP_CONTEXT
) -> tuple[int, int, int, int] | None:
    """The crop (x0, y0, x1, y1) to encode for a small prompt, None when the whole image should be
    encoded. A box is small when its longer side is under :data:`SMALL_SHARE` of the image's; a click
    (no box) gets a crop of twice the encoder's input side around the positive clicks. The crop is
    square where the image allows, at least the encoder's input side, and inside the image."""
    h, w = int(hw[0]), int(hw[1])
    side_img = max(h, w)
    if box is not None:
        x0, y0, x1, y1 = (float(v) for v in np.asarray(box, np.float32).reshape(4))
        extent = max(x1 - x0, y1 - y0, 1.0)
        if extent >= SMALL_SHARE * side_img:
            return None
        cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(extent * context, float(encoder_side))
    elif points is not None and len(points):
        p = np.asarray(points, np.float32).reshape(-1, 2)
        x0, y0 = p.min(axis=0)
        x1, y1 = p.max(axis=0)
        cx, cy = float(x0 + x1) / 2, float(y0 + y1) / 2
        side = max(2.0 * encoder_side, float(max(x1 - x0, y1 - y0)) * context)
    else:
        return None
    side = min(side, float(side_img))
    if side_img / side < MIN_GAIN:
        return None
    half = side / 2
    cx0 = int(round(min(max(cx - half, 0.0), max(w - side, 0.0))))
    cy0 = int(round(min(max(cy - half, 0.0), max(h - side, 0.0))))
    return cx0, cy0, min(w, cx0 + int(round(side))), min(h, cy0 + int(round(side)))


def crop_embedding(service, image: np.ndarray, image_sha: str | None, crop: tuple[int, int, int, int]) -> np.ndarray:
    """The embedding of ``crop`` of ``image``, computed once per (image hash, crop box)."""
    from core.hashing import array_sha256

    x0, y0, x1, y1 = crop
    pixels = np.ascontiguousarray(image[y0:y1, x0:x1])
    return service.embedding(pixels, crop_key(image_sha or array_sha256(image), crop))


def paste_mask(mask: np.ndarray, crop: tuple[int, int, int, int], hw: tuple[int, int]) -> np.ndarray:
    """A mask on the crop's grid placed on the whole image's grid."""
    x0, y0, x1, y1 = crop
    out = np.zeros((int(hw[0]), int(hw[1])), bool)
    out[y0:y1, x0:x1] = mask
    return out


def predict_small_prompts(service, image: np.ndarray, sha: str | None, points=None, labels=None, box=None, previous=None):
    """A mask for small prompts decoded on a native-resolution crop around them (core.sam.crop),
    mapped back onto the image; None when the prompts are not small, or when the crop's mask runs
    into the crop's edge inside the image (the structure is larger than the crop: decode on the whole
    image instead). The crop's embedding is cached under the image hash and the crop box."""
    from core.labels.sam_prompts import PromptResult, as_box, predict_prompts

    hw = (int(image.shape[0]), int(image.shape[1]))
    pts = np.asarray(points if points is not None else np.zeros((0, 2)), np.float32).reshape(-1, 2)
    labs = np.asarray(labels if labels is not None else np.ones(len(pts)), np.int64).reshape(-1)
    pos = pts[labs == 1] if (labs == 1).any() else pts
    crop = crop_box(hw, service.net.img_size, pos, box)
    if crop is None:
        return None
    x0, y0, x1, y1 = crop
    shift = np.array([x0, y0], np.float32)
    emb = crop_embedding(service, image, sha, crop)
    prev = previous if previous is not None and previous.crop == crop else None
    local_box = None if box is None else (np.asarray(box, np.float32).reshape(2, 2) - shift).reshape(4)
    res = predict_prompts(
        service, emb, (y1 - y0, x1 - x0), points=pts - shift if len(pts) else None, labels=labs, box=local_box, previous=prev
    )
    if res is None:
        return None
    m = res.mask
    inner_edges = [(y0 > 0, m[0]), (y1 < hw[0], m[-1]), (x0 > 0, m[:, 0]), (x1 < hw[1], m[:, -1])]
    if any(inside and edge.any() for inside, edge in inner_edges):
        return None
    chosen = None if res.box is None else as_box(np.asarray(res.box, np.float32) + np.r_[shift, shift])
    return PromptResult(paste_mask(m, crop, hw), res.score, res.logits, chosen, res.ms, crop)
