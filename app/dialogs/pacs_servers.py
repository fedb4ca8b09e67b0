"""Add or edit a PACS server: DICOMweb URL, auth (none / basic / bearer), TLS verification (on by
default), CA bundle. The password or token goes to the owner-only secrets file
(core.pacs.credentials), never into settings.json; "Test" asks the server on the I/O worker."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from app import theme
from core.pacs.credentials import get_secret, set_secret
from core.settings import PACS_AUTH_KINDS, PacsServer, Settings


class ServerDialog(QDialog):
    def __init__(self, parent, io, name: str | None = None):
        super().__init__(parent)
        self.io = io
        self.saved_name: str | None = None
        self.setWindowTitle("PACS server")
        self.resize(560, 0)
        self.pick = QComboBox()
        self.pick.addItem("New server…")
        for s in Settings.load().pacs_servers:
            self.pick.addItem(s.name)
        self.name = QLineEdit()
        self.url = QLineEdit(placeholderText="https://pacs.example.org/dicom-web")
        self.auth = QComboBox()
        self.auth.addItems(list(PACS_AUTH_KINDS))
        self.username = QLineEdit()
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.Password)
        self.verify = QCheckBox("Verify the TLS certificate")
        self.verify.setChecked(True)
        self.ca_bundle = QLineEdit(placeholderText="system certificates")
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_bundle, 1)
        ca_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Edit", self.pick)
        form.addRow("Name", self.name)
        form.addRow("DICOMweb URL", self.url)
        form.addRow("Authentication", self.auth)
        form.addRow("User", self.username)
        form.addRow("Password / token", self.secret)
        form.addRow("", self.verify)
        form.addRow("CA bundle", ca_row)
        self.status = QLabel("The password or token is stored for your user only, never in the settings file.")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.addButton(self.test_button, QDialogButtonBox.ActionRole)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove)
        self.remove_button.setEnabled(False)
        buttons.addButton(self.remove_button, QDialogButtonBox.DestructiveRole)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.pick.currentTextChanged.connect(self._load)
        self.auth.currentTextChanged.connect(self._auth_changed)
        if name:
            self.pick.setCurrentText(name)
        self._auth_changed(self.auth.currentText())

    def _load(self, name: str) -> None:
        server = Settings.load().pacs_server(name)
        self.remove_button.setEnabled(server is not None)
        if server is None:
            for w in (self.name, self.url, self.username, self.ca_bundle):
                w.clear()
            self.auth.setCurrentText("none")
            self.verify.setChecked(True)
            self.secret.setPlaceholderText("")
            return
        self.name.setText(server.name)
        self.url.setText(server.url)
        self.auth.setCurrentText(server.auth)
        self.username.setText(server.username or "")
        self.verify.setChecked(server.verify_tls)
        self.ca_bundle.setText(server.ca_bundle or "")
        self.secret.clear()
        stored = server.auth != "none" and get_secret(server.name) is not None
        self.secret.setPlaceholderText("stored; leave empty to keep it" if stored else "")

    def _auth_changed(self, auth: str) -> None:
        self.username.setEnabled(auth == "basic")
        self.secret.setEnabled(auth != "none")

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "CA bundle", "", "PEM certificates (*.pem *.crt);;All files (*)")
        if path:
            self.ca_bundle.setText(path)

    def server(self) -> PacsServer:
        return PacsServer(
            self.name.text().strip(),
            self.url.text().strip(),
            auth=self.auth.currentText(),
            username=self.username.text().strip() or None,
            verify_tls=self.verify.isChecked(),
            ca_bundle=self.ca_bundle.text().strip() or None,
        )

    def _secret(self, server: PacsServer) -> str | None:
        if server.auth == "none":
            return None
        return self.secret.text() or get_secret(server.name)

    def test(self) -> None:
        try:
            server = self.server()
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        self._say(f"Asking {server.url}…")
        self.test_button.setEnabled(False)
        self.io.submit(_check, server, self._secret(server), on_done=lambda _: self._tested(None), on_error=self._tested)

    def _tested(self, exc) -> None:
        self.test_button.setEnabled(True)
        self._say("The server answered a study search with these settings." if exc is None else str(exc), error=exc is not None)

    def save(self) -> None:
        try:
            server = self.server()
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        settings = Settings.load()
        old = self.pick.currentText()
        if old != server.name and settings.pacs_server(old) is not None:
            settings.remove_pacs_server(old)
            set_secret(old, None)
        settings.put_pacs_server(server)
        settings.save()
        if server.auth == "none":
            set_secret(server.name, None)
        elif self.secret.text():
            set_secret(server.name, self.secret.text())
        self.saved_name = server.name
        self.accept()

    def remove(self) -> None:
        """Remove the picked server and its stored secret."""
        name = self.pick.currentText()
        settings = Settings.load()
        if settings.remove_pacs_server(name):
            settings.save()
            set_secret(name, None)
            self.saved_name = None
            self.accept()

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {theme.DANGER};" if error else "")


def _check(server: PacsServer, secret: str | None) -> None:
    """On the I/O worker: a study search with these settings (raises a readable PacsError)."""
    from core.pacs.client import PacsClient

    PacsClient(server, secret).check()
