"""Help dialog listing every keyboard shortcut (review, window, label mode) and the mouse actions,
from the tables in app.state.shortcuts. Long descriptions wrap: the list never needs a horizontal
scrollbar."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from app import theme
from app.state.shortcuts import LABEL_SHORTCUTS, MOUSE_HELP, SHORTCUTS, WINDOW_SHORTCUTS


def key_text(keys: tuple[str, ...]) -> str:
    return " / ".join(QKeySequence(k).toString(QKeySequence.NativeText) or k for k in keys)


def shortcuts_html() -> str:
    groups: dict[str, list] = {}
    for s in SHORTCUTS + WINDOW_SHORTCUTS + LABEL_SHORTCUTS:
        groups.setdefault(s.group, []).append(s)
    rows = [(group, [(s.shown or key_text(s.keys), s.text) for s in items]) for group, items in groups.items()]
    rows.append(("Mouse", list(MOUSE_HELP)))
    parts = ["<table width='100%' cellspacing='0' cellpadding='3'>"]
    for group, items in rows:
        parts.append(f"<tr><td colspan='2' style='color:{theme.MUTED}; padding-top:10px'><b>{html.escape(group)}</b></td></tr>")
        for keys, text in items:
            parts.append(f"<tr><td style='padding-right:14px' nowrap><b>{html.escape(keys)}</b></td><td>{html.escape(text)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.text = QLabel(shortcuts_html())
        self.text.setTextFormat(Qt.RichText)
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.text.setContentsMargins(6, 0, 6, 6)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(buttons)
        screen = parent.screen().availableGeometry() if parent is not None and parent.screen() is not None else None
        height = 640 if screen is None else min(640, int(screen.height() * 0.85))
        self.resize(600, height)
