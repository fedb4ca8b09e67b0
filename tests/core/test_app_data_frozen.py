"""Settings, weights folder and logs live in the user's application-data folder, also when the
program runs frozen from a PyInstaller bundle (never next to the executable); logs rotate."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

import core.logs as logs
from core.resources import resources_dir
from core.settings import Settings, app_data_dir


@pytest.fixture
def frozen(tmp_path, monkeypatch):
    """Pretend to run as ``<bundle>/anomaly-studio`` with PyInstaller's ``_internal`` folder."""
    bundle = tmp_path / "AnomalyStudio"
    internal = bundle / "_internal"
    (internal / "resources").mkdir(parents=True)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    monkeypatch.setattr(sys, "executable", str(bundle / "anomaly-studio"))
    for var in ("ANOMALY_STUDIO_HOME", "ANOMALY_STUDIO_WEIGHTS", "ANOMALY_STUDIO_RESOURCES"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("APPDATA", str(home / "AppData" / "Roaming"))
    return bundle, home


@pytest.mark.parametrize(
    "platform, expected",
    [
        ("linux", (".local", "share", "anomaly-studio")),
        ("win32", ("AppData", "Roaming", "AnomalyStudio")),
        ("darwin", ("Library", "Application Support", "AnomalyStudio")),
    ],
)
def test_frozen_app_data_is_per_user_not_in_bundle(frozen, monkeypatch, platform, expected):
    bundle, home = frozen
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    data = app_data_dir()
    assert data == home.joinpath(*expected)
    assert data.is_dir()
    settings = Settings()
    for path in (data, settings.path, settings.resolved_weights_dir(), logs.log_dir()):
        assert home in path.parents or path == home.joinpath(*expected)
        assert bundle not in path.parents
    assert settings.path == data / "settings.json"
    assert settings.resolved_weights_dir() == data / "weights"
    assert logs.log_dir() == data / "logs"
    # the read-only program data does come from the bundle
    assert resources_dir() == bundle / "_internal" / "resources"


def test_frozen_settings_round_trip_outside_bundle(frozen):
    bundle, home = frozen
    s = Settings.load()
    s.device = "cuda"
    s.remember_workspace(home / "ws")
    s.save()
    again = Settings.load()
    assert again.device == "cuda" and again.last_workspace == str((home / "ws").resolve())
    assert not any(p.name == "settings.json" for p in bundle.rglob("*"))


def test_weights_env_and_setting_override(frozen, monkeypatch, tmp_path):
    s = Settings(weights_dir=str(tmp_path / "lab-weights"))
    assert s.resolved_weights_dir() == tmp_path / "lab-weights"
    monkeypatch.setenv("ANOMALY_STUDIO_WEIGHTS", str(tmp_path / "env-weights"))
    assert s.resolved_weights_dir() == tmp_path / "env-weights"


def test_logs_rotate_in_app_data(frozen, monkeypatch):
    bundle, home = frozen
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    monkeypatch.setattr(logs, "_configured", False)
    logs.setup_logging(max_bytes=2_000, backups=2)
    added = [h for h in root.handlers if h not in before]
    try:
        assert len(added) == 1
        log = logging.getLogger("test.rotation")
        for i in range(200):
            log.info("line %04d %s", i, "x" * 40)
        for h in added:
            h.flush()
        folder = logs.log_dir()
        names = sorted(p.name for p in folder.iterdir())
        assert names == ["anomaly-studio.log", "anomaly-studio.log.1", "anomaly-studio.log.2"]
        assert all((folder / n).stat().st_size <= 2_000 for n in names)
        assert "line 0199" in (folder / "anomaly-studio.log").read_text(encoding="utf-8")
        assert not any(p.suffix == ".log" for p in bundle.rglob("*"))
        # configured once per process: a second call adds no handler
        logs.setup_logging()
        assert len([h for h in root.handlers if h not in before]) == 1
    finally:
        for h in added:
            root.removeHandler(h)
            h.close()
        root.setLevel(level)
