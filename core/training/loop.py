"""The training loop shared by ReSynthDetect, MMRAD and RASALoRE.

``Trainer.run(loader, step_fn, epochs)``: ``step_fn(batch)`` returns a dict of loss terms with the
total under ``"loss"``. Each step emits ``{"event": "step", "epoch", "step", "steps", "loss",
"terms", "lr", "eta_s"}``; each epoch ends with a checkpoint (model, optimiser, scheduler, AMP
scaler, epoch, RNG state) written atomically by rank 0 and an ``"epoch"`` event. ``resume``
continues from the checkpoint. Cancel is checked between steps and leaves the last checkpoint.
Under ``torchrun`` (torch.distributed initialised) the module is wrapped in
DistributedDataParallel and only rank 0 writes.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import CancelledError
from core.runtime.progress import CancelToken, Progress, no_progress
from core.training.context import TrainingContext
from core.training.distributed import any_rank


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps completed
    history: list[dict] = field(default_factory=list)  # one entry per epoch
    best: dict | None = None  # the epoch whose weights were kept, when a caller selects one


class Trainer:
    def __init__(
        self,
        module,
        optimizer,
        scheduler=None,
        *,
        device=None,
        amp: bool | str = "auto",
        context: TrainingContext | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
        grad_clip: float | None = None,
    ):
        import torch

        self.device = device or torch.device("cpu")
        self.module = module.to(self.device)
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.context = context or TrainingContext()
        self.progress = progress or no_progress
        self.cancel = cancel or CancelToken()
        self.grad_clip = grad_clip
        cuda = self.device.type == "cuda"
        self.amp = cuda if amp == "auto" else bool(amp) and cuda
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        if cuda:
            torch.backends.cudnn.benchmark = True
        self.state = TrainState()
        self.train_module = self.module
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            from torch.nn.parallel import DistributedDataParallel

            self.train_module = DistributedDataParallel(self.module, device_ids=[self.device.index] if cuda else None)

    # -- checkpoints -----------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        import torch

        from core.io.atomic import atomic_path

        path = self.context.checkpoint_path
        if path is None or not self.context.is_main:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "scaler": self.scaler.state_dict(),
            "epoch": self.state.epoch,
            "step": self.state.step,
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": torch.from_numpy(
                np.frombuffer(np.random.get_state(legacy=False)["state"]["key"].tobytes(), dtype=np.uint8).copy()
            ),
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    def load_checkpoint(self) -> bool:
        import torch

        path = self.context.checkpoint_path
        if path is None or not path.exists():
            return False
        ckpt = torch.load(path, map_location=self.device, weights_only=True)
        self.module.load_state_dict(ckpt["module"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler"):
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.state.epoch = int(ckpt["epoch"])
        self.state.step = int(ckpt["step"])
        torch.set_rng_state(ckpt["torch_rng"].cpu())
        self.context.event(event="resumed", epoch=self.state.epoch, step=self.state.step)
        return True

    # -- the loop --------------------------------------------------------------------------------
    def run(
        self,
        loader: Iterable,
        step_fn: Callable[[Any], dict],
        epochs: int,
        *,
        steps_per_epoch: int | None = None,
        on_epoch_end: Callable[[int], dict | None] | None = None,
    ) -> TrainState:
        import torch

        if self.context.resume:
            self.load_checkpoint()
        steps = steps_per_epoch or (len(loader) if isinstance(loader, Sized) else 0)
        total_steps = max(1, steps * epochs)
        t0 = time.monotonic()
        done_at_start = self.state.step
        self.context.event(event="start", epochs=epochs, steps_per_epoch=steps, start_epoch=self.state.epoch)
        for epoch in range(self.state.epoch, epochs):
            if hasattr(loader, "sampler") and hasattr(loader.sampler, "set_epoch"):
                loader.sampler.set_epoch(epoch)
            elif hasattr(loader, "set_epoch"):  # core.training.batches.EpochBatches: data drawn per epoch
                loader.set_epoch(epoch)
            self.train_module.train()
            sums: dict[str, float] = {}
            count = 0
            for i, batch in enumerate(loader):
                if any_rank(self.cancel.cancelled):  # under torchrun all ranks stop at the same step
                    self.context.event(event="cancelled", epoch=epoch, step=self.state.step)
                    raise CancelledError("training cancelled by the user")
                with torch.autocast(device_type=self.device.type, enabled=self.amp):
                    terms = step_fn(batch)
                loss = terms["loss"]
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"loss became {float(loss)} at epoch {epoch + 1}, step {i + 1}; lower the learning rate or check the data"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                if self.grad_clip:
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.state.step += 1
                count += 1
                values = {k: float(v.detach()) if hasattr(v, "detach") else float(v) for k, v in terms.items()}
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + v
                elapsed = time.monotonic() - t0
                done = self.state.step - done_at_start
                remaining = total_steps - (epoch * steps + i + 1)
                eta = elapsed / done * remaining if done else math.nan
                lr = float(self.optimizer.param_groups[0]["lr"])
                self.context.event(
                    event="step",
                    epoch=epoch + 1,
                    epochs=epochs,
                    step=i + 1,
                    steps=steps,
                    global_step=self.state.step,
                    loss=values["loss"],
                    terms={k: v for k, v in values.items() if k != "loss"},
                    lr=lr,
                    eta_s=None if math.isnan(eta) else round(eta, 1),
                )
                self.progress(
                    epoch * steps + i + 1, total_steps, f"epoch {epoch + 1}/{epochs} step {i + 1}/{steps} loss {values['loss']:.4f}"
                )
                if steps_per_epoch and i + 1 >= steps_per_epoch:
                    break
            if self.scheduler is not None:
                self.scheduler.step()
            self.state.epoch = epoch + 1
            means = {k: v / max(count, 1) for k, v in sums.items()}
            extra = on_epoch_end(epoch + 1) if on_epoch_end else None
            self.state.history.append({"epoch": epoch + 1, **means, **(extra or {})})
            self.save_checkpoint()
            self.context.event(event="epoch", epoch=epoch + 1, epochs=epochs, mean=means, **(extra or {}))
        from core.training.distributed import gather_checksums, is_distributed

        if is_distributed():
            checksums = gather_checksums(self.module)
            self.context.event(event="ranks", world_size=len(checksums), checksums=checksums, consistent=len(set(checksums)) == 1)
        self.context.event(event="end", epoch=self.state.epoch, step=self.state.step)
        return self.state
