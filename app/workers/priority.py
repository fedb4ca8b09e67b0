"""Background threads at a lower CPU priority than the GUI thread.

A model run keeps every core busy (torch's intra-op threads). At equal priority the GUI thread
then waits for CPU time behind them and the event loop stalls for tens of milliseconds whenever it
has something to paint. Lowering the priority of the worker thread (Linux: per-thread nice value)
fixes that: torch's OpenMP threads are created by the first parallel region a thread runs and
inherit its nice value, so the whole model stack yields to the GUI, and still gets every idle
cycle. Elsewhere (Windows, macOS) this is a no-op.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)
_done = threading.local()


def lower_current_thread_priority(nice: int = 10) -> bool:
    """Raise this thread's nice value by ``nice`` (once per thread). True if it took effect."""
    if getattr(_done, "nice", False):
        return True
    _done.nice = True
    if not sys.platform.startswith("linux") or not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + nice))
        return True
    except OSError as exc:
        log.debug("cannot lower the priority of thread %s: %s", threading.current_thread().name, exc)
        return False
