"""Qt-free state of the review workstation: review rules, run progress and errors, the case cache,
model choices and overlay data."""

from __future__ import annotations

import numpy as np
import pytest

from app.state.case_cache import CaseCache, case_nbytes
from app.state.overlays import default_clamp, iso_contours, prepare_image, reduce_map, reduce_mask
from app.state.review import ReviewRuleError, model_suggestion, review_change
from app.state.runs import ModelChoice, RunState, default_choice, describe_error, format_seconds, runnable
from core.domain import CaseKind, CaseRecord, Decision, LoadedCase, ReviewStatus
from core.errors import CorruptFileError, WeightsError


def _case(status="unreviewed", decision=None, comment=""):
    return CaseRecord(
        "C1", CaseKind.FUNDUS, status=ReviewStatus(status), decision=Decision(decision) if decision else None, comment=comment
    )


# -- review rules ---------------------------------------------------------------------------------
def test_decision_moves_unreviewed_and_approved_cases_to_in_review():
    assert review_change(_case(), "decide", "abnormal") == {"status": "in_review", "decision": "abnormal"}
    # changing the decision of an approved case re-opens it
    assert review_change(_case("approved", "normal"), "decide", "abnormal") == {"status": "in_review", "decision": "abnormal"}
    # a flagged case stays flagged
    assert review_change(_case("flagged"), "decide", "normal") == {"status": "flagged", "decision": "normal"}
    assert review_change(_case("in_review", "normal"), "decide", "normal") is None


def test_approve_needs_a_decision():
    with pytest.raises(ReviewRuleError, match="before approving"):
        review_change(_case(), "approve")
    assert review_change(_case("in_review", "normal"), "approve") == {"status": "approved"}
    assert review_change(_case("approved", "normal"), "approve") is None


def test_flag_toggles_back_to_where_the_case_was():
    assert review_change(_case(), "flag") == {"status": "flagged"}
    assert review_change(_case("flagged"), "flag") == {"status": "unreviewed"}
    assert review_change(_case("flagged", "abnormal"), "flag") == {"status": "in_review"}
    assert review_change(_case("flagged", comment="look again"), "flag") == {"status": "in_review"}


def test_comment_starts_the_review_and_unchanged_comments_do_nothing():
    assert review_change(_case(), "comment", " drusen ") == {"comment": "drusen", "status": "in_review"}
    assert review_change(_case("approved", "normal", "ok"), "comment", "ok ") is None
    assert review_change(_case("approved", "normal", "ok"), "comment", "fine") == {"comment": "fine"}
    assert model_suggestion(3.2, 3.0) == "abnormal" and model_suggestion(2.9, 3.0) == "normal"
    assert model_suggestion(None, 3.0) is None


# -- runs ------------------------------------------------------------------------------------------
def _choice(**kw):
    base = dict(
        name="patchcore",
        version="v1",
        title="patchcore",
        modality="fundus",
        threshold=3.0,
        pixel_threshold=2.5,
        created="2026-01-02T10:00:00+00:00",
        active=True,
    )
    base.update(kw)
    return ModelChoice(**base)


def test_run_state_eta_and_summary():
    run = RunState(1, _choice(), "cpu", ["A", "B", "C", "D"])
    assert run.eta_seconds() is None and run.remaining == ["A", "B", "C", "D"]
    run.current = "A"
    assert "running A" in run.progress_text()
    run.record_done("A", 2.0)
    run.record_done("B", 4.0)
    assert run.eta_seconds() == pytest.approx(6.0)  # mean 3 s x 2 left
    run.record_failed("C", "C: bad file")
    assert run.remaining == ["D"] and run.processed == 3
    assert "about" in run.progress_text()
    run.finish("cancelled")
    text = run.summary()
    assert text.startswith("Cancelled: 2 of 4") and "1 failed" in text
    assert format_seconds(75) == "1 min 15 s" and format_seconds(3.21) == "3.2 s"


