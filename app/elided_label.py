"""A one-line label that shortens its text with "…" when it has less room than the text needs,
and then shows the whole text as its tooltip (text is never cut off without a way to read it)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", parent=None, mode: Qt.TextElideMode = Qt.ElideRight, min_chars: int = 6):
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self._min_chars = min_chars
        self._own_tip = ""
        self.setTextFormat(Qt.PlainText)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setText(text)

    def full_text(self) -> str:
        return self._full

    def is_elided(self) -> bool:
        return super().text() != self._full

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        self._full = text or ""
        self._refit()
        self.updateGeometry()

    def text(self) -> str:
        return self._full

    def setToolTip(self, tip: str) -> None:  # noqa: N802 - Qt API
        self._own_tip = tip or ""
        self._refit()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        fm = self.fontMetrics()
        m = self.contentsMargins()
        return QSize(fm.horizontalAdvance(self._full) + m.left() + m.right() + 2, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        fm = self.fontMetrics()
        shown = self._full[: self._min_chars] + ("…" if len(self._full) > self._min_chars else "")
        return QSize(fm.horizontalAdvance(shown) + 2, super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._refit()

    def _refit(self) -> None:
        width = self.contentsRect().width()
        shown = self.fontMetrics().elidedText(self._full, self._mode, max(width, 1)) if width > 0 else self._full
        QLabel.setText(self, shown)
        tip = self._own_tip
        if shown != self._full:
            tip = f"{self._full}\n{tip}" if tip else self._full
        QLabel.setToolTip(self, tip)
