"""Python's cyclic garbage collector runs in whichever thread happens to allocate when it triggers.
If that is a worker thread (model runs, I/O) and the garbage holds Qt objects (a closed dialog, an
old viewer item), Qt destroys them off the GUI thread and can crash. So the GUI process turns
automatic collection off and collects on a timer in the GUI thread instead (pyqtgraph's
GarbageCollector); reference counting still frees everything that is not in a cycle at once."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

_ATTR = "_anomaly_studio_gc"


def collect_in_gui_thread(interval_s: float = 1.0) -> None:
    """Install the GUI-thread collector once per QApplication."""
    app = QApplication.instance()
    if app is None or getattr(app, _ATTR, None) is not None:
        return
    from pyqtgraph.util.garbage_collector import GarbageCollector

    setattr(app, _ATTR, GarbageCollector(interval=interval_s))
