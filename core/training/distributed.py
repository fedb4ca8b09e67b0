"""Running ``anomaly-studio train`` under ``torchrun`` (one or several machines).

``torchrun --nproc_per_node N [--nnodes M --node_rank R --rdzv_endpoint HOST:PORT] -m app.main
train MODEL --workspace W`` sets RANK / WORLD_SIZE / LOCAL_RANK; :func:`init_from_env` joins the
process group (NCCL on CUDA, gloo on CPU), picks the local GPU, and returns the rank and world
size for the :class:`TrainingContext`. Data loaders made with :func:`make_loader` shard the data
with a DistributedSampler; the Trainer wraps the module in DistributedDataParallel; only rank 0
writes checkpoints, progress and the new model version. At the end every rank reports a checksum
of its weights and rank 0 checks they agree.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def init_from_env(device: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun; a no-op for a single process."""
    import torch
    import torch.distributed as dist

    world = env_world_size()
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, backend=backend)


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if dist.get_world_size() > 1:
            dist.barrier()  # leave together: a rank tearing gloo down while its peer still talks aborts the peer
        dist.destroy_process_group()


def leave_process(code: int = 0) -> None:
    """End a torchrun rank whose work is saved and whose process group is gone, skipping interpreter
    teardown: gloo's background threads can abort it ('terminate called without an active
    exception'), and torchrun would then report a finished, saved run as failed."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def is_distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is True on any rank (all ranks must call this); the flag
    itself outside torchrun. Keeps the ranks stepping together when one of them is asked to stop."""
    if not is_distributed():
        return bool(flag)
    import torch
    import torch.distributed as dist

    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def make_loader(dataset, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False, **kwargs):
    """A DataLoader that shards ``dataset`` across ranks under torchrun (plain loader otherwise)."""
    import torch
    from torch.utils.data import DataLoader, DistributedSampler

    if is_distributed():
        sampler: DistributedSampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last, **kwargs)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, generator=generator, **kwargs)


def state_checksum(module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def gather_checksums(module) -> list[str]:
    """Every rank's weight checksum (all ranks must call this)."""
    import torch.distributed as dist

    mine = state_checksum(module)
    if not is_distributed():
        return [mine]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, mine)
    return out
