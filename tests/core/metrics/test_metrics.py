import numpy as np
import pytest
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score

from core.metrics import aupro, auroc, average_precision, balanced_accuracy, best_dice, dice, pro_curve


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_and_aupr_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(300) < 0.3
    s = rng.normal(size=300) + y * 0.8
    s[::7] = np.round(s[::7], 1)  # ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    p = s > 0.3
    assert balanced_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, p))


def test_perfect_and_inverted():
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    with pytest.raises(ValueError):
        auroc([1, 1], [0.2, 0.3])


def test_pro_hand_computed():
    # one 1x4 image: two regions (pixels 0-1 and 3), normal pixel 2
    gt = [np.array([[1, 1, 0, 1]], bool)]
    sc = [np.array([[0.9, 0.1, 0.5, 0.7]])]
    fpr, pro = pro_curve(sc, gt)
    # thresholds 0.9, 0.7, 0.5, 0.1:
    #  t=0.9: region A 1/2, region B 0/1 -> pro .25, fpr 0
    #  t=0.7: A 1/2, B 1 -> .75, fpr 0
    #  t=0.5: .75, fpr 1
    #  t=0.1: 1.0, fpr 1
    pairs = sorted(set(zip(np.round(fpr, 6), np.round(pro, 6))))
    assert (0.0, 0.25) in pairs and (0.0, 0.75) in pairs and (1.0, 0.75) in pairs and (1.0, 1.0) in pairs
    # integrated to FPR 0.3: the curve jumps to 0.75 at fpr 0 and stays until fpr 1 -> 0.75 * 0.3 / 0.3
    assert aupro(sc, gt, fpr_limit=0.3) == pytest.approx(0.75)


def test_dice():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2] = True
    b[1:3] = True
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    d, t = best_dice([np.array([0.1, 0.9, 0.8, 0.2])], [np.array([0, 1, 1, 0], bool)])
    assert d == 1.0 and 0.2 < t <= 0.8
