"""A small least-recently-used cache of loaded cases, bounded by bytes (GUI thread only).

Re-opening a case the reader just saw, or the neighbour that was prefetched while they read the
current one, then costs no disk access or decoding."""

from __future__ import annotations

from collections import OrderedDict

from core.domain import LoadedCase


def case_nbytes(case: LoadedCase) -> int:
    return sum(int(getattr(im.array, "nbytes", 0)) for im in case.images.values())


class CaseCache:
    def __init__(self, max_bytes: int = 768 * 2**20, max_items: int = 12):
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._items: OrderedDict[str, LoadedCase] = OrderedDict()
        self._bytes = 0

    def __contains__(self, case_id: str) -> bool:
        return case_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, case_id: str) -> LoadedCase | None:
        case = self._items.get(case_id)
        if case is not None:
            self._items.move_to_end(case_id)
        return case

    def put(self, case: LoadedCase) -> None:
        self.discard(case.id)
        size = case_nbytes(case)
        if size > self.max_bytes:
            return
        self._items[case.id] = case
        self._bytes += size
        while self._items and (self._bytes > self.max_bytes or len(self._items) > self.max_items):
            _, old = self._items.popitem(last=False)
            self._bytes -= case_nbytes(old)

    def discard(self, case_id: str) -> None:
        old = self._items.pop(case_id, None)
        if old is not None:
            self._bytes -= case_nbytes(old)

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