def test_default_choice_and_runnable_cases():
    old = _choice(version="v1", created="2026-01-01T00:00:00+00:00", active=False)
    new = _choice(version="v2", created="2026-01-03T00:00:00+00:00", active=True)
    oct_model = _choice(name="mias_sam", version="m1", modality="oct", created="2026-01-05T00:00:00+00:00", active=True)
    choices = [oct_model, new, old]
    assert default_choice(choices) == oct_model
    assert default_choice(choices, "patchcore") == new
    assert default_choice(choices, "patchcore:v1") == old
    assert default_choice(choices, "resad") is None
    assert default_choice([]) is None
    fundus = LoadedCase.from_arrays("F", fundus=np.zeros((8, 8, 3), np.uint8)).record
    octc = LoadedCase.from_arrays("O", oct=np.zeros((8, 8), np.uint8)).record
    ok, skipped = runnable(new, [fundus, octc])
    assert ok == ["F"] and skipped == {"O": "no fundus image"}


def test_errors_become_one_readable_line():
    class OutOfMemoryError(RuntimeError):
        pass

    assert "out of GPU" in describe_error(OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert "out of memory (RAM)" in describe_error(MemoryError())
    msg = describe_error(CorruptFileError("/w/images/C1/fundus.png", "cannot decode the image"), "patchcore on C1")
    assert msg == "patchcore on C1: /w/images/C1/fundus.png: cannot decode the image"
    assert "lite_medsam.pth" in describe_error(WeightsError("weights file lite_medsam.pth is missing"))
    assert "unexpected ValueError" in describe_error(ValueError("boom"))


def _version(card: dict, active: bool = True, created: str = "2026-03-04T05:06:07+00:00"):
    from core.workspace.cards import ModelCard
    from core.workspace.versions import VersionRecord

    card = {"paper": "", "calibration": {"n": 4}, **card}
    mc = ModelCard.from_json(card)
    return VersionRecord(mc.method, "v9", "models/x/v9", created, active, mc.modality, "", mc)


def test_model_choice_from_a_catalog_row():
    v = _version({"method": "patchcore", "threshold": 2.5, "pixel_threshold": 4.25, "config": {"modality": "oct"}})
    c = ModelChoice.from_version(v)
    assert (c.modality, c.threshold, c.pixel_threshold, c.active) == ("oct", 2.5, 4.25, True)
    assert "patchcore" in c.label and "oct" in c.label
    assert c.caveat == ""  # calibrated on several normals, no caveat of its own: nothing to warn about


def test_model_choice_caveat_joins_the_models_own_and_a_single_normal_calibration():
    card = {
        "method": "rasalore",
        "config": {"modality": "mri"},
        "threshold": 3.0,
        "metrics": {"case_score_caveat": "Judge the mask."},
        "calibration": {"n": 1},
    }
    c = ModelChoice.from_version(_version(card))
    assert c.caveat == "Judge the mask. Calibrated on a single normal case: its case threshold is a rough guess."
    card["calibration"]["n"], card["metrics"] = 4, {}
    assert ModelChoice.from_version(_version(card)).caveat == ""
    card["calibration"]["n"] = 0
    assert "no normal case" in ModelChoice.from_version(_version(card)).caveat


# -- case cache ------------------------------------------------------------------------------------
def test_case_cache_is_bounded_by_bytes_and_least_recently_used():
    def case(cid, n):
        return LoadedCase.from_arrays(cid, fundus=np.zeros((n, 1000), np.uint8))

    cache = CaseCache(max_bytes=3_000_000, max_items=10)
    for cid in "ABC":
        cache.put(case(cid, 1000))  # 1 MB each
    assert len(cache) == 3 and cache.nbytes == 3_000_000
    cache.get("A")  # A becomes the most recent
    cache.put(case("D", 1000))
    assert "B" not in cache and {"A", "C", "D"} <= {c for c in "ACD" if c in cache}
    cache.put(case("E", 5000))  # larger than the whole budget: not kept
    assert "E" not in cache and cache.nbytes == 3_000_000
    assert case_nbytes(case("X", 10)) == 10_000


# -- overlay data ------------------------------------------------------------------------------------
def test_reduce_map_keeps_the_mean_and_bounds_the_size():
    yy, xx = np.mgrid[0:1411, 0:1411]
    heat = np.exp(-((xx - 700) ** 2 + (yy - 400) ** 2) / (2 * 80.0**2)).astype(np.float32) * 8
    small = reduce_map(heat)
    assert max(small.shape) <= 384 and small.dtype == np.float32
    assert small.mean() == pytest.approx(heat.mean(), rel=0.01)
    assert reduce_map(np.ones((100, 50), np.float32)).shape == (100, 50)
    m = np.zeros((2000, 1000), bool)
    m[500:900, 100:300] = True
    rm = reduce_mask(m)
    assert max(rm.shape) <= 1024 and rm.dtype == bool and rm.mean() == pytest.approx(m.mean(), rel=0.02)


def test_iso_contour_encloses_the_region_above_the_threshold():
    yy, xx = np.mgrid[0:200, 0:300]
    r = np.hypot(xx - 150, yy - 100)
    heat = (10 - r / 10).astype(np.float32)  # > 5 inside a circle of radius 50
    x, y = iso_contours(heat, 5.0, extent=(600.0, 400.0))  # map stretched 2x over the image
    ok = np.isfinite(x)
    radii = np.hypot(x[ok] - 301, y[ok] - 201)  # centre of pixel (150, 100) in image coordinates
    assert radii.mean() == pytest.approx(100.0, abs=2.0)  # radius 50 map pixels = 100 image pixels
    # a region touching the border is closed, not left open
    edge = np.zeros((50, 50), np.float32)
    edge[:, :10] = 9.0
    x, y = iso_contours(edge, 5.0)
    assert x[0] == pytest.approx(x[np.isfinite(x)][-1]) and np.isnan(x[-1])
    assert iso_contours(np.zeros((10, 10)), 1.0)[0].size == 0
    assert default_clamp(3.0) == (1.5, 6.0) and default_clamp(0.2) == (0.5, 2.0)


def test_prepare_image_places_a_2d_map_of_a_stack_on_its_recorded_page():
    ov = prepare_image(np.ones((496, 512), np.float32), None, (7, 496, 512), is_stack=True, score=1.5, page=3)
    assert ov.page == 3 and ov.hw == (496, 512) and ov.score == 1.5
    ov = prepare_image(np.ones((1411, 1411), np.float32), np.ones((1411, 1411), bool), (1411, 1411, 3))
    assert ov.page is None and ov.hw == (1411, 1411) and max(ov.heatmap.shape) <= 384 and max(ov.mask.shape) <= 1024
    vol = np.zeros((20, 30, 40), np.float32)
    ov = prepare_image(vol, None, (20, 30, 40))
    assert ov.heatmap.shape == (20, 30, 40)


# -- the session: one owner of the current case, the case on screen and the result shown ---------------
def test_session_events_tell_subscribers_what_changed():
    from app.state.session import Session

    s = Session(workspace=None, user="u")
    seen = []
    s.events.current_case.connect(lambda cid: seen.append(("case", cid)))
    s.events.loaded.connect(lambda case: seen.append(("loaded", case.id)))
    s.events.overlay.connect(lambda ov: seen.append(("overlay", ov)))
    s.current_case_id = "C1"
    s.current_case_id = "C1"  # unchanged: no event
    assert not s.shows_current_case()
    case = LoadedCase(_case(), {})
    s.loaded = case
    assert s.shows_current_case()
    s.overlay = None
    s.overlay = None  # set again: shown again
    assert seen == [("case", "C1"), ("loaded", "C1"), ("overlay", None), ("overlay", None)]
    s.current_case_id = "C2"
    assert not s.shows_current_case() and s.overlay_for("C1") is None


def test_session_events_hold_subscribers_weakly_and_once():
    import gc

    from app.state.session import Event

    class Widget:
        def __init__(self):
            self.got = []

        def on(self, value):
            self.got.append(value)

    ev = Event("overlay")
    w = Widget()
    for _ in range(3):
        ev.connect(w.on)  # a widget that subscribes on every case does not pile up
    assert len(ev) == 1
    ev.emit(1)
    assert w.got == [1]
    del w
    gc.collect()
    assert len(ev) == 0  # a closed widget is not kept alive by the session
    plain = []
    ev.connect(plain.append)
    ev.emit(2)
    ev.disconnect(plain.append)
    ev.emit(3)
    assert plain == [2] and len(ev) == 0
