"""Per-user settings and the application-data folder (weights, logs, demo workspace).

Nothing here lives inside the program folder or a PyInstaller bundle. ``ANOMALY_STUDIO_HOME``
moves the whole folder (tests use it); ``ANOMALY_STUDIO_WEIGHTS`` overrides the weights folder.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from core.io.atomic import atomic_write_json

APP_DIR_NAME = "anomaly-studio"


def app_data_dir() -> Path:
    override = os.environ.get("ANOMALY_STUDIO_HOME")
    if override:
        base = Path(override)
    elif sys.platform.startswith("win"):
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "AnomalyStudio"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "AnomalyStudio"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / APP_DIR_NAME
    base.mkdir(parents=True, exist_ok=True)
    return base


def default_user() -> str:
    try:
        return getpass.getuser() or "user"
    except Exception:  # noqa: BLE001 - getpass fails without a login name (containers)
        return os.environ.get("USER") or os.environ.get("USERNAME") or "user"


@dataclass
class Settings:
    last_workspace: str | None = None
    recent_workspaces: list[str] = field(default_factory=list)
    weights_dir: str | None = None
    device: str = "auto"  # auto | cpu | cuda
    user: str | None = None
    autosave: bool = True
    max_pixels: int | None = None  # decoder budget in values (core.io.limits); ANOMALY_STUDIO_MAX_PIXELS overrides

    @property
    def path(self) -> Path:
        return app_data_dir() / "settings.json"

    @classmethod
    def load(cls) -> Settings:
        path = app_data_dir() / "settings.json"
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, OSError, UnicodeDecodeError):
            return cls()
        if not isinstance(obj, dict):
            return cls()
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in names})

    def save(self) -> None:
        atomic_write_json(self.path, asdict(self))

    def remember_workspace(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        self.last_workspace = p
        self.recent_workspaces = [p] + [r for r in self.recent_workspaces if r != p][:9]

    def resolved_user(self) -> str:
        return self.user or os.environ.get("ANOMALY_STUDIO_USER") or default_user()

    def resolved_weights_dir(self) -> Path:
        env = os.environ.get("ANOMALY_STUDIO_WEIGHTS")
        if env:
            return Path(env)
        if self.weights_dir:
            return Path(self.weights_dir)
        return app_data_dir() / "weights"


def demo_workspace_dir() -> Path:
    return app_data_dir() / "demo-workspace"
