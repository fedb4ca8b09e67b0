"""Fixtures of the hostile-input suite: a tiny workspace and an in-process command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.domain import CaseKind, Modality
from core.workspace import NewImage, Workspace


def tiny_image(seed: int = 0, shape=(48, 64)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


@pytest.fixture
def tiny_ws(tmp_path) -> Path:
    """A workspace with two fundus cases (A, B) and a label on A."""
    from core.io.labelme import Shape

    root = tmp_path / "ws"
    ws = Workspace.create(root)
    for i, cid in enumerate(("A", "B")):
        ws.add_case(cid, CaseKind.FUNDUS, [NewImage("fundus", Modality.FUNDUS, array=tiny_image(i))])
    rec = ws.case("A").image("fundus")
    doc = ws.new_label_document(rec)
    doc.shapes.append(Shape("hemorrhage", [[1, 1], [20, 1], [20, 20]]))
    ws.write_labels(rec, doc)
    ws.close()
    return root


@pytest.fixture
def cli(capsys):
    """Run ``anomaly-studio ARGS`` in this process: (exit code, stdout, stderr)."""
    from core.cli import main

    def run(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = main([str(a) for a in args])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return run
