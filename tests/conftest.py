"""Test configuration: offscreen Qt, a private application-data folder, shared demo workspaces."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest_plugins = ("tests.helpers.orthanc",)  # the real-Orthanc fixtures of the PACS tests

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["NO_ALBUMENTATIONS_UPDATE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "2")
# GUI tests that are not about SAM do not encode every image they open in label mode in the
# background (tests/app/editing/test_sam_prefetch.py turns it on where it is tested)
os.environ.setdefault("ANOMALY_STUDIO_SAM_PREFETCH", "0")


@pytest.fixture(scope="session", autouse=True)
def studio_home(tmp_path_factory) -> Path:
    """Settings, logs and weights of the app go to a temporary folder, never the user's."""
    home = tmp_path_factory.mktemp("studio-home")
    os.environ["ANOMALY_STUDIO_HOME"] = str(home)
    os.environ["ANOMALY_STUDIO_USER"] = "tester"
    return home


@pytest.fixture(scope="session")
def small_demo_master(tmp_path_factory) -> Path:
    """A reduced demo workspace built once per test session (read-only: copy before writing)."""
    from core.data.demo import DemoPlan, build_demo

    root = tmp_path_factory.mktemp("demo-master") / "ws"
    ws = build_demo(root, DemoPlan.small())
    ws.close()
    return root


@pytest.fixture
def small_demo(small_demo_master, tmp_path) -> Path:
    """A private, writable copy of the small demo workspace."""
    dst = tmp_path / "demo"
    shutil.copytree(small_demo_master, dst, ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    return dst
