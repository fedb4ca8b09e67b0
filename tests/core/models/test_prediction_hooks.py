"""store.predict_cases passes a model a PredictContext (progress and cancel) for each case, so a
long prediction (RASALoRE's classifier-guided slices) reports its steps and stops on cancel; a
model's declared contract (settings dataclass, capabilities) is what the store reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from core.errors import CancelledError
from core.models.base import AnomalyModel
from core.models.config import BaseSettings
from core.models.contract import Capabilities, PredictContext, Supervision
from core.runtime.progress import CancelToken


@dataclass(frozen=True)
class _StepsSettings(BaseSettings):
    METHOD: ClassVar[str] = "steps"


class _Steps(AnomalyModel):
    name = "steps"
    title = paper = "test model"
    Settings = _StepsSettings
    capabilities = Capabilities(Supervision.UNSUPERVISED, ("fundus",))

    stop_after_two = None
    contexts: list

    def _fit(self, units, ctx):
        self.fitted_on = len(units)  # nothing to learn: the test is about prediction
        self.contexts = []

    def _predict_raw(self, image, ctx: PredictContext):
        self.contexts.append(ctx)
        for k in range(3):
            ctx.cancel.raise_if_cancelled()
            ctx.progress(k, 3, f"step {k + 1}/3")
            if k == 1 and self.stop_after_two is not None:
                self.stop_after_two.cancel()
        return 1.0, np.zeros(image.array.shape[:2], np.float32), {}

    def state_tensors(self):
        return {}

    def load_tensors(self, state):
        pass


def test_predict_cases_passes_progress_and_cancel_for_each_case(small_demo):
    from core.models import store
    from core.workspace import Workspace

    ws = Workspace.open(small_demo)
    ids = [c.id for c in ws.cases() if c.kind.value == "fundus" and c.split == "test"][:2]
    model = _Steps()
    assert model.modalities == ("fundus",) and model.trained is False  # from the declared capabilities
    model.fit([ws.load_case(c) for c in store.training_normals(ws, "fundus")])
    assert model.fitted and model.fitted_on >= 1
    seen = []
    store.predict_cases(ws, model, ids, progress=lambda d, t, m: seen.append((d, t, m)))
    assert (0, 2, f"{ids[0]}: step 2/3") in seen and (1, 2, f"{ids[1]}: step 3/3") in seen
    assert seen[-1] == (2, 2, "done")
    assert len({id(c) for c in model.contexts[-2:]}) == 2  # one context per case, nothing kept on the model

    token = CancelToken()
    model.stop_after_two = token
    with pytest.raises(CancelledError):
        store.predict_cases(ws, model, ids, cancel=token)  # stops inside the first case


def test_step_progress_gets_each_predictions_own_steps_as_a_fraction(small_demo):
    from core.models import store
    from core.runtime.progress import part_progress
    from core.workspace import Workspace

    ws = Workspace.open(small_demo)
    model = _Steps()
    model.fit([ws.load_case(c) for c in store.training_normals(ws, "fundus")])
    steps = []
    store.predict_cases(ws, model, ["FUN-L01"], step_progress=lambda d, t, m: steps.append((d / t, m)))
    fractions = [f for f, _m in steps]
    assert fractions == sorted(fractions) and 0.0 < fractions[2] < 1.0  # the bar moves inside the case
    assert any(m == "step 2/3" for _f, m in steps)
    seen = []
    part_progress(lambda d, t, m: seen.append((d, t, m)), 1, 2, "B: ")(1, 4, "x")
    assert seen == [(1250, 2000, "B: x")]
