"""The independent-lesion benchmark's workspace: the demo's normals, lesions only where labelled,
no test image among the training images."""

from __future__ import annotations

import numpy as np
import pytest

from bench.independent import build


@pytest.mark.slow  # builds a workspace of full-resolution photos (~20 s on the shared CPU)
def test_workspace_keeps_demo_normals_and_labels_every_lesion(small_demo, tmp_path):
    from core.models import store
    from core.workspace import Workspace

    ws = build(tmp_path / "ind", small_demo, (6,), ("strong",), log=lambda m: None)
    demo = Workspace.open(small_demo)
    train = {c.image("fundus").sha256 for c in store.training_normals(ws, "fundus")}
    assert train == {c.image("fundus").sha256 for c in store.training_normals(demo, "fundus")}
    tests = [c for c in ws.cases() if c.split == "test"]
    assert tests and not any(c.image("fundus").sha256 in train for c in tests)
    held = {c.meta["from"]: ws.load_case(c).first("fundus").array for c in tests if c.id.startswith("HELD-")}
    ind = [c for c in tests if c.id.startswith("IND-")]
    assert len(held) == 3 and len(ind) == 3 and {c.meta["from"] for c in ind} == set(held)
    for c in ind:
        pixels = ws.load_case(c).first("fundus").array
        mask = ws.read_labels(c.image("fundus")).union_mask()
        changed = (pixels != held[c.meta["from"]]).any(axis=-1)
        assert mask.any() and not (changed & ~mask).any() and changed[mask].mean() > 0.9
    for c in (c for c in tests if c.id.startswith("DEMO-")):
        ours = ws.read_labels(c.image("fundus")).union_mask()
        theirs = demo.read_labels(demo.case(c.meta["from"]).image("fundus")).union_mask()
        np.testing.assert_array_equal(ours, theirs)
    # reopened as built; another plan needs another folder
    assert build(tmp_path / "ind", small_demo, (6,), ("strong",)).root == ws.root
    with pytest.raises(SystemExit, match="another --workspace"):
        build(tmp_path / "ind", small_demo, (3,), ("strong",))
