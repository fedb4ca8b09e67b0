"""A real Orthanc with its DICOMweb plugin for the PACS tests (Debian packages ``orthanc`` and
``orthanc-dicomweb``), started as our own process on free loopback ports with a temporary
storage folder and one test user; never the system service."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

INSTALL_HINT = (
    "Orthanc with its DICOMweb plugin is not installed; the PACS tests need a real server: "
    "apt-get install orthanc orthanc-dicomweb (Debian/Ubuntu)"
)
PLUGIN_NAMES = ("libOrthancDicomWeb.so",)
PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")
USER, PASSWORD = "tester", "orthanc-test-password"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_plugin() -> Path | None:
    """libOrthancDicomWeb.so from the package's file list (dpkg -L), else the usual folders."""
    try:
        listing = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        listing = ""
    for line in listing.splitlines():
        path = Path(line.strip())
        if path.name.startswith("libOrthancDicomWeb.so") and path.is_file():
            return path
    for folder in PLUGIN_DIRS:
        for path in sorted(Path(folder).glob("libOrthancDicomWeb.so*")):
            if path.is_file():
                return path
    return None


def available() -> str | None:
    """None when Orthanc and the plugin are installed, else the reason the tests skip."""
    if shutil.which("Orthanc") is None or find_plugin() is None:
        return INSTALL_HINT
    return None


class Orthanc:
    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dicomweb = f"{self.url}/dicom-web"
        self.auth = (USER, PASSWORD)
        self.process: subprocess.Popen | None = None
        self.log = folder / "orthanc.log"

    def config(self) -> dict:
        storage = self.folder / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        return {
            "Name": "AnomalyStudioTest",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.port,
            "DicomPort": free_port(),
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD},
            "Plugins": [str(find_plugin())],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "StudiesMetadata": "Full"},
            "HttpThreadsCount": 8,
            "StorageCompression": False,
            "SaveJobs": False,
        }

    def start(self, timeout: float = 30.0) -> Orthanc:
        cfg = self.folder / "orthanc.json"
        cfg.write_text(json.dumps(self.config(), indent=2))
        handle = open(self.log, "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(["Orthanc", str(cfg)], stdout=handle, stderr=subprocess.STDOUT, cwd=self.folder)
        handle.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.process.returncode}:\n{self.log.read_text(errors='replace')[-3000:]}")
            try:
                if requests.get(f"{self.url}/system", auth=self.auth, timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer /system within {timeout} s:\n{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def version(self) -> str:
        return requests.get(f"{self.url}/system", auth=self.auth, timeout=5).json()["Version"]

    # -- test set-up through Orthanc's own REST API (not the product under test) ----------------------
    def upload(self, datasets) -> None:
        import io

        import pydicom

        for ds in datasets:
            buffer = io.BytesIO()
            pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
            r = requests.post(f"{self.url}/instances", data=buffer.getvalue(), auth=self.auth, timeout=30)
            r.raise_for_status()

    def delete_instance(self, sop_uid: str) -> None:
        r = requests.post(f"{self.url}/tools/lookup", data=sop_uid, auth=self.auth, timeout=10)
        r.raise_for_status()
        for item in r.json():
            if item["Type"] == "Instance":
                requests.delete(f"{self.url}/instances/{item['ID']}", auth=self.auth, timeout=10).raise_for_status()

    def clear(self) -> None:
        for pid in requests.get(f"{self.url}/patients", auth=self.auth, timeout=10).json():
            requests.delete(f"{self.url}/patients/{pid}", auth=self.auth, timeout=10).raise_for_status()


# -- pytest fixtures (registered for the whole test tree by tests/conftest.py) -----------------------
@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    """One real Orthanc for the session (skips with the install command when it is missing)."""
    reason = available()
    if reason:
        pytest.skip(reason)
    server = Orthanc(tmp_path_factory.mktemp("orthanc")).start()
    yield server
    server.stop()


@pytest.fixture
def pacs_server(orthanc, monkeypatch):
    """A settings entry for the test Orthanc (basic auth; the password comes from the environment)."""
    from core.pacs.credentials import env_name
    from core.settings import PacsServer

    server = PacsServer("test-orthanc", orthanc.dicomweb, auth="basic", username=USER, timeout_s=20)
    monkeypatch.setenv(env_name(server.name), PASSWORD)
    return server
