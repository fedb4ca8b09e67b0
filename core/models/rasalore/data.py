"""Training slices of RASALoRE: which slices, their pixels and weak masks, batches, augmentation.

A training case is planned once (:func:`core.models.rasalore.slicing.plan_slices` on its first
sequence); every co-registered sequence of the case uses the same plan, so a weak mask made on
one sequence is the weak mask of the same slice in the others.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field, replace

import numpy as np

from core.domain import LoadedImage
from core.models.rasalore.settings import RasaloreSettings
from core.models.rasalore.slicing import SliceGeometry, normalise_volume, plan_slices
from core.models.rasalore.supervision import HEALTHY, UNHEALTHY, LabelledCase, slice_labels


def sequence_of(image: LoadedImage) -> str:
    """The MRI sequence an image holds (t1, t1ce, t2, flair, ...): its metadata, else its name."""
    seq = (image.record.meta.sequence or image.record.name or "mri").lower()
    return "".join(ch if ch.isalnum() else "_" for ch in seq)


def plan_for(image: LoadedImage, config: RasaloreSettings) -> SliceGeometry:
    return plan_slices(
        image.array,
        image.record.meta.affine_array(),
        size=config.image_size,
        skip=config.skip_slices,
        plane=str(config.slice_plane),
        margin=config.crop_margin,
    )


@dataclass
class TrainCase:
    """One training case: its plan, slice labels and its images by sequence."""

    case_id: str
    geometry: SliceGeometry
    labels: np.ndarray  # (n,) int8 per kept slice
    images: dict[str, LoadedImage] = field(default_factory=dict)
    selected: np.ndarray | None = None  # kept-slice indices used for training

    def slices(self, sequence: str, size: int, ks: np.ndarray, gamma: float) -> np.ndarray:
        """(len(ks), size, size) normalised slices of one sequence."""
        im = self.images[sequence]
        geo = replace(self.geometry, indices=tuple(self.geometry.indices[int(k)] for k in ks), size=int(size))
        return geo.extract(normalise_volume(im.array, gamma)).astype(np.float32)


def build_cases(
    normals: list[LoadedImage], labelled: list[LabelledCase], config: RasaloreSettings, *, exclude: Collection[str] = frozenset()
) -> list[TrainCase]:
    """Training cases from normal volumes (every kept slice healthy) and slice-labelled cases;
    images whose content hash is in ``exclude`` (calibration hold-outs) are left out."""
    cases: dict[str, TrainCase] = {}
    kw = dict(min_lesion_pixels=config.label_min_pixels, healthy_max_pixels=config.healthy_max_pixels)
    for lc in labelled:
        ims = [im for im in lc.images() if im.sha256 not in exclude]
        if not ims:
            continue
        geo = plan_for(ims[0], config)
        ims = [im for im in ims if tuple(im.array.shape) == geo.shape]  # co-registered sequences only
        # per-image slice decisions: a slice any sequence marks unhealthy is unhealthy
        labels = np.max([slice_labels(geo, lc, im.record.name, **kw) for im in ims], axis=0).astype(np.int8)
        cases[lc.case.id] = TrainCase(lc.case.id, geo, labels, {sequence_of(im): im for im in ims})
    for im in normals:
        if im.sha256 in exclude:
            continue
        cid = im.record.case_id
        if cid in cases:
            tc = cases[cid]
            if tuple(im.array.shape) == tc.geometry.shape:
                tc.images.setdefault(sequence_of(im), im)
            continue
        geo = plan_for(im, config)
        cases[cid] = TrainCase(cid, geo, np.full(geo.n, HEALTHY, np.int8), {sequence_of(im): im})
    return [c for c in cases.values() if c.images and (c.labels >= 0).any()]


def select_slices(cases: list[TrainCase], config: RasaloreSettings, seed: int) -> None:
    """Choose the training slices: every unhealthy slice, healthy ones up to ``healthy_ratio`` times
    as many (0: unhealthy only, as the official code), all capped by ``max_train_slices``."""
    rng = np.random.default_rng(seed)
    unhealthy = [(i, k) for i, c in enumerate(cases) for k in np.flatnonzero(c.labels == UNHEALTHY)]
    healthy = [(i, k) for i, c in enumerate(cases) for k in np.flatnonzero(c.labels == HEALTHY)]
    ratio = config.healthy_ratio
    n_h = len(healthy) if ratio < 0 else min(len(healthy), int(round(ratio * max(len(unhealthy), 1))))
    cap = config.max_train_slices
    if cap > 0 and len(unhealthy) + n_h > cap:
        n_u = min(len(unhealthy), max(1, int(round(cap * len(unhealthy) / (len(unhealthy) + n_h)))))
        n_h = max(0, cap - n_u)
        unhealthy = [unhealthy[j] for j in np.sort(rng.choice(len(unhealthy), n_u, replace=False))]
    pick_h = [healthy[j] for j in np.sort(rng.choice(len(healthy), n_h, replace=False))] if n_h else []
    chosen: dict[int, list[int]] = {}
    for i, k in unhealthy + pick_h:
        chosen.setdefault(i, []).append(int(k))
    for i, c in enumerate(cases):
        c.selected = np.array(sorted(chosen.get(i, [])), dtype=np.int64)


def index_batches(n: int, batch_size: int, seed: int, samples_per_epoch: int = 0):
    """Shuffled, sorted index tensors over ``n`` training items, a new order every epoch (seeded by the
    epoch, so a resumed run sees the same order); an epoch is ``samples_per_epoch`` items (at least
    one pass) to give small training sets enough optimiser steps."""
    import torch

    from core.training.batches import EpochBatches

    return EpochBatches(
        n,
        batch_size,
        lambda _rng, idx: torch.from_numpy(np.sort(np.asarray(idx, np.int64))),
        seed=seed,
        samples_per_epoch=max(int(samples_per_epoch), n),
    )


def augment(x, masks: list, generator=None, noise_std: float = math.sqrt(10.0) / 255.0, max_rotation: float = 90.0):
    """Paper augmentation on a (B, 1, S, S) batch in [0, 1] and its (B, 1, S, S) masks: random rotation
    in [-max_rotation, max_rotation] degrees (paper: 90), horizontal / vertical flips, brightness and
    contrast in [0.8, 1.2], Gaussian noise N(0, 10) on the 0-255 scale. Masks follow the geometry
    (nearest neighbour)."""
    import torch
    import torch.nn.functional as F

    b = x.shape[0]
    dev = x.device
    g = generator

    def rand(*shape):
        return torch.rand(*shape, generator=g).to(dev)

    ang = (rand(b) * 2.0 - 1.0) * float(max_rotation) * math.pi / 180.0
    fx = torch.where(rand(b) < 0.5, -1.0, 1.0).to(dev)
    fy = torch.where(rand(b) < 0.5, -1.0, 1.0).to(dev)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.zeros(b, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1] = cos * fx, -sin * fy
    theta[:, 1, 0], theta[:, 1, 1] = sin * fx, cos * fy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out_masks = [None if m is None else F.grid_sample(m, grid, mode="nearest", padding_mode="zeros", align_corners=False) for m in masks]
    bright = (0.8 + 0.4 * rand(b)).view(-1, 1, 1, 1)
    contrast = (0.8 + 0.4 * rand(b)).view(-1, 1, 1, 1)
    x = x * bright
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    if noise_std > 0:
        x = x + torch.randn(x.shape, generator=g).to(dev) * noise_std
    return x.clamp(0.0, 1.0), out_masks
