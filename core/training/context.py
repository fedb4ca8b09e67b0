"""Where a training run writes its checkpoints and how it reports progress.

A trained model's ``fit`` gets one in its ``FitContext.training`` (core.models.contract); without one
it trains in memory and reports through the plain ``progress`` callback only.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from core.runtime.progress import CancelToken

Emit = Callable[[dict], None]


@dataclass
class TrainingContext:
    run_dir: Path | None = None  # checkpoints: run_dir / "checkpoint.pt"
    resume: bool = False  # continue from run_dir's checkpoint when it exists
    emit: Emit | None = None  # structured events (JSON-lines writer, GUI)
    rank: int = 0  # distributed rank; only rank 0 writes files and progress
    world_size: int = 1
    extra: dict = field(default_factory=dict)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def event(self, **payload) -> None:
        if self.emit is not None and self.is_main:
            payload.setdefault("time", round(time.time(), 3))
            self.emit(payload)

    def child(self, name: str, **tags) -> TrainingContext:
        """A context for one stage of a multi-stage method: checkpoints in ``run_dir/name`` and
        every event tagged (e.g. ``stage="autoencoder"``)."""
        emit = self.emit
        if emit is not None and tags:
            parent = emit

            def emit(payload: dict) -> None:
                parent({**tags, **payload})

        return TrainingContext(
            run_dir=None if self.run_dir is None else Path(self.run_dir) / name,
            resume=self.resume,
            emit=emit,
            rank=self.rank,
            world_size=self.world_size,
            extra=dict(self.extra),
        )

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.run_dir is None else Path(self.run_dir) / "checkpoint.pt"


class JsonLinesWriter:
    """Thread-safe writer of one JSON object per line (stdout by default), flushed each time."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: dict) -> None:
        line = json.dumps(event, ensure_ascii=False, default=_default)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _default(obj):
    try:
        return float(obj)
    except (TypeError, ValueError):
        return str(obj)


class FileCancelToken(CancelToken):
    """Cancellation asked for by another process: the run stops at the next check once ``path``
    has been written after the token was made (the GUI writes it; works the same on Windows, where
    there is no SIGINT to send). A request left over from an earlier, stopped run is not one."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.reason = f"cancelled ({self.path.name} requested)"
        self.since = time.time()

    @property
    def cancelled(self) -> bool:
        if super().cancelled:
            return True
        try:
            return self.path.stat().st_mtime >= self.since
        except OSError:
            return False
