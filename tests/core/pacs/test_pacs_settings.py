"""PACS server settings, where secrets live, and the session's auth and TLS (no server needed)."""

from __future__ import annotations

import json
import os
import stat

import pytest
import requests

from core.pacs.client import PacsClient, make_session
from core.pacs.credentials import env_name, get_secret, set_secret
from core.pacs.errors import PacsAuthError, PacsConnectionError
from core.settings import PacsServer, Settings


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_STUDIO_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "a/b", "url": "https://x.org"}, "use letters"),
        ({"name": "p", "url": "pacs.example.org"}, "must start with http"),
        ({"name": "p", "url": "https://user:pw@x.org"}, "not in the URL"),
        ({"name": "p", "url": "https://x.org", "auth": "digest"}, "auth must be one of"),
        ({"name": "p", "url": "https://x.org", "auth": "basic"}, "needs a user name"),
        ({"name": "p", "url": "https://x.org", "timeout_s": 0}, "timeout must be positive"),
    ],
)
def test_server_entries_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PacsServer(**kwargs)


def test_servers_round_trip_through_the_settings_file_without_secrets(home):
    s = Settings()
    s.put_pacs_server(PacsServer("main", "https://pacs.example.org/dicom-web", auth="basic", username="reader", ca_bundle="/etc/ca.pem"))
    s.put_pacs_server(PacsServer("backup", "http://127.0.0.1:8042/dicom-web"))
    s.put_pacs_server(PacsServer("main", "https://pacs2.example.org/dicom-web", auth="bearer"))  # replaces, keeps the order
    s.save()
    set_secret("main", "s3cret-token")
    loaded = Settings.load()
    assert [p.name for p in loaded.pacs_servers] == ["main", "backup"]
    assert loaded.pacs_server("main") == PacsServer("main", "https://pacs2.example.org/dicom-web", auth="bearer")
    assert isinstance(loaded.pacs_servers[1], PacsServer) and loaded.pacs_servers[1].verify_tls is True
    assert "s3cret-token" not in (home / "settings.json").read_text() and "s3cret-token" not in repr(loaded)
    assert get_secret("main") == "s3cret-token"
    assert os.name != "posix" or stat.S_IMODE(os.stat(home / "pacs-secrets.json").st_mode) == 0o600
    assert loaded.remove_pacs_server("main") and not loaded.remove_pacs_server("main")


def test_a_broken_server_entry_is_skipped_not_fatal(home):
    (home / "settings.json").write_text(
        json.dumps({"device": "cpu", "pacs_servers": [{"name": "ok", "url": "https://a.org"}, {"name": "bad", "url": "nope"}, 7]})
    )
    s = Settings.load()
    assert s.device == "cpu" and [p.name for p in s.pacs_servers] == ["ok"]


def test_environment_secret_wins_and_removal(home, monkeypatch):
    set_secret("Clinic PACS", "from-file")
    assert env_name("Clinic PACS") == "ANOMALY_STUDIO_PACS_SECRET_CLINIC_PACS"
    monkeypatch.setenv("ANOMALY_STUDIO_PACS_SECRET_CLINIC_PACS", "from-env")
    assert get_secret("Clinic PACS") == "from-env"
    monkeypatch.delenv("ANOMALY_STUDIO_PACS_SECRET_CLINIC_PACS")
    set_secret("Clinic PACS", None)
    assert get_secret("Clinic PACS") is None


def test_session_auth_and_tls(tmp_path):
    basic = make_session(PacsServer("b", "https://x.org/dicom-web", auth="basic", username="u"), "pw")
    assert basic.auth == ("u", "pw") and basic.verify is True
    bearer = make_session(PacsServer("t", "https://x.org/dicom-web", auth="bearer"), "tok-123")
    prepared = bearer.prepare_request(requests.Request("GET", "https://x.org/dicom-web/studies"))
    assert prepared.headers["Authorization"] == "Bearer tok-123" and "tok-123" not in repr(bearer.auth)
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert make_session(PacsServer("c", "https://x.org", ca_bundle=str(ca)), None).verify == str(ca)
    assert make_session(PacsServer("n", "https://x.org", verify_tls=False), None).verify is False
    with pytest.raises(PacsConnectionError, match="CA bundle .* does not exist"):
        make_session(PacsServer("m", "https://x.org", ca_bundle=str(tmp_path / "missing.pem")), None)
    with pytest.raises(PacsAuthError, match="no bearer token stored"):
        PacsClient(PacsServer("t", "https://x.org", auth="bearer"))
    assert "tok-123" not in repr(PacsClient(PacsServer("t", "https://x.org", auth="bearer"), "tok-123"))
