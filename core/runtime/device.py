"""Device selection (auto | cpu | cuda) and CPU threading defaults."""

from __future__ import annotations

import os

from core.errors import StudioError


def resolve_device(name: str = "auto"):
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise StudioError("device 'cuda' was requested but no CUDA GPU is available; use device=cpu or auto")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise StudioError(f"unknown device '{name}': use auto, cpu or cuda")


def describe_device(name: str = "auto") -> str:
    import torch

    dev = resolve_device(name)
    if dev.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(dev)}"
    return f"CPU ({torch.get_num_threads()} threads)"


def configure_cpu_threads() -> None:
    """Use the physical cores, not more (oversubscription slows small CPUs)."""
    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, os.cpu_count() or 1))
