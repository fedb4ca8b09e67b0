"""Batches drawn afresh every epoch (synthetic anomalies): reproducible from (seed, epoch), so a
resumed run sees the same data as an uninterrupted one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class EpochBatches:
    """``make_batch(rng, indices)`` builds one batch from item indices; an epoch visits
    ``samples_per_epoch`` items (a permutation of the items, repeated as needed) in batches of
    ``batch_size``; the last partial batch is kept."""

    def __init__(
        self,
        n_items: int,
        batch_size: int,
        make_batch: Callable[[np.random.Generator, list[int]], Any],
        *,
        seed: int = 0,
        samples_per_epoch: int = 0,
        stream: int = 0,
    ):
        if n_items < 1:
            raise ValueError("no training items")
        self.n_items = int(n_items)
        self.batch_size = max(1, int(batch_size))
        self.make_batch = make_batch
        self.seed = int(seed)
        self.stream = int(stream)
        self.samples = max(int(samples_per_epoch), 0) or self.n_items
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return -(-self.samples // self.batch_size)

    def rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.stream, self.epoch])

    def __iter__(self):
        rng = self.rng()
        reps = -(-self.samples // self.n_items)
        order = np.concatenate([rng.permutation(self.n_items) for _ in range(reps)])[: self.samples]
        for start in range(0, self.samples, self.batch_size):
            yield self.make_batch(rng, [int(i) for i in order[start : start + self.batch_size]])
