"""A few minutes of the workday soak (bench/soak.py), in-process: the same driver, the same real
key and mouse events, at a tiny scale. The rounds repeat the same actions on the same cases, so
once the first one has filled every bounded cache (cases, results, label editors, SAM's embedding,
the loaded model), a leak (a growing list, connections piling up, viewer items never removed)
shows as growth over the rounds that follow."""

from __future__ import annotations

import numpy as np
import pytest

# one round: every activity of the day, a little of it (model runs are cancelled at once)
ROUND = {
    "case_switches": 10,
    "mouse_moves": 30,
    "overlay_toggles": 8,
    "sam_clicks": 1,
    "label_edits": 4,
    "mode_switches": 4,
    "model_runs": 1,
}
TOLERANCE = 2  # live objects of one kind
# PySide6 6.12 on Python 3.11 lost a reference to None on every Qt call: tens of thousands here
LOST_REFERENCES = 200
# kept on purpose: label edits keep their shapes for undo (about 60 references to None per edit)
KEPT_REFERENCES = 3000


def _round(driver) -> None:
    driver.rng = np.random.default_rng(0)  # the same positions and cases every round
    driver.run_rounds(ROUND, 1)


@pytest.mark.slow
def test_a_short_workday_keeps_objects_and_refcounts_flat(fitted_demo, open_window):
    from bench.soak_driver import WorkdayDriver, growth

    w = open_window(fitted_demo)
    driver = WorkdayDriver(w)
    driver.run_kinds = ("cancel at once",)  # the run path without minutes of CPU per round
    driver.wait_for(lambda: w.runs.warm, 120, "the model stack import")
    _round(driver)
    start = driver.snapshot()
    for _ in range(2):
        _round(driver)
    end = driver.snapshot()

    grown = {
        kind: (n, end["census"]["counts"][kind])
        for kind, n in start["census"]["counts"].items()
        if kind != "gc objects" and end["census"]["counts"][kind] > n + TOLERANCE
    }
    assert not grown, f"live objects grew over two identical rounds: {grown}; grew most: {growth(start['census'], end['census'])}"
    drift = {k: end["refcounts"][k] - start["refcounts"][k] for k in start["refcounts"]}
    assert all(-LOST_REFERENCES <= d <= KEPT_REFERENCES for d in drift.values()), drift
    # the events reached the window's code (the B-scan cursor, the crosshair, SAM, the editors, runs)
    d = driver.delivered
    assert d["oct moves"] > 0 and d["MRI crosshair moves"] > 0 and d["SAM masks"] > 0 and d["label edits applied"] > 0
    assert d["runs cancelled"] == 3
