"""The Retrain dialog's settings table, generated from a method's settings dataclass
(core.models.config): one row per setting with its default, and a tooltip with its help text,
allowed values and the paper's value; advanced settings last. The device has its own control."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem

from core.models.config import describe, tooltip


def as_text(value) -> str:
    """A setting's value as the table shows it (lists as comma-separated items)."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


class SettingsTable(QTableWidget):
    def __init__(self, parent=None):
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["Setting", "Value"])
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.verticalHeader().hide()
        self.defaults: dict[str, str] = {}

    def load(self, settings_class) -> None:
        rows = sorted((r for r in describe(settings_class) if r["name"] != "device"), key=lambda r: r["advanced"])
        self.defaults = {r["name"]: as_text(r["default"]) for r in rows}
        self.blockSignals(True)
        self.setRowCount(0)
        for row in rows:
            r = self.rowCount()
            self.insertRow(r)
            tip = tooltip(row)
            key = QTableWidgetItem(row["name"])
            key.setFlags(key.flags() & ~Qt.ItemIsEditable)
            key.setToolTip(tip)
            value = QTableWidgetItem(self.defaults[row["name"]])
            value.setToolTip(tip)
            self.setItem(r, 0, key)
            self.setItem(r, 1, value)
        self.blockSignals(False)

    def key_at(self, row: int) -> str | None:
        item = self.item(row, 0)
        return item.text() if item is not None else None

    def changes(self) -> dict[str, str]:
        """Settings that differ from the defaults, as text (the method's settings class types them)."""
        out = {}
        for r in range(self.rowCount()):
            k, text = self.item(r, 0).text(), self.item(r, 1).text().strip()
            if text != self.defaults.get(k, ""):
                out[k] = text
        return out

    def set_value(self, key: str, value) -> bool:
        for r in range(self.rowCount()):
            if self.item(r, 0).text() == key:
                self.item(r, 1).setText(as_text(value))
                return True
        return False
