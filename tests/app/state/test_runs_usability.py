"""Qt-free parts of issue 23: combined choices, the modality to fit next, progress inside a case."""

import time

import numpy as np

from app.state.runs import ModelChoice, RunState, describe_load_error, method_choices, method_for, missing_modality, runnable
from core.domain import LoadedCase
from core.errors import IntegrityError


def _v(version, modality, created, active=True, name="patchcore", threshold=3.0):
    return ModelChoice(name, version, name, modality, threshold, 2.5, created, active)


def test_one_combined_choice_per_method_with_active_versions_of_several_modalities():
    versions = [
        _v("o2", "oct", "2026-01-04"),
        _v("f2", "fundus", "2026-01-03"),
        _v("f1", "fundus", "2026-01-02", active=False),
        _v("m1", "mri", "2026-01-01", name="rasalore"),
    ]
    (combined,) = method_choices(versions)
    assert [m.version for m in combined.members] == ["f2", "o2"] and combined.modalities == ("fundus", "oct")
    assert combined.active and "fundus + oct" in combined.label
    pair = LoadedCase.from_arrays("P", fundus=np.zeros((8, 8, 3), np.uint8), oct=np.zeros((8, 8), np.uint8)).record
    mri = LoadedCase.from_arrays("M", t1=np.zeros((4, 4, 4), np.float32)).record
    ok, skipped = runnable(combined, [pair, mri])
    assert ok == ["P"] and "M" in skipped
    assert missing_modality(combined, pair) is None
    assert missing_modality(versions[1], pair) == "oct"  # the fundus version alone leaves the OCT unscored
    assert missing_modality(combined, mri) == "mri" and method_for("mri", "patchcore") == "rasalore"
    assert missing_modality(None, pair) == "fundus" and method_for("oct", "mias_sam") == "mias_sam"


def test_progress_inside_a_case_moves_the_fraction_and_gives_an_eta():
    run = RunState(1, _v("v", "fundus", "2026-01-01"), "cpu", ["A", "B"])
    run.start_case("A")
    assert run.fraction == 0.0 and run.eta_seconds() is None
    run.case_started = time.monotonic() - 2.0  # two seconds into case A
    run.record_step(1, 4, "slice 1/4")
    assert run.fraction == 0.125
    eta = run.eta_seconds()  # A: 8 s estimated, 6 s left; B: 8 s
    assert 13.0 < eta < 15.0
    assert "A: slice 1/4" in run.progress_text() and "left" in run.progress_text()
    run.record_done("A", 8.0)
    assert run.step is None and run.fraction == 0.5


def test_missing_image_file_is_named():
    exc = IntegrityError(None, "/ws/images/X/fundus.png: the image file of X/fundus is missing from the workspace")
    assert describe_load_error(exc).startswith("Image file missing")
    assert describe_load_error(FileNotFoundError(2, "No such file", "/a.png")) == (
        "Image file missing: /a.png. Restore the file or import the case again."
    )
    assert describe_load_error(IntegrityError(None, "content changed")).startswith("Image file changed")
