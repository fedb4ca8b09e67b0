"""Run plain Python callables off the GUI thread and deliver results back on it.

``TaskRunner.submit(fn, ..., on_done=cb, on_error=eb)`` runs ``fn`` in a thread pool; the
callbacks run on the GUI thread (queued signal). The I/O pool has several threads; the model
worker (one thread) serialises everything that touches the GPU.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class TaskRunner(QObject):
    _finished = Signal(object, object, object, object)  # on_done, on_error, result, error

    def __init__(self, name: str, max_workers: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)
        self._finished.connect(self._deliver)
        self.closed = False

    def submit(
        self,
        fn: Callable[..., Any],
        *args,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        **kwargs,
    ) -> Future | None:
        if self.closed:  # the window is closing: late requests (timers, callbacks) are dropped
            log.debug("%s runner is shut down; dropped %s", self.name, getattr(fn, "__name__", fn))
            return None

        def run():
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - delivered to on_error on the GUI thread
                log.debug("task %s failed:\n%s", getattr(fn, "__name__", fn), traceback.format_exc())
                self._finished.emit(on_done, on_error, None, exc)
                return None
            self._finished.emit(on_done, on_error, result, None)
            return result

        return self._executor.submit(run)

    def _deliver(self, on_done, on_error, result, error) -> None:
        if error is not None:
            if on_error is not None:
                on_error(error)
            else:
                log.error("background task failed: %s", error)
        elif on_done is not None:
            on_done(result)

    def shutdown(self, wait: bool = False) -> None:
        self.closed = True
        self._executor.shutdown(wait=wait, cancel_futures=True)
