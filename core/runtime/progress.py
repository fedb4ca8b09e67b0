"""Progress callbacks and cancellation, plain Python: the GUI and the command line wrap them.

``Progress`` is ``progress(done, total, message)``; a :class:`CancelToken` is checked between
steps, and ``raise_if_cancelled`` ends the work with :class:`core.errors.CancelledError`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.errors import CancelledError

Progress = Callable[[int, int, str], None]


class CancelToken:
    """Thread-safe cancellation flag shared by the GUI and a worker."""

    reason = "cancelled by the user"

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise CancelledError(self.reason)


def no_progress(done: int, total: int, message: str) -> None:  # noqa: ARG001 - callback signature
    return None


def scaled(progress: Progress, start: int, span: int, total: int, prefix: str = "") -> Progress:
    """A sub-step's progress mapped into ``[start, start + span)`` of an outer ``total``."""

    def report(done: int, sub_total: int, message: str) -> None:
        frac = 0.0 if sub_total <= 0 else min(1.0, max(0.0, done / sub_total))
        progress(start + int(round(frac * span)), total, prefix + message)

    return report


def part_progress(progress: Progress, index: int, count: int, prefix: str = "", steps: int = 1000) -> Progress:
    """The progress of part ``index`` of ``count`` (an image of a case, a normal being calibrated on)
    reported in ``steps`` units per part, so a long part (a volume's slices) moves the bar."""

    def report(done: int, sub_total: int, message: str) -> None:
        frac = 0.0 if sub_total <= 0 else min(1.0, max(0.0, done / sub_total))
        progress(index * steps + int(frac * steps), count * steps, prefix + message)

    return report
