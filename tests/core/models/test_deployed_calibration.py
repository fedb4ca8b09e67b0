"""The model that is calibrated is the model that is deployed: normals it has never seen get
calibrated scores with mean about 0 and spread about 1 (memory banks calibrate leave-one-image-out
on the deployed bank; trained methods deploy the model their held-out normals calibrated)."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import LoadedCase
from core.models import create_model
from tests.helpers.contract import textured

TINY_WRN = dict(backbone="wide_resnet50", backbone_weights="random", image_size=64, coreset_ratio=0.5)


@pytest.mark.slow
def test_unseen_normals_have_z_scores_near_zero_mean_unit_spread():
    fit_on = [LoadedCase.from_arrays(f"n{i}", fundus=textured(i, 64)) for i in range(10)]
    unseen = [LoadedCase.from_arrays(f"u{i}", fundus=textured(100 + i, 64)) for i in range(12)]
    model = create_model("patchcore", **TINY_WRN)
    model.fit(fit_on)
    cal = model.card.calibration
    assert cal["n"] == 10 and "leave-one-image-out" in cal["source"]  # every normal calibrates, none held back
    z = np.array([model.predict(c).score for c in unseen])
    assert abs(z.mean()) < 0.75, z  # a bank that held the calibration normals would score them low: mean well below 0
    assert 0.4 < z.std(ddof=1) < 2.0, z
    # the lesion stands out on the same scale
    lesion = model.predict(LoadedCase.from_arrays("x", fundus=textured(200, 64, lesion=True))).score
    assert lesion > z.mean() + 3 * z.std(ddof=1)
