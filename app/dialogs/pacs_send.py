"""Send case to PACS…: builds the objects of the current case on the I/O worker (core.pacs.send.
plan_send: SEG, parametric map, SR, each read back and checked), lists what will be sent and what
cannot be, and sends only when the user presses the Send button. Nothing is ever sent on its own."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from app import theme
from core.settings import Settings


class SendDialog(QDialog):
    def __init__(self, window, case_id: str):
        super().__init__(window)
        self.setAttribute(Qt.WA_DeleteOnClose)
        self.window_ = window
        self.case_id = case_id
        self.plan = None
        self.setWindowTitle(f"Send {case_id} to PACS")
        self.resize(640, 360)
        self.server = QComboBox()
        for s in Settings.load().pacs_servers:
            self.server.addItem(s.name)
        self.server.currentTextChanged.connect(lambda _: self._update_button())
        self.contents = QLabel("Preparing the objects…")
        self.contents.setTextFormat(Qt.RichText)
        self.contents.setWordWrap(True)
        self.contents.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.send_button = QPushButton("Send")
        self.send_button.setEnabled(False)
        self.send_button.clicked.connect(self.send)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row = QHBoxLayout()
        row.addWidget(QLabel("To"))
        row.addWidget(self.server, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.send_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.contents, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.prepare()

    def prepare(self) -> None:
        from core.pacs.send import plan_send

        w = self.window_
        model = w.session.model
        ov = w.session.overlay_for(self.case_id)  # a combined choice sends the version whose result decided
        version = ov.case_score.version if ov is not None and ov.case_score is not None else (model.parts[0].version if model else None)
        w.io.submit(
            plan_send,
            w.session.workspace,
            self.case_id,
            model=model.name if model is not None else None,
            version=version,
            on_done=self._on_plan,
            on_error=self._on_plan_error,
        )

    def _on_plan(self, plan) -> None:
        self.plan = plan
        sent = "".join(f"<li>{html.escape(o)}</li>" for o in plan.lines() if not o.startswith("Not sent: "))
        held = "".join(f"<li>{html.escape(n)}</li>" for n in plan.notes)
        text = f"<p>Case <b>{html.escape(self.case_id)}</b>: these objects go to the study of its source images:</p><ul>{sent}</ul>"
        if held:
            text += f"<p style='color:{theme.MUTED}'>Not sent:</p><ul style='color:{theme.MUTED}'>{held}</ul>"
        self.contents.setText(text)
        self._update_button()

    def _on_plan_error(self, exc: BaseException) -> None:
        self.contents.setText(f"<p style='color:{theme.DANGER}'>{html.escape(str(exc))}</p>")

    def _update_button(self) -> None:
        n = len(self.plan.objects) if self.plan is not None else 0
        name = self.server.currentText()
        self.send_button.setEnabled(n > 0 and bool(name))
        self.send_button.setText(f"Send {n} object{'s' if n != 1 else ''} to {name}" if name else "No PACS server configured")

    def send(self) -> None:
        server = Settings.load().pacs_server(self.server.currentText())
        if server is None or self.plan is None:
            return
        self.send_button.setEnabled(False)
        self._say(f"Sending to {server.name}…")
        w = self.window_
        w.io.submit(_send, server, w.session.workspace, self.plan, w.session.user, on_done=self._on_sent, on_error=self._on_send_error)

    def _on_sent(self, result) -> None:
        self._say(f"Sent {len(result['sent'])} object(s) to {result['server']}.")
        self.send_button.setText("Sent")
        self.window_.statusBar().showMessage(f"{self.case_id}: {len(result['sent'])} object(s) sent to {result['server']}", 8000)

    def _on_send_error(self, exc: BaseException) -> None:
        self._say(str(exc), error=True)
        self._update_button()

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {theme.DANGER};" if error else "")


def _send(server, ws, plan, user: str) -> dict:
    """On the I/O worker: connect (auth, TLS) and store the planned objects."""
    from core.pacs import connect
    from core.pacs.send import send

    return send(ws, connect(server), plan, user=user)
