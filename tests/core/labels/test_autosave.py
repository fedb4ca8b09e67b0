import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.io.labelme import LabelDocument, Shape, read_labelme, write_labelme
from core.labels.autosave import Autosaver, AutosaveScheduler
from core.labels.editor import LabelEditor
from core.labels.raster import stroke_region

REPO = Path(__file__).resolve().parents[3]


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_scheduler_debounces_but_never_waits_past_max_delay():
    clk = Clock()
    s = AutosaveScheduler(delay=0.3, max_delay=1.0, clock=clk)
    assert s.deadline() is None and not s.dirty
    s.changed(1)
    assert s.deadline() == pytest.approx(100.3)
    for k in range(2, 12):  # the user keeps drawing every 0.1 s
        clk.t += 0.1
        s.changed(k)
    assert s.deadline() == pytest.approx(101.0)  # capped at first change + max_delay
    clk.t = 101.0
    assert s.due()
    rev = s.begin()
    assert s.deadline() is None  # one save at a time
    s.changed(12)  # an edit while writing
    s.done(rev)
    assert s.dirty and s.saved_revision == 11 and s.due()
    s.done(s.begin())
    assert not s.dirty and s.deadline() is None


def test_failed_save_stays_dirty_reports_and_retries():
    clk = Clock()
    s = AutosaveScheduler(clock=clk, retry=3.0)
    s.changed(1)
    clk.t += 1.0
    s.failed(s.begin(), OSError(28, "No space left on device"))
    assert s.dirty and "No space left" in s.last_error
    assert s.deadline() == pytest.approx(clk.t + 3.0)
    clk.t += 3.0
    s.done(s.begin())
    assert not s.dirty and s.last_error is None


def _editor():
    return LabelEditor(LabelDocument("x.png", 80, 100))


def test_autosaver_writes_within_the_deadline(tmp_path):
    ed = _editor()
    path = tmp_path / "x.json"
    saver = Autosaver(ed, lambda doc: write_labelme(path, doc))
    assert not saver.poll() and not path.exists()
    ed.paint("a", stroke_region([(10, 10), (40, 30)], 4, 80, 100))
    t0 = time.monotonic()
    while not path.exists():
        saver.poll()
        time.sleep(0.01)
        assert time.monotonic() - t0 < 2.0
    assert not saver.dirty
    assert np.array_equal(read_labelme(path).class_mask("a"), ed.class_mask("a"))


def _make_unwritable(folder: Path, target: Path) -> None:
    """A real OS failure for the next write: a read-only folder, or (as root, who ignores
    permissions) a directory sitting where the file must go."""
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # running as root
        folder.chmod(0o700)
        target.mkdir()
        (target / "occupied").write_text("x")


def test_failed_save_is_reported_and_never_marks_clean(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    path = folder / "x.json"
    errors = []
    ed = _editor()
    saver = Autosaver(ed, lambda doc: write_labelme(path, doc), on_error=errors.append)
    _make_unwritable(folder, path)
    ed.add_shape(Shape("a", [[1, 1], [20, 1], [10, 15]]))
    assert saver.save_now() is False
    assert saver.dirty and saver.last_error and errors
    assert not path.is_file()
    # the folder becomes writable again: the retry succeeds and only then is it clean
    folder.chmod(0o700)
    if path.is_dir():
        shutil.rmtree(path)
    assert saver.save_now() and not saver.dirty and saver.last_error is None
    assert len(read_labelme(path).shapes) == 1
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left behind


def _run_child(ws: Path, image_id: str, start: int, kill_after: float, label_path: Path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.autosave_child", str(ws), image_id, str(start)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[dict] = []
    bad_reads: list[str] = []
    stop = threading.Event()

    def reader():
        for line in proc.stdout:
            lines.append(json.loads(line))

    def watcher():  # a concurrent reader must always find a complete, parseable file
        while not stop.is_set():
            if label_path.exists():
                try:
                    json.loads(label_path.read_text(encoding="utf-8"))
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    bad_reads.append(str(exc))
            time.sleep(0.005)

    threads = [threading.Thread(target=reader, daemon=True), threading.Thread(target=watcher, daemon=True)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    while not lines and time.monotonic() - t0 < 60:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.02)
    assert lines and lines[0].get("ready"), "child did not start"
    time.sleep(kill_after)
    t_kill = time.time()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    stop.set()
    threads[0].join(timeout=5)
    threads[1].join(timeout=5)
    assert proc.returncode == -signal.SIGKILL
    return lines, t_kill, bad_reads


@pytest.mark.slow
def test_sigkill_while_editing_loses_at_most_two_seconds(small_demo):
    """A real subprocess edits with autosave and is killed with SIGKILL, twice; each time the file
    parses, holds every edit older than 2 s, and the restarted editor finds the labels."""
    from core.workspace import Workspace

    ws = Workspace.open(small_demo)
    image = ws.case("FUN-N01").images[0]
    label_path = ws.label_path(image)
    ws.close()
    start, on_disk = 0, 0
    for kill_after in (3.3, 2.7):
        lines, t_kill, bad_reads = _run_child(small_demo, image.id, start, kill_after, label_path)
        assert not bad_reads, bad_reads[:3]
        assert lines[0]["shapes"] == on_disk  # the restarted editor found the saved labels
        edits = [ln for ln in lines if "i" in ln]
        saves = [ln for ln in lines if "saved" in ln]
        assert not [ln for ln in lines if "error" in ln]
        assert len(edits) > 20 and len(saves) >= 2
        doc = read_labelme(label_path)  # parses: never half-written
        present = {s.label for s in doc.shapes}
        old = [e["label"] for e in edits if e["t"] < t_kill - 2.0]
        assert old, "no edit is older than 2 s"
        missing = [label for label in old if label not in present]
        assert not missing, f"lost edits older than 2 s: {missing[:5]}"
        start, on_disk = max(e["i"] for e in edits) + 1, len(doc.shapes)
        print(
            f"killed after {len(edits)} edits, {len(saves)} saves; {len(doc.shapes)} shapes on disk, "
            f"{start - len(doc.shapes)} newest edits lost (< 2 s old)"
        )
