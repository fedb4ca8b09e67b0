"""Qt-free state of model runs: which fitted model the user works with, the progress of a run
(per case, ETA), and readable messages for the errors a run can meet."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from core.workspace import Workspace


@dataclass(frozen=True)
class ModelChoice:
    """One fitted model version in the workspace."""

    name: str
    version: str
    title: str
    modality: str
    threshold: float
    pixel_threshold: float
    created: str = ""
    active: bool = False
    caveat: str = ""  # warnings about its case score (:func:`case_score_caveat`)

    @property
    def key(self) -> tuple[str, str]:
        return self.name, self.version

    @property
    def label(self) -> str:
        return f"{self.name} · {self.modality} · {short_time(self.created)}" + (" ✓" if self.active else "")

    @classmethod
    def from_version(cls, v) -> ModelChoice:
        """From a core.workspace.versions.VersionRecord (a damaged catalog card gives defaults)."""
        card = v.card
        return cls(
            name=v.name,
            version=v.version,
            title=card.method if card else v.name,
            modality=v.modality or (card.modality if card else "?"),
            threshold=float(card.threshold) if card else 3.0,
            pixel_threshold=float(card.pixel_threshold) if card else 3.0,
            created=str(v.created or (card.created if card else "")),
            active=v.active,
            caveat=card.caveat if card else v.problem,
        )


def short_time(iso: str) -> str:
    """'2026-11-23T11:51:34+00:00' -> '23 Nov 11:51' (local time)."""
    from datetime import datetime

    try:
        t = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso[:16]
    if t.tzinfo is not None:
        t = t.astimezone()
    return t.strftime("%d %b %H:%M")


def available_models(ws: Workspace) -> list[ModelChoice]:
    """Every fitted version of every method in the workspace, newest first."""
    from core.models import store

    rows = store.list_versions(ws)
    return sorted((ModelChoice.from_version(r) for r in rows), key=lambda c: c.created, reverse=True)


def default_choice(choices: list[ModelChoice], wanted: str | None = None) -> ModelChoice | None:
    """``wanted`` is ``name`` or ``name:version``; otherwise the newest active version."""
    if wanted:
        name, _, version = wanted.partition(":")
        for c in choices:
            if c.name == name and (c.version == version or (not version and c.active)):
                return c
        for c in choices:
            if c.name == name and not version:
                return c
        return None
    active = [c for c in choices if c.active]
    return (active or choices or [None])[0]


def runnable(choice: ModelChoice, cases) -> tuple[list[str], dict[str, str]]:
    """Split case records into those the model can score and the skipped ones (with why)."""
    ok, skipped = [], {}
    for c in cases:
        if any(im.modality.value == choice.modality for im in c.images):
            ok.append(c.id)
        else:
            skipped[c.id] = f"no {choice.modality} image"
    return ok, skipped


@dataclass
class RunState:
    """Progress of one run of a model over cases; updated on the GUI thread only."""

    run_id: int
    model: ModelChoice
    device: str
    case_ids: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    durations: list[float] = field(default_factory=list)
    current: str | None = None
    status: str = "running"  # running | done | cancelled | failed
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def total(self) -> int:
        return len(self.case_ids)

    @property
    def processed(self) -> int:
        return len(self.done) + len(self.failed)

    @property
    def remaining(self) -> list[str]:
        seen = set(self.done) | set(self.failed)
        return [c for c in self.case_ids if c not in seen]

    @property
    def running(self) -> bool:
        return self.status == "running"

    def eta_seconds(self) -> float | None:
        """Mean time per finished case times the cases left; None before the first case ends."""
        if not self.durations:
            return None
        left = len(self.remaining)
        return sum(self.durations) / len(self.durations) * left

    def record_done(self, case_id: str, seconds: float) -> None:
        if case_id not in self.done:
            self.done.append(case_id)
        self.durations.append(max(0.0, float(seconds)))
        self.current = None

    def record_failed(self, case_id: str, message: str) -> None:
        self.failed[case_id] = message
        self.current = None

    def finish(self, status: str, error: str | None = None) -> None:
        self.status = status
        self.error = error
        self.current = None
        self.finished = time.monotonic()

    def progress_text(self) -> str:
        if self.status == "running":
            parts = [f"{self.processed}/{self.total}"]
            if self.current:
                parts.append(f"running {self.current}")
            eta = self.eta_seconds()
            if eta is not None and self.remaining:
                parts.append(f"about {format_seconds(eta)} left")
            return " · ".join(parts)
        return self.summary()

    def summary(self) -> str:
        took = format_seconds((self.finished or time.monotonic()) - self.started)
        head = {"done": "Finished", "cancelled": "Cancelled", "failed": "Failed"}.get(self.status, "Running")
        text = f"{head}: {len(self.done)} of {self.total} case(s) scored in {took}"
        if self.failed:
            text += f", {len(self.failed)} failed"
        if self.skipped:
            text += f", {len(self.skipped)} skipped (no {self.model.modality} image)"
        return text


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def is_out_of_memory(exc: BaseException) -> bool:
    name = type(exc).__name__
    return isinstance(exc, MemoryError) or name == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def describe_error(exc: BaseException, what: str = "") -> str:
    """One readable line for an error met while running a model (shown in the window and logged)."""
    from core.errors import StudioError

    prefix = f"{what}: " if what else ""
    if is_out_of_memory(exc):
        where = "GPU" if ("cuda" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError") else "memory (RAM)"
        return f"{prefix}out of {where}. Close other programs using it, run fewer cases at once, or choose the CPU as the device."
    if isinstance(exc, StudioError):
        return f"{prefix}{exc}"
    if isinstance(exc, FileNotFoundError):
        return f"{prefix}file not found: {exc.filename or exc}"
    if isinstance(exc, OSError):
        target = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"{prefix}cannot read or write{target}: {exc.strerror or exc}"
    return f"{prefix}unexpected {type(exc).__name__}: {exc} (details in the log file)"
