"""The workday soak driver: real key, mouse and wheel events into a shown MainWindow, with the event
loop running between actions as it would for a user, and the measurements around it (process
RSS, Python objects of the main Qt/pyqtgraph types, refcounts of None/True/False, event-loop gaps).

Used by ``python -m bench.soak`` (a whole day in a child process) and by
tests/app/test_soak_short.py (a few minutes of it, in-process).
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import sys
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QEvent, QEventLoop, QObject, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QGraphicsItem, QGraphicsScene, QWidget

# one simulated working day at --scale 1.0 (the figures)
DAY = {
    "case_switches": 3000,
    "mouse_moves": 20000,
    "overlay_toggles": 300,
    "sam_clicks": 200,
    "label_edits": 300,
    "mode_switches": 100,
    "model_runs": 20,
}
RUN_KINDS = ("cancel at once", "cancel during the case", "all cases, cancel after one", "one case to the end")
MOVE_INTERVAL_S = 0.0105  # pyqtgraph drops moves closer than 10 ms on one view (a real mouse never sends them)


# -- measurements ------------------------------------------------------------------------------------
def rss_mb() -> float:
    """Resident set size of this process now (not the peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def refcounts() -> dict[str, int]:
    return {"None": sys.getrefcount(None), "True": sys.getrefcount(True), "False": sys.getrefcount(False)}


def census() -> dict:
    """Live Python objects of the main Qt / pyqtgraph kinds, counted from ``gc.get_objects()``, and
    the items in every graphics scene. (Not ``findChildren``: it would give every Qt-internal child
    a Python wrapper, which outlives the object when Qt deletes it.)"""
    import pyqtgraph as pg
    from PySide6.QtGui import QAction, QShortcut

    counts: dict[str, int] = {}
    gc.collect()
    kinds = {
        "QObject": QObject,
        "QWidget": QWidget,
        "QGraphicsItem": QGraphicsItem,
        "pyqtgraph items": pg.GraphicsItem,
        "ImageItem": pg.ImageItem,
        "PlotDataItem": pg.PlotDataItem,
        "PlotCurveItem": pg.PlotCurveItem,
        "ScatterPlotItem": pg.ScatterPlotItem,
        "QTimer": QTimer,
        "QAction": QAction,
        "QShortcut": QShortcut,
    }
    counts.update(dict.fromkeys(kinds, 0))
    by_type: Counter = Counter()
    scenes = []
    for obj in gc.get_objects():
        by_type[type(obj).__name__] += 1
        for name, cls in kinds.items():
            if isinstance(obj, cls):
                counts[name] += 1
        if isinstance(obj, QGraphicsScene):
            scenes.append(obj)
    counts["scene items"] = sum(len(s.items()) for s in scenes)
    counts["gc objects"] = sum(by_type.values())
    return {"counts": counts, "by_type": by_type}


def growth(start: dict, end: dict, top: int = 12) -> list[tuple[str, int]]:
    """The object types that grew most between two censuses."""
    diff = Counter(end["by_type"])
    diff.subtract(start["by_type"])
    return [(name, n) for name, n in diff.most_common(top) if n > 0]


class LoopMonitor:
    """A 10 ms PreciseTimer; the gaps between its ticks are how long the event loop was blocked.
    A watchdog thread notes where the GUI thread was when a tick is more than ``stall_s`` late."""

    def __init__(self, stall_s: float = 0.25):
        self.timer = QTimer()
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.gaps = array("d")  # seconds (not gc-tracked: the census does not see it grow)
        self.phase_worst: dict[str, float] = {}
        self.phase = "start"
        self.stall_s = stall_s
        self.stalls: dict[str, list] = {}  # where -> [count, worst lag s, phase]
        self._last: float | None = None
        self._gui_thread = threading.get_ident()
        self._watching = False

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start(10)
        if not self._watching:
            self._watching = True
            threading.Thread(target=self._watch, name="soak-watchdog", daemon=True).start()

    def stop(self) -> None:
        self.timer.stop()
        self._last = None

    def close(self) -> None:
        self.stop()
        self._watching = False

    def _watch(self) -> None:
        noted_for = None
        while self._watching:
            time.sleep(0.05)
            last = self._last
            if last is None or time.perf_counter() - last < self.stall_s or noted_for == last:
                continue
            frame = sys._current_frames().get(self._gui_thread)
            if frame is None:
                continue
            noted_for = last
            where = _where(frame)
            entry = self.stalls.setdefault(where, [0, 0.0, self.phase])
            entry[0] += 1
            entry[1] = max(entry[1], time.perf_counter() - last)

    def stall_table(self, top: int = 8) -> list[dict]:
        rows = sorted(self.stalls.items(), key=lambda kv: -kv[1][1])[:top]
        return [{"where": w, "times": n, "worst_ms": round(lag * 1000), "phase": ph} for w, (n, lag, ph) in rows]

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            gap = now - self._last
            self.gaps.append(gap)
            if gap > self.phase_worst.get(self.phase, 0.0):
                self.phase_worst[self.phase] = gap
        self._last = now

    def summary(self) -> dict:
        g = np.frombuffer(self.gaps, dtype=np.float64) * 1000 if len(self.gaps) else np.zeros(1)
        return {"worst_ms": round(float(g.max()), 1), "p99_ms": round(float(np.percentile(g, 99)), 1), "ticks": len(self.gaps)}


@dataclass
class PhaseStats:
    count: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def row(self, worst_gap_s: float | None) -> dict:
        lat = self.latencies_ms
        return {
            "actions": self.count,
            "seconds": round(self.seconds, 1),
            "median_ms": round(statistics.median(lat), 1) if lat else None,
            "p95_ms": round(float(np.percentile(lat, 95)), 1) if lat else None,
            "worst_gap_ms": round(worst_gap_s * 1000, 1) if worst_gap_s is not None else None,
        }


def _where(frame) -> str:
    """The innermost frames of the project (app/, core/) and the library call they were in."""
    import traceback

    stack = traceback.extract_stack(frame)
    ours = [f for f in stack if "/app/" in f.filename or "/core/" in f.filename]
    inner = stack[-1]
    parts = [f"{f.filename.rsplit('/', 2)[-2]}/{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in ours[-2:]]
    if inner not in ours:
        parts.append(f"-> {inner.filename.rsplit('/', 1)[-1]}:{inner.lineno} {inner.name}")
    return " > ".join(parts) or f"{inner.filename}:{inner.lineno} {inner.name}"


class SoakError(RuntimeError):
    """The window did not do what an action asked within its time limit."""


# -- the driver --------------------------------------------------------------------------------------
class WorkdayDriver:
    """Drives one shown MainWindow through the activities of a working day."""

    def __init__(self, window, log=None, seed: int = 0):
        self.w = window
        self.app = QApplication.instance()
        self.log = log or (lambda text: None)
        self.rng = np.random.default_rng(seed)
        self.monitor = LoopMonitor()
        self.stats: dict[str, PhaseStats] = {}
        self.delivered = Counter()  # what really reached the window's code (not just what was sent)
        self._last_move: dict[int, float] = {}
        self.run_kinds = RUN_KINDS  # model runs cycle through these over the whole day
        self._runs_started = 0
        self.samples: list[dict] = []  # after every round: RSS, refcounts, object totals
        ids = [c.id for c in window.session.cases]
        kinds = {c.id: c.kind.value for c in window.session.cases}
        self.fundus_ids = [i for i in ids if kinds[i] == "fundus"]
        self.pair_ids = [i for i in ids if kinds[i] == "fundus_oct"]
        self.mri_ids = [i for i in ids if kinds[i] == "mri"]
        cv, vv = window.case_view, window.volume_view
        cv.oct.mouse_moved.connect(self._count_oct_move)
        cv.fundus.mouse_moved.connect(self._count_fundus_move)
        vv.position_changed.connect(self._count_crosshair)
        lm = window.label_mode
        lm.view2d.sam.preview_changed.connect(self._count_sam_preview)

    # counters (bound methods: nothing here keeps the window alive)
    def _count_oct_move(self, *_):
        self.delivered["oct moves"] += 1

    def _count_fundus_move(self, *_):
        self.delivered["fundus moves"] += 1

    def _count_crosshair(self, *_):
        self.delivered["MRI crosshair moves"] += 1

    def _count_sam_preview(self, result):
        if result is not None:
            self.delivered["SAM masks"] += 1

    # -- event loop ----------------------------------------------------------------------------------
    def _spin(self) -> None:
        """One turn of the event loop as app.exec() would do it: pending events, timers, and the
        objects whose deleteLater() ran (processEvents alone never deletes those)."""
        self.app.processEvents(QEventLoop.AllEvents, 5)
        QApplication.sendPostedEvents(None, QEvent.DeferredDelete)

    def pump(self, seconds: float = 0.0) -> None:
        end = time.perf_counter() + seconds
        while True:
            self._spin()
            if time.perf_counter() >= end:
                return
            time.sleep(0.001)

    def wait_for(self, cond, timeout: float = 60.0, what: str = "") -> None:
        """Spin until ``cond()``; the timeout is scaled by SOAK_PATIENCE (``--patience``) on a loaded machine."""
        timeout *= float(os.environ.get("SOAK_PATIENCE", "1") or 1)
        t0 = time.perf_counter()
        while not cond():
            self._spin()
            time.sleep(0.001)
            if time.perf_counter() - t0 > timeout:
                raise SoakError(f"timed out after {timeout:.0f} s waiting for {what or cond}")

    # -- input ---------------------------------------------------------------------------------------
    def key(self, key, modifiers=Qt.NoModifier, widget: QWidget | None = None) -> None:
        QTest.keyClick(widget or self.w, key, modifiers)
        self.app.processEvents()

    def label_key(self, view, key, modifiers=Qt.NoModifier) -> None:
        """A key for the labelling view's own shortcuts (they need the focus inside the view)."""
        target = view.canvas.panel.graphics
        target.setFocus()
        self.key(key, modifiers, target)

    @staticmethod
    def image_rect(panel) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the panel's image in view coordinates (pixels, or millimetres for MRI)."""
        item = panel.image_item
        r = item.mapRectToParent(item.boundingRect())
        return r.x(), r.y(), r.width(), r.height()

    @staticmethod
    def _viewport_pos(panel, x: float, y: float) -> QPoint:
        return panel.graphics.mapFromScene(panel.view.mapViewToScene(QPointF(x, y)))

    def _mouse(self, panel, kind, pos: QPoint, button, buttons, modifiers=Qt.NoModifier) -> None:
        vp = panel.graphics.viewport()
        ev = QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, buttons, modifiers)
        QApplication.sendEvent(vp, ev)

    def move(self, panel, x: float, y: float, buttons=Qt.NoButton) -> None:
        """One mouse move over ``panel`` at view point (x, y), paced like a real mouse (<= 100 Hz per view)."""
        key = id(panel)
        wait = self._last_move.get(key, 0.0) + MOVE_INTERVAL_S - time.perf_counter()
        if wait > 0:
            self.pump(wait)
        self._mouse(panel, QEvent.MouseMove, self._viewport_pos(panel, x, y), Qt.NoButton, buttons)
        self._last_move[key] = time.perf_counter()
        self.app.processEvents()

    def click(self, panel, x: float, y: float, button=Qt.LeftButton, modifiers=Qt.NoModifier) -> None:
        p = self._viewport_pos(panel, x, y)
        self._mouse(panel, QEvent.MouseButtonPress, p, button, button, modifiers)
        self._mouse(panel, QEvent.MouseButtonRelease, p, button, Qt.NoButton, modifiers)
        self.app.processEvents()

    def drag(self, panel, points, button=Qt.LeftButton) -> None:
        p0 = self._viewport_pos(panel, *points[0])
        self._mouse(panel, QEvent.MouseButtonPress, p0, button, button)
        for x, y in points[1:]:
            self.move(panel, x, y, buttons=button)
        self._mouse(panel, QEvent.MouseButtonRelease, self._viewport_pos(panel, *points[-1]), button, Qt.NoButton)
        self.app.processEvents()

    def wheel(self, panel, x: float, y: float, steps: int = 1) -> None:
        vp = panel.graphics.viewport()
        pos = QPointF(self._viewport_pos(panel, x, y))
        ev = QWheelEvent(pos, QPointF(vp.mapToGlobal(pos.toPoint())), QPoint(), QPoint(0, 120 * steps), Qt.NoButton, Qt.NoModifier,
                         Qt.NoScrollPhase, False)  # fmt: skip
        QApplication.sendEvent(vp, ev)
        self.app.processEvents()

    # -- navigation ----------------------------------------------------------------------------------
    def _shown(self, case_id: str) -> bool:
        s = self.w.session
        return s.current_case_id == case_id and s.shows_current_case()

    def open_case(self, case_id: str, timeout: float = 60.0) -> None:
        self.w.worklist.select_case(case_id)
        self.wait_for(lambda: self._shown(case_id), timeout, f"case {case_id} on screen")
        if self.w.label_mode.active:
            lm = self.w.label_mode
            view = lm.view3d if case_id in self.mri_ids else lm.view2d
            self.wait_for(lambda: view.case is not None and view.case.id == case_id, timeout, f"{case_id} in the label view")

    def set_label_mode(self, on: bool) -> None:
        if self.w.label_mode.active != on:
            self.key(Qt.Key_L, Qt.ControlModifier)
            self.wait_for(lambda: self.w.label_mode.active == on, 10, "label mode switch")

    # -- activities ----------------------------------------------------------------------------------
    def _phase(self, name: str) -> PhaseStats:
        self.monitor.phase = name
        return self.stats.setdefault(name, PhaseStats())

    def case_switches(self, n: int) -> None:
        """D / A through the worklist: passes where the reader waits for every case (and now and
        then decides or flags it), and passes with the key held down (key repeat ~30/s: loads are
        overtaken and dropped)."""
        st = self._phase("case switches")
        self.set_label_mode(False)
        t_phase = time.perf_counter()
        ids = self.w.worklist.visible_ids()
        if self.w.worklist.current_id() not in ids:
            self.open_case(ids[0])
        direction, held, done = 1, False, 0
        while done < n:
            cur = self.w.worklist.current_id()
            i = ids.index(cur) if cur in ids else 0
            if not 0 <= i + direction < len(ids):
                direction, held = -direction, not held  # the end of the list: turn, change the way of reading
                continue
            nxt = ids[i + direction]
            t0 = time.perf_counter()
            self.key(Qt.Key_D if direction > 0 else Qt.Key_A)
            done += 1
            if held:
                self.pump(0.033)
                if not 0 <= i + 2 * direction < len(ids) or done == n:
                    self.wait_for(lambda c=nxt: self._shown(c), 60, f"case {nxt}")
            else:
                self.wait_for(lambda c=nxt: self._shown(c), 60, f"case {nxt}")
                st.latencies_ms.append((time.perf_counter() - t0) * 1000)
                if done % 10 == 0:  # the reader decides now and then (1 normal / 2 abnormal, F flags and unflags)
                    self.key(Qt.Key_1 if done % 20 else Qt.Key_2)
                    self.delivered["review decisions"] += 1
                    if done % 50 == 0:
                        self.key(Qt.Key_F)
                        self.key(Qt.Key_F)
                self.pump(0.005)
        self.wait_for(lambda: self.w.session.shows_current_case(), 60, "the last case")
        st.count += n
        st.seconds += time.perf_counter() - t_phase

    def mouse_moves(self, n: int) -> None:
        """Hovering the fundus and the B-scan of a pair (the B-scan cursor and the scan-line marker
        follow), and the three MRI planes (clicks move the crosshair, the wheel scrolls slices)."""
        st = self._phase("mouse moves")
        self.set_label_mode(False)
        t_phase = time.perf_counter()
        n_pair = int(round(n * 0.7))
        if self.pair_ids and n_pair:
            self.open_case(self.pair_ids[0])
            cv = self.w.case_view
            _, _, w_oct, h_oct = self.image_rect(cv.oct)
            _, _, w_f, h_f = self.image_rect(cv.fundus)
            for k in range(n_pair):
                if k % 2 == 0:  # sweep the B-scan, running off both ends now and then
                    x = ((k // 2) % 120) / 119.0 * (w_oct + 40) - 20
                    self.move(cv.oct, x, h_oct * (0.3 + 0.4 * self.rng.random()))
                else:
                    self.move(cv.fundus, self.rng.random() * w_f, self.rng.random() * h_f)
        n_mri = n - n_pair
        if self.mri_ids and n_mri:
            self.open_case(self.mri_ids[0])
            vv = self.w.volume_view
            planes = list(vv.panels)
            for k in range(n_mri):
                plane = planes[k % 3]
                panel = vv.panels[plane]
                _, _, pw, ph = self.image_rect(panel)
                x, y = self.rng.random() * pw, self.rng.random() * ph
                self.move(panel, x, y)
                if k % 25 == 24 or k == n_mri - 1:  # the crosshair moves at least once per visit
                    self.click(panel, x, y)
                if k % 40 == 39:
                    self.wheel(panel, x, y, 1 if k % 80 == 39 else -1)
        st.count += n
        st.seconds += time.perf_counter() - t_phase

    def overlay_toggles(self, n: int) -> None:
        """T and H on the window, and the overlay panel's check boxes, colour map and opacity."""
        st = self._phase("overlay toggles")
        self.set_label_mode(False)
        t_phase = time.perf_counter()
        scored = [i for i in self.fundus_ids + self.pair_ids if i in self.w.session.scores] or self.fundus_ids
        self.open_case(scored[0])
        self.wait_for(lambda: self.w.session.overlay is not None or not self.w.session.scores, 30, "the stored result")
        ov = self.w.overlays
        actions = [
            lambda: self.key(Qt.Key_T),
            lambda: self.key(Qt.Key_H),
            lambda: QTest.mouseClick(ov.master, Qt.LeftButton),
            lambda: QTest.mouseClick(ov.heatmap, Qt.LeftButton),
            lambda: QTest.mouseClick(ov.contour, Qt.LeftButton),
            lambda: QTest.mouseClick(ov.mask, Qt.LeftButton),
            lambda: ov.colormap.setCurrentIndex((ov.colormap.currentIndex() + 1) % ov.colormap.count()),
            lambda: ov.opacity.setValue(int(20 + self.rng.integers(0, 80))),
        ]
        for k in range(n):
            t0 = time.perf_counter()
            actions[k % len(actions)]()
            self.pump(0.01)
            st.latencies_ms.append((time.perf_counter() - t0) * 1000)
        st.count += n
        st.seconds += time.perf_counter() - t_phase

    def _label_view_on(self, case_id: str):
        self.set_label_mode(True)
        self.open_case(case_id)
        view = self.w.label_mode.view2d
        self.wait_for(lambda: view.current is not None and view.current.target.image.case_id == case_id, 30, "the label editor")
        return view

    def sam_clicks(self, n: int) -> None:
        """SAM clicks on a fundus photo in label mode: the first one computes the image embedding
        (LiteMedSAM), every later one decodes from the cached embedding. Enter accepts, Esc clears."""
        st = self._phase("SAM clicks")
        t_phase = time.perf_counter()
        view = self._label_view_on(self.fundus_ids[0])
        self.label_key(view, Qt.Key_S)
        h, w = view.canvas.bounds().height(), view.canvas.bounds().width()
        for k in range(n):
            x, y = w * (0.3 + 0.4 * self.rng.random()), h * (0.3 + 0.4 * self.rng.random())
            t0 = time.perf_counter()
            self.click(view.canvas.panel, x, y)
            self.wait_for(lambda: not view.sam.busy(), 300, "the SAM mask")
            st.latencies_ms.append((time.perf_counter() - t0) * 1000)
            if k % 5 == 4:
                res = view.sam.result
                self.label_key(view, Qt.Key_Return if (k % 10 == 9 and res is not None and res.mask.any()) else Qt.Key_Escape)
        self.label_key(view, Qt.Key_Escape)
        st.count += n
        st.seconds += time.perf_counter() - t_phase

    def label_edits(self, n: int) -> None:
        """Polygons, brush and eraser strokes and rectangles on fundus photos, with undo / redo,
        Ctrl+S, "save all", and a move to the next image every ten edits (autosave runs throughout)."""
        st = self._phase("label edits")
        t_phase = time.perf_counter()
        images = self.fundus_ids[1:] or self.fundus_ids
        view = self._label_view_on(images[0])
        for k in range(n):
            if k and k % 10 == 0:
                view = self._label_view_on(images[(k // 10) % len(images)])
            ed = view.current.editor
            if view.panel.active_label() is None and view.panel.class_names():
                view.set_active_label(view.panel.class_names()[0])
            panel = view.canvas.panel
            h, w = view.canvas.bounds().height(), view.canvas.bounds().width()
            cx, cy = w * (0.2 + 0.6 * self.rng.random()), h * (0.2 + 0.6 * self.rng.random())
            r = 0.04 * min(w, h)
            rev0 = ed.revision
            t0 = time.perf_counter()
            kind = k % 4
            if kind == 0:  # polygon: four corners, then a click on the first one closes it
                self.label_key(view, Qt.Key_P)
                corners = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
                for x, y in corners + corners[:1]:
                    self.click(panel, x, y)
            elif kind in (1, 3):  # brush (1) and eraser (3) strokes
                self.label_key(view, Qt.Key_B if kind == 1 else Qt.Key_E)
                self.drag(panel, [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in np.linspace(0, math.pi, 8)])
            else:  # rectangle
                self.label_key(view, Qt.Key_R)
                self.drag(panel, [(cx - r, cy - r), (cx, cy), (cx + r, cy + r)])
            if ed.revision != rev0:
                self.delivered["label edits applied"] += 1
            roll = k % 6
            if roll in (1, 4):
                self.label_key(view, Qt.Key_Z, Qt.ControlModifier)
                self.label_key(view, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
                self.delivered["undo + redo"] += 1
            elif roll == 5:
                self.label_key(view, Qt.Key_Z, Qt.ControlModifier)
                self.delivered["undo"] += 1
            st.latencies_ms.append((time.perf_counter() - t0) * 1000)
            if k % 25 == 24:
                self.label_key(view, Qt.Key_S, Qt.ControlModifier)
                saver = view.current.saver
                self.wait_for(lambda s=saver: not s.dirty, 30, "Ctrl+S")
            if k % 50 == 49:
                self.key(Qt.Key_S, Qt.ControlModifier | Qt.ShiftModifier)
            self.pump(0.005)
        st.count += n
        st.seconds += time.perf_counter() - t_phase

    def mode_switches(self, n: int) -> None:
        """Ctrl+L between review and label mode, on fundus, pair, OCT and MRI cases in turn."""
        st = self._phase("mode switches")
        t_phase = time.perf_counter()
        ids = self.w.worklist.visible_ids()
        for k in range(n):
            if k % 2 == 0:
                self.open_case(ids[int(self.rng.integers(len(ids)))])
            t0 = time.perf_counter()
            on = not self.w.label_mode.active
            self.key(Qt.Key_L, Qt.ControlModifier)
            self.wait_for(lambda o=on: self.w.label_mode.active == o, 10, "label mode switch")
            cid = self.w.session.current_case_id
            if on:
                lm = self.w.label_mode
                view = lm.view3d if cid in self.mri_ids else lm.view2d
                self.wait_for(lambda v=view, c=cid: v.case is not None and v.case.id == c, 30, "the label view")
            st.latencies_ms.append((time.perf_counter() - t0) * 1000)
            self.pump(0.02)
        self.set_label_mode(False)
        st.count += n
        st.seconds += time.perf_counter() - t_phase

    def model_runs(self, n: int) -> None:
        """Runs from the model panel: cancelled at once, cancelled during the first case, "All
        cases" cancelled after one case, and one case run to the end, in turn."""
        st = self._phase("model runs")
        self.set_label_mode(False)
        t_phase = time.perf_counter()
        w, mp = self.w, self.w.model_panel
        if w.session.model is None:
            st.seconds += time.perf_counter() - t_phase
            return
        self.open_case(self.fundus_ids[(st.count // 4) % len(self.fundus_ids)])
        for _ in range(n):
            mode = self.run_kinds[self._runs_started % len(self.run_kinds)]
            self._runs_started += 1
            t0 = time.perf_counter()
            before = w.runs.run.run_id if w.runs.run is not None else 0
            QTest.mouseClick(mp.run_all if mode == RUN_KINDS[2] else mp.run_case, Qt.LeftButton)
            self.wait_for(lambda b=before: w.runs.run is not None and w.runs.run.run_id != b, 10, "the run to start")
            if mode == RUN_KINDS[0]:
                QTest.mouseClick(mp.cancel, Qt.LeftButton)
            elif mode == RUN_KINDS[1]:
                self.pump(0.3)
                QTest.mouseClick(mp.cancel, Qt.LeftButton)
            elif mode == RUN_KINDS[2]:
                self.wait_for(lambda: not w.runs.running or w.runs.run.processed >= 1, 600, "the first case of the run")
                QTest.mouseClick(mp.cancel, Qt.LeftButton)
            self.wait_for(lambda: not w.runs.running, 600, "the run to stop")
            self.delivered[f"runs {w.runs.run.status}"] += 1
            st.latencies_ms.append((time.perf_counter() - t0) * 1000)
        st.count += n
        st.seconds += time.perf_counter() - t_phase

    # -- a day ---------------------------------------------------------------------------------------
    def day_counts(self, scale: float) -> dict[str, int]:
        return {name: max(1, int(round(count * scale))) for name, count in DAY.items()}

    def run_rounds(self, counts: dict[str, int], rounds: int, sample: bool = False) -> None:
        """The activities interleaved, ``rounds`` times (an hour of each, then the next hour);
        with ``sample`` the RSS, refcounts and object totals are recorded after every round."""
        order = ("case_switches", "mouse_moves", "overlay_toggles", "sam_clicks", "label_edits", "mode_switches", "model_runs")
        for r in range(rounds):
            for name in order:
                total = counts.get(name, 0)
                share = total // rounds + (1 if r < total % rounds else 0)
                if share:
                    self.log(f"round {r + 1}/{rounds}: {name} x {share}")
                    getattr(self, name)(share)
            if sample:
                self.samples.append(self.light_sample(r + 1))

    def light_sample(self, round_no: int) -> dict:
        """A cheap mid-day reading (no type census): RSS, refcounts, gc objects."""
        self.monitor.stop()
        gc.collect()
        out = {
            "round": round_no,
            "rss_mb": round(rss_mb(), 1),
            **refcounts(),
            "gc objects": len(gc.get_objects()),
        }
        self.monitor.start()
        self.log(f"after round {round_no}: {out}")
        return out

    def snapshot(self) -> dict:
        self.monitor.stop()
        self.pump(0.2)
        gc.collect()
        snap = {"rss_mb": rss_mb(), "refcounts": refcounts(), "census": census()}
        self.monitor.start()
        return snap

    def phase_table(self) -> dict:
        return {name: st.row(self.monitor.phase_worst.get(name)) for name, st in self.stats.items()}
