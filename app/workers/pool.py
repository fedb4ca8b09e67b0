"""Run plain Python callables off the GUI thread and deliver results back on it.

``TaskRunner.submit(fn, ..., on_done=cb, on_error=eb)`` runs ``fn`` in a thread pool; the
callbacks run on the GUI thread (queued signal). The I/O pool has several threads; the model
worker (one thread) serialises everything that touches the GPU.

``submit_idle`` is the lowest priority: such a task waits until no other task of the runner is
queued or running (one idle task at a time), and its handle's ``cancel()`` drops it while it
still waits (e.g. a SAM embedding started ahead for a case the user has left).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class IdleTask:
    """A lowest-priority task waiting in a :class:`TaskRunner`."""

    def __init__(self, fn: Callable[[], Any], on_done, on_error):
        self.fn, self.on_done, self.on_error = fn, on_done, on_error
        self.cancelled = False
        self.started = False

    def cancel(self) -> bool:
        """Drop the task if it has not started; True when it will not run."""
        self.cancelled = True
        return not self.started


class TaskRunner(QObject):
    _finished = Signal(object, object, object, object)  # on_done, on_error, result, error

    def __init__(self, name: str, max_workers: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)
        self._finished.connect(self._deliver)
        self.closed = False
        self._busy = 0  # tasks queued or running
        self._idle: deque[IdleTask] = deque()
        self._state = threading.Lock()

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

        with self._state:
            self._busy += 1
        try:
            future = self._executor.submit(self._run, fn, args, kwargs, on_done, on_error)
        except RuntimeError:  # shut down meanwhile
            self._release()
            return None
        future.add_done_callback(lambda f: f.cancelled() and self._release())  # a cancelled task never runs _run
        return future

    def _release(self) -> None:
        with self._state:
            self._busy -= 1
        self._dispatch_idle()

    def _run(self, fn, args, kwargs, on_done, on_error):
        try:
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - delivered to on_error on the GUI thread
                log.debug("task %s failed:\n%s", getattr(fn, "__name__", fn), traceback.format_exc())
                self._finished.emit(on_done, on_error, None, exc)
                return None
            self._finished.emit(on_done, on_error, result, None)
            return result
        finally:
            self._release()

    def submit_idle(self, fn: Callable[[], Any], *, on_done=None, on_error=None) -> IdleTask:
        """Run ``fn`` when the runner has nothing else to do (lowest priority); see the module doc."""
        task = IdleTask(fn, on_done, on_error)
        if self.closed:
            task.cancelled = True
            return task
        with self._state:
            self._idle.append(task)
        self._dispatch_idle()
        return task

    def _dispatch_idle(self) -> None:
        with self._state:
            while self._idle and self._idle[0].cancelled:
                self._idle.popleft()
            if self._busy or not self._idle or self.closed:
                return
            task = self._idle.popleft()
            task.started = True
            self._busy += 1
        try:
            self._executor.submit(self._run, task.fn, (), {}, task.on_done, task.on_error)
        except RuntimeError:  # shut down meanwhile
            with self._state:
                self._busy -= 1

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
