"""A banner above the viewers when another window already has the workspace open.

The window takes the workspace writer lock (core.workspace.lock) when it opens a workspace. When
another window holds it, both may still edit: label saves merge what the other window saved
(core.labels.save_guard), so nobody's shapes are dropped. The banner says who the other window
is, so nobody is surprised by shapes that appear after a reload.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.theme import WARN
from core.io.filelock import describe_holder


class WorkspaceBanner(QLabel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("workspacebanner")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.setStyleSheet(f"QLabel#workspacebanner {{ background: {WARN}; color: #111; padding: 4px 8px; border-radius: 3px; }}")
        self.holder: dict | None = None
        self.hide()

    def attach(self, workspace) -> None:
        """Take ``workspace``'s writer lock; show the banner when another window holds it."""
        self.holder = workspace.acquire_writer(app="Anomaly Studio window")
        if self.holder is None:
            self.hide()
            return
        self.setText(
            f"Also open in another window: {describe_holder(self.holder)}. Both can edit: label saves are merged, "
            "nothing either of you saves is dropped (reopen an image to see their latest shapes)."
        )
        self.show()
