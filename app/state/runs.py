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
    members: tuple[ModelChoice, ...] = ()  # a method's active versions, one per modality (combined choice)

    @property
    def key(self) -> tuple[str, str]:
        return self.name, self.version

    @property
    def parts(self) -> tuple[ModelChoice, ...]:
        """The versions whose results this choice shows (itself, or the members of a combined choice)."""
        return self.members or (self,)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.modality for p in self.parts))

    @property
    def label(self) -> str:
        if self.members:
            return f"{self.name} · {' + '.join(self.modalities)} · active ✓"
        return f"{self.name} · {self.modality} · {short_time(self.created)}" + (" ✓" if self.active else "")

    @classmethod
    def combine(cls, members: list[ModelChoice]) -> ModelChoice:
        """One choice over a method's active versions of different modalities: its cases are scored
        by every member that scores one of their images (core.workspace.combined)."""
        first = members[0]
        return cls(
            name=first.name,
            version="+".join(m.version for m in members),
            title=first.title,
            modality=" + ".join(m.modality for m in members),
            threshold=min(m.threshold for m in members),
            pixel_threshold=first.pixel_threshold,
            created=max(m.created for m in members),
            active=True,
            caveat=" ".join(dict.fromkeys(m.caveat for m in members if m.caveat)),
            members=tuple(members),
        )

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
    versions = sorted((ModelChoice.from_version(r) for r in rows), key=lambda c: c.created, reverse=True)
    return method_choices(versions) + versions


DEFAULT_METHOD = {"fundus": "patchcore", "oct": "patchcore", "mri": "rasalore"}


def method_for(modality: str, current: str | None) -> str:
    """The method the Fit / Train action proposes for ``modality``: the chosen one where it scores
    that modality (RASALoRE scores MRI only; the others fundus and OCT), else a fast default."""
    if current and (current == "rasalore") == (modality == "mri"):
        return current
    return DEFAULT_METHOD.get(modality, "patchcore")


def load_scores(ws: Workspace, choice: ModelChoice) -> dict[str, float]:
    """{case: calibrated case score} of ``choice`` (a combined choice: each case's combined score)."""
    from core.models import store

    if not choice.members:
        return store.scores_for(ws, choice.name, choice.version)
    return {cid: s for cid, (s, _t) in store.combined_scores(ws, choice.name, [m.version for m in choice.members]).items()}


def method_choices(versions: list[ModelChoice]) -> list[ModelChoice]:
    """A combined choice for every method with active versions of two or more modalities."""
    out = []
    for name in dict.fromkeys(v.name for v in versions):
        active: dict[str, ModelChoice] = {}
        for v in versions:  # newest first: the newest active version of each modality
            if v.name == name and v.active and v.modality not in active:
                active[v.modality] = v
        if len(active) > 1:
            out.append(ModelChoice.combine(sorted(active.values(), key=lambda m: m.modality)))
    return out


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
    mods = set(choice.modalities)
    for c in cases:
        if any(im.modality.value in mods for im in c.images):
            ok.append(c.id)
        else:
            skipped[c.id] = f"no {' or '.join(choice.modalities)} image"
    return ok, skipped


def missing_modality(choice: ModelChoice | None, case) -> str | None:
    """A modality of ``case`` that no version of the chosen method scores (the one to fit or train
    next: a pair's OCT when only a fundus version exists), or None when every image is covered."""
    if case is None:
        return None
    mods = {im.modality.value for im in case.images if not getattr(im, "is_localizer", False)}
    missing = mods - set(choice.modalities if choice is not None else ())
    if choice is not None and choice.name == "mmrad" and mods & set(choice.modalities):
        return None  # one MMRAD version scores both images of a pair
    order = ("fundus", "oct", "mri")
    return next((m for m in order if m in missing), next(iter(sorted(missing)), None))


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
    step: tuple[int, int, str] | None = None  # the current case's own progress (done, total, message)
    case_started: float | None = None  # when the current case began (monotonic)

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

    @property
    def step_fraction(self) -> float:
        """How far the current case is (0..1) from its own progress reports."""
        if self.step is None or self.step[1] <= 0:
            return 0.0
        return min(1.0, max(0.0, self.step[0] / self.step[1]))

    @property
    def fraction(self) -> float:
        """How far the whole run is (0..1), the current case's progress included."""
        if not self.total:
            return 1.0
        return min(1.0, (self.processed + (self.step_fraction if self.current else 0.0)) / self.total)

    def start_case(self, case_id: str) -> None:
        self.current = case_id
        self.step = None
        self.case_started = time.monotonic()

    def record_step(self, done: int, total: int, message: str) -> None:
        self.step = (int(done), int(total), str(message))

    def eta_seconds(self) -> float | None:
        """Seconds left: the current case extrapolated from its own progress, plus the mean time per
        case (finished cases, else the current case's estimate) times the cases after it; None
        until there is anything to extrapolate from."""
        left_after = max(len(self.remaining) - (1 if self.current else 0), 0)
        per_case = sum(self.durations) / len(self.durations) if self.durations else None
        current_left = None
        if self.current and self.case_started is not None:
            frac = self.step_fraction
            elapsed = time.monotonic() - self.case_started
            if frac >= 0.02 and elapsed >= 0.5:
                estimate = elapsed / frac
                current_left = estimate - elapsed
                per_case = per_case if per_case is not None else estimate
            elif per_case is not None:
                current_left = max(per_case - elapsed, 0.0)
        if per_case is None:
            return None
        return (current_left or 0.0) + per_case * left_after

    def record_done(self, case_id: str, seconds: float) -> None:
        if case_id not in self.done:
            self.done.append(case_id)
        self.durations.append(max(0.0, float(seconds)))
        self.current = None
        self.step = None

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
            parts = [f"case {min(self.processed + 1, self.total)} of {self.total}" if self.current else f"{self.processed}/{self.total}"]
            if self.current:
                parts.append(f"{self.current}: {self.step[2]}" if self.step and self.step[2] else f"running {self.current}")
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


def describe_load_error(exc: BaseException) -> str:
    """Why a case's pixels cannot be shown, for the review panel: a missing file is named as such."""
    from core.errors import IntegrityError

    text = str(exc).lower()
    if isinstance(exc, FileNotFoundError) or "is missing" in text or "no such file" in text or "does not exist" in text:
        name = getattr(exc, "filename", None) or getattr(exc, "path", None)
        return f"Image file missing{f': {name}' if name else ''}. Restore the file or import the case again."
    if isinstance(exc, IntegrityError):
        return f"Image file changed since import: {exc}"
    return f"Cannot read the image: {describe_error(exc)}"
