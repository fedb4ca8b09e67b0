"""`fit` on a workspace whose normals are all of one modality other than the method's first one
(BMAD-style `slice` images): the only modality with normals is chosen, or the error says which
modalities have normals and how to ask for them."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import CaseKind, Modality
from core.errors import StudioError
from core.models import store
from core.workspace import Workspace
from core.workspace.workspace import NewImage


@pytest.fixture
def slice_ws(tmp_path):
    ws = Workspace.open(tmp_path / "ws", create=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        img = (rng.random((64, 64)) * 255).astype(np.uint8)
        ws.add_case(f"S{i}", CaseKind.SLICE, [NewImage("slice", Modality.SLICE, array=img)], split="train", truth="normal")
    yield ws
    ws.close()


def test_the_only_modality_with_normals_is_chosen(slice_ws):
    assert store.modalities_with_normals(slice_ws, "patchcore") == ["slice"]
    assert store.default_modality(slice_ws, "patchcore") == "slice"  # its first modality is fundus
    assert store.default_modality(slice_ws, "resad") == "slice"


def test_asking_for_a_modality_without_normals_names_the_one_that_has_them(slice_ws):
    with pytest.raises(StudioError, match=r"no normal fundus cases .*normals of slice: add --config modality=slice"):
        store.fit_on_workspace(slice_ws, "patchcore", {"modality": "fundus"})


def test_a_method_that_cannot_score_the_normals_names_the_methods_that_can(slice_ws):
    with pytest.raises(StudioError) as err:
        store.fit_on_workspace(slice_ws, "mmrad", {})
    text = str(err.value)
    assert "its normals are slice images, which mmrad does not score" in text
    assert "patchcore" in text and "--config modality=slice" in text and "training split" not in text
