"""Help dialog listing the keyboard shortcuts and mouse actions (from app.state.shortcuts)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from app import theme
from app.state.shortcuts import MOUSE_HELP, SHORTCUTS


def shortcuts_html() -> str:
    groups: dict[str, list] = {}
    for s in SHORTCUTS:
        groups.setdefault(s.group, []).append(s)
    parts = ["<table cellspacing='0' cellpadding='4'>"]
    for group, items in groups.items():
        parts.append(f"<tr><td colspan='2' style='color:{theme.MUTED}; padding-top:10px'><b>{html.escape(group)}</b></td></tr>")
        for s in items:
            keys = " / ".join(QKeySequence(k).toString(QKeySequence.NativeText) or k for k in s.keys)
            parts.append(f"<tr><td style='padding-right:18px'><b>{html.escape(keys)}</b></td><td>{html.escape(s.text)}</td></tr>")
    parts.append(f"<tr><td colspan='2' style='color:{theme.MUTED}; padding-top:10px'><b>Mouse</b></td></tr>")
    for what, text in MOUSE_HELP:
        parts.append(f"<tr><td style='padding-right:18px'><b>{html.escape(what)}</b></td><td>{html.escape(text)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(560, 620)
        self.text = QLabel(shortcuts_html())
        self.text.setTextFormat(Qt.RichText)
        self.text.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
