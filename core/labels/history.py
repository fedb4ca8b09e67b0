"""Undo / redo stack. A step records the state before and after one user action (a whole brush
stroke is one step). States are opaque to the stack: editors store immutable snapshots or patches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_LIMIT = 200  # the issue asks for at least 50 steps per image


@dataclass(frozen=True)
class Step:
    text: str
    before: Any
    after: Any


class History:
    def __init__(self, limit: int = DEFAULT_LIMIT):
        if limit < 1:
            raise ValueError("history limit must be at least 1")
        self.limit = limit
        self._done: list[Step] = []
        self._undone: list[Step] = []

    def push(self, step: Step) -> None:
        self._done.append(step)
        if len(self._done) > self.limit:
            del self._done[: len(self._done) - self.limit]
        self._undone.clear()

    def undo(self) -> Step | None:
        if not self._done:
            return None
        step = self._done.pop()
        self._undone.append(step)
        return step

    def redo(self) -> Step | None:
        if not self._undone:
            return None
        step = self._undone.pop()
        self._done.append(step)
        return step

    def can_undo(self) -> bool:
        return bool(self._done)

    def can_redo(self) -> bool:
        return bool(self._undone)

    def undo_text(self) -> str:
        return self._done[-1].text if self._done else ""

    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    def steps(self) -> list[Step]:
        """Every stored step, oldest first (done then undone), e.g. to rewrite them after a rename."""
        return list(self._done) + list(reversed(self._undone))

    def map_states(self, fn) -> None:
        """Replace every stored state by ``fn(state)`` (used when a class is renamed)."""
        self._done = [Step(s.text, fn(s.before), fn(s.after)) for s in self._done]
        self._undone = [Step(s.text, fn(s.before), fn(s.after)) for s in self._undone]

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()

    def __len__(self) -> int:
        return len(self._done)
