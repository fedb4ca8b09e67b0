"""The case score of a method combined over its active versions (one per modality)."""

from core.workspace.combined import CaseScore, combine_case_scores, combine_results, plain_sentence
from core.workspace.results import ImageResult, SliceScores, StoredResult

MODS = {"fundus": "fundus", "oct": "oct"}


def _result(version, image, score, threshold=3.0, images=None, slices=None):
    images = images or {image: score}
    return StoredResult(
        "patchcore",
        version,
        "PAIR-L01",
        score,
        None,
        threshold,
        image,
        {n: ImageResult(f"k/{n}", None, s) for n, s in images.items()},
        slices=slices,
    )


def test_pair_scored_by_two_versions_is_decided_by_the_higher_calibrated_score():
    bscans = SliceScores(0, "bscan", [0.5, 2.0, 4.1, 1.0], top=2)
    fundus = _result("v-fundus", "fundus", 1.2)
    oct_ = _result("v-oct", "oct", 4.1, slices=bscans)
    cs = combine_results("PAIR-L01", [fundus, oct_], MODS)
    assert isinstance(cs, CaseScore)
    assert cs.score == 4.1 and cs.abnormal and not cs.fused
    assert cs.decided_by.image == "oct" and cs.version == "v-oct"
    assert cs.explanation() == "decided by OCT B-scan 3: 4.1 SD; fundus 1.2 SD"
    # the same two results in the other order give the same answer
    assert combine_results("PAIR-L01", [oct_, fundus], MODS).decided_by.image == "oct"


def test_each_image_is_judged_against_its_own_threshold():
    fundus = _result("v1", "fundus", 3.5, threshold=4.0)  # below its threshold
    oct_ = _result("v2", "oct", 3.2, threshold=3.0)  # above its own
    cs = combine_results("PAIR-L01", [fundus, oct_], MODS)
    assert cs.decided_by.image == "oct" and cs.threshold == 3.0 and cs.abnormal


def test_a_fusion_score_decides_as_a_whole():
    mmrad = _result("m1", "fundus", 2.7, images={"fundus": 1.0, "oct": 2.0})
    cs = combine_results("PAIR-L01", [mmrad], MODS)
    assert cs.fused and cs.decided_by is None and cs.score == 2.7 and not cs.abnormal
    assert cs.explanation().startswith("decided by the fusion score of the fundus + OCT pair: 2.7 SD")
    assert "OCT 2.0 SD" in cs.explanation()


def test_no_result_gives_none_and_nan_scores_are_ignored():
    assert combine_results("X", [], MODS) is None
    assert combine_results("X", [_result("v", "fundus", float("nan"))], MODS) is None


def test_worklist_scores_combine_versions_by_margin_over_their_thresholds():
    out = combine_case_scores([({"A": 1.0, "B": 5.0}, 3.0), ({"A": 4.0, "C": float("nan")}, 3.0)])
    assert out == {"A": (4.0, 3.0), "B": (5.0, 3.0)}


def test_plain_sentence():
    assert plain_sentence(3.2, 3.0) == "3.2 standard deviations above the normal cases this model was calibrated on; threshold 3.0"
    assert plain_sentence(-0.4, 3.0).startswith("0.4 standard deviations below")
    # a score just under the threshold never reads as equal to it
    assert plain_sentence(2.97, 3.0).startswith("2.97 standard deviations above") and plain_sentence(2.97, 3.0).endswith("threshold 3.00")
    assert plain_sentence(3.04, 3.0).startswith("3.04 ")
