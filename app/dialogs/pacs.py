"""File -> Open from PACS…: the study browser (QIDO-RS search, series of a study, WADO-RS
retrieve with progress and Cancel), and the File-menu entries of the PACS (:func:`add_pacs_actions`).

Every request runs on the window's I/O TaskRunner; answers come back on the GUI thread. After a
retrieve the window's worklist is refreshed. The engine is core.pacs.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from app import theme
from app.widgets.pacs_filters import StudyFilters
from core.errors import CancelledError
from core.pacs.query import NON_IMAGE_MODALITIES
from core.runtime.progress import CancelToken
from core.settings import Settings

log = logging.getLogger(__name__)
STUDY_COLUMNS = ("Date", "Patient ID", "Patient", "Modalities", "Series", "Images", "Description")
SERIES_COLUMNS = ("Retrieve", "Modality", "#", "Description", "Images", "In workspace")


def add_pacs_actions(window, file_menu) -> None:
    """File -> Open from PACS… and Send case to PACS… (both explicit user actions)."""
    file_menu.addAction(QAction("Open from &PACS…", window, triggered=lambda: open_pacs_browser(window)))
    file_menu.addAction(QAction("Send case to PA&CS…", window, triggered=lambda: open_send_dialog(window)))


def open_pacs_browser(window) -> PacsBrowser:
    dlg = window.findChild(PacsBrowser)  # one browser per window, a child of it (kept between uses)
    if dlg is None:
        dlg = PacsBrowser(window)
    dlg.show()
    dlg.raise_()
    return dlg


def open_send_dialog(window):
    from app.dialogs.pacs_send import SendDialog

    case_id = window.session.current_case_id
    if case_id is None:
        window.statusBar().showMessage("Open a case first: Send to PACS sends the current case", 8000)
        return None
    dlg = SendDialog(window, case_id)
    dlg.show()
    return dlg


class _Bridge(QObject):
    """Carries progress from the I/O worker to the GUI thread (queued signal)."""

    progressed = Signal(int, int, str)


def _item(text, align=None) -> QTableWidgetItem:
    item = QTableWidgetItem("" if text is None else str(text))
    item.setFlags(item.flags() & ~Qt.ItemIsEditable)
    if align is not None:
        item.setTextAlignment(align)
    return item


class PacsBrowser(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Open from PACS")
        self.resize(1100, 640)
        self.studies: list = []
        self.series: list = []
        self._token: CancelToken | None = None
        self._bridge = _Bridge(self)
        self._bridge.progressed.connect(self._on_progress)
        self._build()
        self.reload_servers()

    # -- layout ----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.filters = StudyFilters()
        self.filters.search_requested.connect(self.search)
        self.filters.edit_servers.connect(self._edit_servers)
        self.search_button = self.filters.search_button

        self.study_table = self._table(STUDY_COLUMNS)
        self.study_table.itemSelectionChanged.connect(self._on_study_selected)
        self.series_table = self._table(SERIES_COLUMNS)
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.study_table)
        split.addWidget(self.series_table)
        split.setSizes([340, 180])

        self.status = QLabel("Choose a server and search.")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.retrieve_button = QPushButton("Retrieve selected series")
        self.retrieve_button.setEnabled(False)
        self.retrieve_button.clicked.connect(self.retrieve)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.retrieve_button)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.filters)
        layout.addWidget(split, 1)
        layout.addWidget(self.progress)
        layout.addLayout(bottom)

    @staticmethod
    def _table(columns) -> QTableWidget:
        t = QTableWidget(0, len(columns))
        t.setHorizontalHeaderLabels(list(columns))
        t.setSelectionBehavior(QAbstractItemView.SelectRows)
        t.setSelectionMode(QAbstractItemView.SingleSelection)
        t.verticalHeader().setVisible(False)
        t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        t.horizontalHeader().setStretchLastSection(True)
        return t

    # -- servers ---------------------------------------------------------------------------------
    def reload_servers(self, select: str | None = None) -> None:
        if not self.filters.reload_servers(select):
            self._say("No PACS server configured yet: add one with Servers…")

    def _edit_servers(self) -> None:
        from app.dialogs.pacs_servers import ServerDialog

        dlg = ServerDialog(self, self.window_.io, name=self.filters.server.currentText() or None)
        if dlg.exec():
            # the window saves its own Settings object later (device changes): give it the new list
            self.window_.settings.pacs_servers = Settings.load().pacs_servers
            self.reload_servers(dlg.saved_name)

    def _server(self):
        """The chosen server entry; the connection itself is made on the I/O worker (core.pacs.connect)."""
        server = Settings.load().pacs_server(self.filters.server.currentText())
        if server is None:
            raise ValueError("choose a PACS server first")
        return server

    # -- search ----------------------------------------------------------------------------------
    def search(self) -> None:
        try:
            query = self.filters.query()
            query.qido_filters()  # validate here: bad input never reaches the server
            server = self._server()
        except Exception as exc:  # noqa: BLE001 - shown to the user as one line
            self._say(str(exc), error=True)
            return
        self._say(f"Searching {server.name}…")
        self.search_button.setEnabled(False)
        self.window_.io.submit(_search, server, query, on_done=self._on_studies, on_error=self._on_search_error)

    def _on_search_error(self, exc: BaseException) -> None:
        self.search_button.setEnabled(True)
        self._say(str(exc), error=True)

    def _on_studies(self, rows) -> None:
        self.search_button.setEnabled(True)
        self.studies = list(rows)
        t = self.study_table
        t.setRowCount(len(rows))
        for i, r in enumerate(rows):
            values = (r.date_text, r.patient_id, r.patient_name, "/".join(r.modalities), r.series, r.instances, r.description)
            for j, v in enumerate(values):
                t.setItem(i, j, _item(v, Qt.AlignRight | Qt.AlignVCenter if j in (4, 5) else None))
        self.series_table.setRowCount(0)
        self.retrieve_button.setEnabled(False)
        self._say(f"{len(rows)} stud{'y' if len(rows) == 1 else 'ies'} found on {self.filters.server.currentText()}.")
        if rows:
            t.blockSignals(True)
            t.selectRow(0)
            t.blockSignals(False)
            self._on_study_selected()

    def _on_study_selected(self, announce: bool = True) -> None:
        row = self.study_table.currentRow()
        if not 0 <= row < len(self.studies):
            return
        study = self.studies[row]
        try:
            server = self._server()
        except Exception as exc:  # noqa: BLE001
            self._say(str(exc), error=True)
            return
        ws = self.window_.session.workspace
        self.window_.io.submit(
            _series_with_status,
            server,
            ws,
            study.study_uid,
            on_done=lambda answer: self._on_series(answer, announce),
            on_error=self._on_search_error,
        )

    def _on_series(self, answer, announce: bool = True) -> None:
        study_uid, rows = answer
        current = self.study_table.currentRow()
        if not (0 <= current < len(self.studies)) or self.studies[current].study_uid != study_uid:
            return  # the user selected another study meanwhile
        self.series = [r for r, _ in rows]
        t = self.series_table
        t.setRowCount(len(rows))
        for i, (r, case) in enumerate(rows):
            check = QTableWidgetItem()
            readable = r.modality.upper() not in NON_IMAGE_MODALITIES
            check.setFlags(Qt.ItemIsUserCheckable | Qt.ItemIsEnabled if readable else Qt.NoItemFlags)
            check.setCheckState(Qt.Checked if readable and case is None else Qt.Unchecked)
            t.setItem(i, 0, check)
            for j, v in enumerate((r.modality, r.number, r.description, r.instances, case or ""), start=1):
                t.setItem(i, j, _item(v))
        self.retrieve_button.setEnabled(bool(rows) and self._token is None)
        held = sum(1 for _, case in rows if case)
        if announce and self._token is None:
            study = self.studies[current]
            extra = f", {held} already in the workspace" if held else ""
            self._say(
                f"{len(self.studies)} stud{'y' if len(self.studies) == 1 else 'ies'} found. {study.patient_name or study.patient_id}, "
                f"{study.date_text}: {len(rows)} series{extra}. Tick the series to retrieve."
            )

    # -- retrieve --------------------------------------------------------------------------------
    def chosen_series(self) -> list[str]:
        return [s.series_uid for i, s in enumerate(self.series) if self.series_table.item(i, 0).checkState() == Qt.Checked]

    def retrieve(self) -> None:
        row = self.study_table.currentRow()
        chosen = self.chosen_series()
        if not (0 <= row < len(self.studies)) or not chosen:
            self._say("Tick the series to retrieve.", error=True)
            return
        try:
            server = self._server()
        except Exception as exc:  # noqa: BLE001
            self._say(str(exc), error=True)
            return
        self._token = CancelToken()
        self._busy(True)
        study = self.studies[row]
        self._say(f"Retrieving {len(chosen)} series of {study.patient_name or study.patient_id}…")
        w = self.window_
        w.io.submit(
            _retrieve,
            server,
            w.session.workspace,
            study.study_uid,
            chosen,
            user=w.session.user,
            progress=self._bridge.progressed.emit,
            cancel=self._token,
            on_done=self._on_retrieved,
            on_error=self._on_retrieve_error,
        )

    def cancel(self) -> None:
        if self._token is not None:
            self._token.cancel()
            self._say("Cancelling after the current instance…")

    def _busy(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.progress.setRange(0, 0)
        self.cancel_button.setEnabled(on)
        self.retrieve_button.setEnabled(not on)
        self.search_button.setEnabled(not on)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done}/{total}  {message}")

    def _on_retrieved(self, report) -> None:
        self._token = None
        self._busy(False)
        lines = []
        cases = sorted({e["case"] for e in report.imported})
        if cases:
            lines.append(f"Imported {', '.join(cases)}.")
        if report.duplicates:
            lines.append("Already in the workspace: " + ", ".join(sorted({d["case"] for d in report.duplicates})) + ".")
        problem = report.problem()
        if problem:
            lines.append(problem)
        self._say(" ".join(lines) or "Nothing to import.", error=problem is not None)
        self.window_.refresh_cases()
        self._on_study_selected(announce=False)

    def _on_retrieve_error(self, exc: BaseException) -> None:
        self._token = None
        self._busy(False)
        if isinstance(exc, CancelledError):
            self._say("Retrieve cancelled. Instances that arrived are kept; the next retrieve fetches only the rest.")
        else:
            self._say(str(exc), error=True)
        self.window_.refresh_cases()

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {theme.DANGER};" if error else "")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.cancel()
        super().closeEvent(event)


# -- on the I/O worker ------------------------------------------------------------------------------
def _search(server, query):
    from core.pacs import connect

    return connect(server).search_studies(query)


def _retrieve(server, ws, study_uid: str, series: list[str], **kwargs):
    from core.pacs import connect
    from core.pacs.retrieve import retrieve_study

    return retrieve_study(ws, connect(server), study_uid, series, **kwargs)


def _series_with_status(server, ws, study_uid: str):
    """(study uid, [(series row, case id already holding it or None)])."""
    from core.pacs import connect
    from core.pacs.provenance import source_of

    rows = connect(server).search_series(study_uid)
    held = {}
    for case in ws.cases():
        for image in case.images:
            src = source_of(image)
            if src is not None:
                held.setdefault(src.series_uid, case.id)
    return study_uid, [(r, held.get(r.series_uid)) for r in rows]
