"""Overlap reading and writing with compute when many cases are scored one after another.

:class:`Pipeline` loads the next ``ahead`` items on a reader thread while the caller scores the
current one, and runs stores on a writer thread in submission order, at most ``behind`` of them
pending (so memory stays bounded: the current case, the ones read ahead and the few waiting to be
written). Results are exactly those of the sequential loop: the same calls in the same order, only
on other threads; an error in a load or a store is raised in the caller's thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class Pipeline(Generic[T, U]):
    def __init__(self, load: Callable[[T], U], items: Sequence[T], *, ahead: int = 1, behind: int = 2):
        self._load = load
        self._items = list(items)
        self._ahead = max(0, int(ahead))
        self._behind = max(1, int(behind))
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch-read")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch-write")
        self._pending: deque[Future] = deque()
        self._stored: list[Any] = []

    def __iter__(self) -> Iterator[tuple[T, U]]:
        queue: deque[tuple[T, Future]] = deque()
        it = iter(self._items)

        def fill() -> None:
            while len(queue) < self._ahead + 1:
                try:
                    item = next(it)
                except StopIteration:
                    return
                queue.append((item, self._reader.submit(self._load, item)))

        fill()
        while queue:
            item, fut = queue.popleft()
            loaded = fut.result()
            fill()  # the next item is read while the caller works on this one
            yield item, loaded

    def store(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the writer thread (in order); waits while ``behind`` stores are pending."""
        while len(self._pending) >= self._behind:
            self._stored.append(self._pending.popleft().result())
        self._pending.append(self._writer.submit(fn, *args))

    def results(self) -> list[Any]:
        """Every store's return value, in submission order, once all have finished."""
        while self._pending:
            self._stored.append(self._pending.popleft().result())
        return list(self._stored)

    def close(self) -> None:
        self._reader.shutdown(wait=True, cancel_futures=True)
        # stores already submitted are finished (a result that was computed is never dropped)
        self._writer.shutdown(wait=True)

    def __enter__(self) -> Pipeline[T, U]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
