"""Per-user settings and the application-data folder (weights, logs, demo workspace).

Nothing here lives inside the program folder or a PyInstaller bundle. ``ANOMALY_STUDIO_HOME``
moves the whole folder (tests use it); ``ANOMALY_STUDIO_WEIGHTS`` overrides the weights folder.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from core.io.atomic import atomic_write_json

APP_DIR_NAME = "anomaly-studio"
PACS_AUTH_KINDS = ("none", "basic", "bearer")
_SERVER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class PacsServer:
    """A named DICOMweb server. Passwords and tokens are never kept here (core.pacs.secrets)."""

    name: str
    url: str  # DICOMweb base URL, e.g. https://pacs.example.org/dicom-web
    auth: str = "none"  # none | basic | bearer
    username: str | None = None  # basic auth
    verify_tls: bool = True
    ca_bundle: str | None = None  # PEM file with the CA certificates to trust for this server
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _SERVER_NAME_RE.match(self.name):
            raise ValueError(f"PACS server name {self.name!r}: use letters, digits, spaces, '.', '_' and '-' (at most 64)")
        parts = urlsplit(str(self.url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"PACS server '{self.name}': URL {self.url!r} must start with http:// or https:// and name a host")
        if parts.username or parts.password:
            raise ValueError(f"PACS server '{self.name}': put the user name in the settings, not in the URL")
        if self.auth not in PACS_AUTH_KINDS:
            raise ValueError(f"PACS server '{self.name}': auth must be one of {', '.join(PACS_AUTH_KINDS)}")
        if self.auth == "basic" and not self.username:
            raise ValueError(f"PACS server '{self.name}': basic auth needs a user name")
        if not float(self.timeout_s) > 0:
            raise ValueError(f"PACS server '{self.name}': timeout must be positive")

    @classmethod
    def from_json(cls, obj: dict) -> PacsServer:
        if not isinstance(obj, dict):
            raise ValueError("a PACS server entry must be a JSON object")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in names})


@dataclass
class Settings:
    last_workspace: str | None = None
    recent_workspaces: list[str] = field(default_factory=list)
    weights_dir: str | None = None
    device: str = "auto"  # auto | cpu | cuda
    backend: str = "auto"  # frozen encoders: auto (ONNX Runtime on a CPU, torch on CUDA) | torch | onnx
    user: str | None = None
    autosave: bool = True
    sam_prefetch: bool = True  # label mode: each image's SAM embedding starts in the background, ahead of the first click
    max_pixels: int | None = None  # decoder budget in values (core.io.limits); the environment overrides it
    pacs_servers: list[PacsServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        servers = []
        for entry in self.pacs_servers or []:
            try:
                servers.append(entry if isinstance(entry, PacsServer) else PacsServer.from_json(entry))
            except (TypeError, ValueError) as exc:
                log.warning("settings: PACS server entry ignored: %s", exc)
        self.pacs_servers = servers

    def pacs_server(self, name: str) -> PacsServer | None:
        return next((s for s in self.pacs_servers if s.name == name), None)

    def put_pacs_server(self, server: PacsServer) -> None:
        """Add ``server`` or replace the one with its name (keeps the order)."""
        names = [s.name for s in self.pacs_servers]
        if server.name in names:
            self.pacs_servers[names.index(server.name)] = server
        else:
            self.pacs_servers.append(server)

    def remove_pacs_server(self, name: str) -> bool:
        before = len(self.pacs_servers)
        self.pacs_servers = [s for s in self.pacs_servers if s.name != name]
        return len(self.pacs_servers) != before

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
        settings = cls(**{k: v for k, v in obj.items() if k in names})
        from core.io.limits import configure_budget

        configure_budget(settings.max_pixels)  # the decoders' budget (the environment still wins)
        return settings

    def save(self) -> None:
        atomic_write_json(self.path, asdict(self))

    def remember_workspace(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        self.last_workspace = p
        self.recent_workspaces = [p] + [r for r in self.recent_workspaces if r != p][:9]

    def resolved_user(self) -> str:
        return self.user or os.environ.get("ANOMALY_STUDIO_USER") or default_user()

    def resolved_sam_prefetch(self) -> bool:
        """``ANOMALY_STUDIO_SAM_PREFETCH`` (0/1) wins over the setting (tests turn it off by default)."""
        env = os.environ.get("ANOMALY_STUDIO_SAM_PREFETCH", "").strip().lower()
        if env in ("0", "false", "no", "off"):
            return False
        if env in ("1", "true", "yes", "on"):
            return True
        return bool(self.sam_prefetch)

    def resolved_weights_dir(self) -> Path:
        env = os.environ.get("ANOMALY_STUDIO_WEIGHTS")
        if env:
            return Path(env)
        if self.weights_dir:
            return Path(self.weights_dir)
        return app_data_dir() / "weights"


def demo_workspace_dir() -> Path:
    return app_data_dir() / "demo-workspace"
