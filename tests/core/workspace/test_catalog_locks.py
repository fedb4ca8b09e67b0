"""Opening a workspace a second time in one process must not drop SQLite's locks on the catalog.

Closing any descriptor of a file drops every POSIX lock the process holds on it. When the catalog
was opened with Python's ``open()`` for a header check, the GUI's connections lost their shared
lock; a trainer process then believed it was the catalog's last user, checkpointed and deleted the
WAL on exit, and the GUI's next connection failed ("database disk image is malformed") after
losing writes. This is the sequence of the Retrain dialog: the window has the workspace open, the
workspace is opened again in the same process, a training process writes and exits, the window
goes on writing and a worker thread opens a fresh connection."""

from __future__ import annotations

import subprocess
import sys
import threading

from core.workspace import Workspace

CHILD = """
import sys
from core.workspace import Workspace
ws = Workspace.open(sys.argv[1])
for i in range(20):
    ws.set_review("FUN-N01", "trainer", comment=f"note {i}")
ws.close()
"""


def test_a_second_open_keeps_the_catalog_consistent_across_processes(small_demo):
    gui = Workspace.open(small_demo)
    gui.set_review("FUN-L01", "reader", decision="abnormal")  # the window's connection is live
    again = Workspace.open(small_demo)  # e.g. a dialog or a CLI call in the same process
    again.close()
    subprocess.run([sys.executable, "-c", CHILD, str(small_demo)], check=True, timeout=120)
    assert (small_demo / "workspace.sqlite-wal").exists(), "another process deleted the WAL under our connections"
    gui.set_review("FUN-L02", "reader", decision="abnormal")
    seen: dict = {}

    def worker():  # a fresh connection in another thread, as the GPU worker opens one
        try:
            seen["quick_check"] = gui.catalog.conn().execute("PRAGMA quick_check").fetchone()[0]
            seen["decisions"] = {cid: gui.case(cid).decision.value for cid in ("FUN-L01", "FUN-L02")}
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            seen["error"] = repr(exc)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    gui.close()
    assert "error" not in seen, seen
    assert seen["quick_check"] == "ok" and seen["decisions"] == {"FUN-L01": "abnormal", "FUN-L02": "abnormal"}
    reopened = Workspace.open(small_demo)
    try:
        assert reopened.case("FUN-L02").decision.value == "abnormal"
    finally:
        reopened.close()
