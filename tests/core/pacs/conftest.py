"""Fixtures of the PACS tests. The real Orthanc (``orthanc``, ``pacs_server``) comes from
tests/helpers/orthanc.py for the whole tree; here: a small fundus workspace with a fitted model."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.helpers.pacs_data import fundus_pixels


@pytest.fixture(scope="session")
def fundus_master(tmp_path_factory):
    """Three normal fundus photos (skimage's real retina at 96 px, flipped / gamma-changed) and a
    real PatchCore (LiteMedSAM TinyViT features, 1 % coreset) fitted on them. Read-only: copy it."""
    from core.domain import CaseKind, Modality
    from core.models import store
    from core.workspace import Workspace
    from core.workspace.workspace import NewImage

    root = tmp_path_factory.mktemp("pacs-fundus") / "ws"
    ws = Workspace.create(root)
    base = fundus_pixels(96).astype(np.float64) / 255.0
    for i, img in enumerate((base, base[:, ::-1], np.clip(base**0.85, 0, 1))):
        pixels = (img * 255).astype(np.uint8)
        ws.add_case(f"N{i}", CaseKind.FUNDUS, [NewImage("fundus", Modality.FUNDUS, array=pixels)], split="train", truth="normal")
    store.fit_on_workspace(ws, "patchcore", {"coreset_ratio": 0.01, "device": "cpu"})
    ws.close()
    return root


@pytest.fixture
def fundus_ws(fundus_master, tmp_path):
    from core.workspace import Workspace

    dst = tmp_path / "fundus"
    shutil.copytree(fundus_master, dst, ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    ws = Workspace.open(dst)
    yield ws
    ws.close()
