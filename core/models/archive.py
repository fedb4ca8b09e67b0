"""Scoring a whole archive: every case of a workspace with an image the method scores, in chunks
(bounded memory: a chunk's results are handed on and dropped), resumable (cases this version has
scored already are skipped unless ``rescore``), and split across torchrun ranks (rank r of W takes
cases r, r + W, ...; every rank writes its own results through the workspace: the catalog is
SQLite in WAL mode with a busy timeout, the array store takes an inter-process file lock)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from core.models.base import AnomalyModel
from core.runtime.progress import CancelToken, Progress, no_progress
from core.workspace.results import StoredResult
from core.workspace.workspace import Workspace


@dataclass
class ArchivePlan:
    todo: list[str]  # this rank's cases still to score, in catalog order
    already_scored: int  # this rank's cases skipped because this version scored them before
    rank: int = 0
    world_size: int = 1
    total: int = 0  # cases of the archive the method scores (all ranks)


@dataclass
class ArchiveRun:
    scored: int = 0
    skipped: list[dict] = field(default_factory=list)


def rank_share(ids: Sequence[str], rank: int, world_size: int) -> list[str]:
    """Rank ``rank`` of ``world_size`` takes ids rank, rank + W, rank + 2W, ..."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside a world of {world_size}")
    return list(ids[rank::world_size])


def plan_archive(ws: Workspace, model: AnomalyModel, *, rank: int = 0, world_size: int = 1, rescore: bool = False) -> ArchivePlan:
    """The cases rank ``rank`` scores. The split is taken before the resume filter, so a rerun gives
    every rank the same share whatever was finished before."""
    ids = [c.id for c in ws.cases() if c.image(model.modality) is not None]
    mine = rank_share(ids, rank, world_size)
    done = set() if rescore else set(ws.results.scores(model.name, model.card.version))
    todo = [cid for cid in mine if cid not in done]
    return ArchivePlan(todo, len(mine) - len(todo), rank, world_size, len(ids))


def chunks(ids: Sequence[str], size: int) -> Iterator[list[str]]:
    size = max(1, int(size))
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def score_archive(
    ws: Workspace,
    model: AnomalyModel,
    plan: ArchivePlan,
    *,
    chunk: int = 32,
    on_results: Callable[[list[StoredResult]], None] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> ArchiveRun:
    """Score ``plan.todo`` chunk by chunk through :func:`core.models.store.predict_cases` (read ahead,
    store behind); ``on_results`` gets each chunk's stored results, which are not kept. A stopped run
    keeps everything stored so far; the next run resumes after it."""
    from core.models.store import predict_cases

    progress = progress or no_progress
    cancel = cancel or CancelToken()
    run = ArchiveRun()
    total = len(plan.todo)
    for k, part in enumerate(chunks(plan.todo, chunk)):
        offset = k * max(1, int(chunk))

        def report(done: int, _t: int, message: str, _o: int = offset) -> None:
            progress(min(total, _o + done), total, message)

        results, skipped = predict_cases(ws, model, part, progress=report, cancel=cancel)
        run.scored += len(results)
        run.skipped += skipped
        if on_results is not None:
            on_results(results)
    progress(total, total, "done")
    return run
