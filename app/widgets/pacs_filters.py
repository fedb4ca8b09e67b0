"""The filter bar of the PACS study browser: server, patient ID / name, description, study dates,
modalities and the Search button. Plain widgets; :meth:`StudyFilters.query` gives the engine's
core.pacs.query.StudyQuery."""

from __future__ import annotations

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDateEdit, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from core.pacs.query import KNOWN_MODALITIES, StudyQuery
from core.settings import Settings


class StudyFilters(QWidget):
    search_requested = Signal()
    edit_servers = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.server = QComboBox()
        self.servers_button = QPushButton("Servers…")
        self.servers_button.clicked.connect(self.edit_servers)
        self.patient_id = QLineEdit(placeholderText="patient ID")
        self.patient = QLineEdit(placeholderText="name (* and ? are wildcards)")
        self.description = QLineEdit(placeholderText="study description")
        self.use_dates = QCheckBox("Dates")
        self.date_from, self.date_to = QDateEdit(QDate.currentDate().addYears(-1)), QDateEdit(QDate.currentDate())
        for d in (self.date_from, self.date_to):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
            d.setEnabled(False)
        self.use_dates.toggled.connect(lambda on: (self.date_from.setEnabled(on), self.date_to.setEnabled(on)))
        self.modality = {m: QCheckBox(m) for m in KNOWN_MODALITIES}
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search_requested)
        for w in (self.patient_id, self.patient, self.description):
            w.returnPressed.connect(self.search_requested)

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setColumnStretch(1, 2)
        grid.setColumnStretch(3, 3)
        grid.setColumnStretch(5, 3)
        grid.addWidget(QLabel("Server"), 0, 0)
        grid.addWidget(self.server, 0, 1, 1, 4)
        grid.addWidget(self.servers_button, 0, 5, Qt.AlignLeft)
        for col, (label, widget) in enumerate((("Patient ID", self.patient_id), ("Name", self.patient), ("Description", self.description))):
            grid.addWidget(QLabel(label), 1, 2 * col)
            grid.addWidget(widget, 1, 2 * col + 1)
        row = QHBoxLayout()
        row.addWidget(self.use_dates)
        row.addWidget(self.date_from)
        row.addWidget(QLabel("to"))
        row.addWidget(self.date_to)
        row.addSpacing(16)
        row.addWidget(QLabel("Modality"))
        for box in self.modality.values():
            row.addWidget(box)
        row.addStretch(1)
        row.addWidget(self.search_button)
        grid.addLayout(row, 2, 0, 1, 6)

    def reload_servers(self, select: str | None = None) -> bool:
        """Fill the server list from the settings; False when none is configured."""
        current = select or self.server.currentText()
        self.server.clear()
        for s in Settings.load().pacs_servers:
            self.server.addItem(s.name)
        if current:
            self.server.setCurrentText(current)
        has = self.server.count() > 0
        self.search_button.setEnabled(has)
        return has

    def query(self) -> StudyQuery:
        on = self.use_dates.isChecked()
        return StudyQuery(
            patient_id=self.patient_id.text().strip(),
            patient_name=self.patient.text().strip(),
            date_from=self.date_from.date().toString("yyyy-MM-dd") if on else None,
            date_to=self.date_to.date().toString("yyyy-MM-dd") if on else None,
            modalities=tuple(m for m, box in self.modality.items() if box.isChecked()),
            description=self.description.text().strip(),
        )
