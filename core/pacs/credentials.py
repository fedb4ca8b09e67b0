"""Passwords and tokens of PACS servers, kept out of ``settings.json``.

Where a secret comes from, first match wins:

1. the environment variable ``ANOMALY_STUDIO_PACS_SECRET_<NAME>`` (the server name upper-cased,
   every other character than A-Z and 0-9 replaced by ``_``) - for CI and shared machines;
2. ``pacs-secrets.json`` in the application-data folder, written owner-only (mode 0600 on POSIX)
   and atomically, never next to the settings' plain data, never logged.

No secret ever enters a log line, an exception message, the audit log or ``repr`` of a server.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat

from core.io.atomic import atomic_path
from core.settings import app_data_dir

SECRETS_FILE = "pacs-secrets.json"
ENV_PREFIX = "ANOMALY_STUDIO_PACS_SECRET_"
log = logging.getLogger(__name__)


def env_name(server_name: str) -> str:
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", server_name.upper())


def _path():
    return app_data_dir() / SECRETS_FILE


def _load() -> dict[str, str]:
    path = _path()
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        log.warning("%s is unreadable; PACS secrets stored there are ignored", path)
        return {}
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s can be read by other users; save the secrets again to restrict it", path)
    return {str(k): str(v) for k, v in obj.items()} if isinstance(obj, dict) else {}


def get_secret(server_name: str) -> str | None:
    """The password (basic auth) or token (bearer) of ``server_name``, or None."""
    env = os.environ.get(env_name(server_name))
    if env:
        return env
    return _load().get(server_name) or None


def set_secret(server_name: str, secret: str | None) -> None:
    """Store (or with None remove) the secret of ``server_name`` in the owner-only file."""
    data = _load()
    if secret:
        data[server_name] = secret
    else:
        data.pop(server_name, None)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    with atomic_path(_path()) as tmp:
        if os.name == "posix":
            os.chmod(tmp, 0o600)
        tmp.write_text(text, encoding="utf-8")
