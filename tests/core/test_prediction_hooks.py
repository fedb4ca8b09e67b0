"""store.predict_cases lends a model its progress and cancel token for the length of one case, so a
long prediction (RASALoRE's classifier-guided slices) reports its steps and stops on cancel."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import CancelledError
from core.models.base import AnomalyModel
from core.runtime.progress import CancelToken


class _Steps(AnomalyModel):
    name = "steps"
    title = paper = "test model"
    modalities = ("fundus",)
    default_config = {}

    stop_after_two = None

    def _fit(self, images, *, progress, cancel, final):
        self.fitted_on = len(images)  # nothing to learn: the test is about prediction

    def _predict_raw(self, image):
        for k in range(3):
            if self.prediction_cancel is not None:
                self.prediction_cancel.raise_if_cancelled()
            if self.prediction_progress is not None:
                self.prediction_progress(k, 3, f"step {k + 1}/3")
            if k == 1 and self.stop_after_two is not None:
                self.stop_after_two.cancel()
        return 1.0, np.zeros(image.array.shape[:2], np.float32), {}

    def state_tensors(self):
        return {}

    def load_tensors(self, state):
        pass

    def _update_card(self):
        pass


def test_predict_cases_lends_progress_and_cancel_for_one_case(small_demo):
    from core.models import store
    from core.workspace import Workspace

    ws = Workspace.open(small_demo)
    ids = [c.id for c in ws.cases() if c.kind.value == "fundus" and c.split == "test"][:2]
    model = _Steps()
    model.fit([ws.load_case(c) for c in store.training_normals(ws, "fundus")])
    assert model.fitted and model.fitted_on >= 1
    assert model.prediction_progress is None and model.prediction_cancel is None  # fitting's calibration had none
    seen = []
    store.predict_cases(ws, model, ids, progress=lambda d, t, m: seen.append((d, t, m)))
    assert (0, 2, f"{ids[0]}: step 2/3") in seen and (1, 2, f"{ids[1]}: step 3/3") in seen
    assert seen[-1] == (2, 2, "done")
    assert model.prediction_progress is None and model.prediction_cancel is None  # lent for the call only

    token = CancelToken()
    model.stop_after_two = token
    with pytest.raises(CancelledError):
        store.predict_cases(ws, model, ids, cancel=token)  # stops inside the first case
    assert model.prediction_progress is None and model.prediction_cancel is None
