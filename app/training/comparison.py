"""The Retrain dialog's comparison table: one row per compared version with the metrics measured on
the reviewed cases neither version was trained on (core.models.retraining.compare_versions)."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

METRICS = (
    ("image_auroc", "Image AUROC"),
    ("pixel_auroc", "Pixel AUROC"),
    ("pro", "PRO"),
    ("dice_at_threshold", "Dice"),
    ("n_images", "Images"),
)


class ComparisonTable(QTableWidget):
    def __init__(self, parent=None):
        super().__init__(0, 2 + len(METRICS), parent)
        self.setHorizontalHeaderLabels(["Version", ""] + [t for _k, t in METRICS])
        self.horizontalHeaderItem(2 + [k for k, _ in METRICS].index("dice_at_threshold")).setToolTip(
            "Dice at the model's own pixel threshold (no threshold chosen on these cases)"
        )
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.setMaximumHeight(110)

    def show_rows(self, rows: list[dict], new_version: str | None) -> None:
        self.setRowCount(0)
        for row in rows:
            r = self.rowCount()
            self.insertRow(r)
            tag = "new" if row["version"] == new_version else ("active" if row["active"] else "")
            self.setItem(r, 0, QTableWidgetItem(row["version"]))
            self.setItem(r, 1, QTableWidgetItem(tag))
            for c, (key, _t) in enumerate(METRICS, start=2):
                v = row["metrics"].get(key)
                text = "—" if v is None else (f"{v:d}" if isinstance(v, int) else f"{float(v):.3f}")
                self.setItem(r, c, QTableWidgetItem(text))
