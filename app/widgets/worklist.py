"""Worklist: the workspace's cases in a sortable, filterable table."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QTableView, QVBoxLayout, QWidget

from app import theme
from app.state.session import CaseFilter
from core.domain import CaseKind, CaseRecord, ReviewStatus

COLUMNS = ("Case", "Kind", "Status", "Decision", "Reviewer")
STATUS_COLOURS = {"approved": theme.OK, "flagged": theme.DANGER, "in_review": theme.WARN, "unreviewed": theme.MUTED}


class CaseTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.cases: list[CaseRecord] = []

    def set_cases(self, cases: list[CaseRecord]) -> None:
        self.beginResetModel()
        self.cases = list(cases)
        self.endResetModel()

    def update_case(self, case: CaseRecord) -> None:
        for row, c in enumerate(self.cases):
            if c.id == case.id:
                self.cases[row] = case
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
                return

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.cases)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        case = self.cases[index.row()]
        col = index.column()
        if role in (Qt.DisplayRole, Qt.UserRole):
            if col == 0:
                return case.id
            if col == 1:
                return case.kind.title
            if col == 2:
                return case.status.value.replace("_", " ")
            if col == 3:
                return case.decision.value if case.decision else ""
            if col == 4:
                return case.last_reviewer or ""
        if role == Qt.ForegroundRole and col == 2:
            return QColor(STATUS_COLOURS.get(case.status.value, theme.TEXT))
        if role == Qt.ToolTipRole and col == 0:
            return f"{case.id}: {', '.join(im.name for im in case.images)}"
        return None


class _Filter(QSortFilterProxyModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter = CaseFilter()

    def filterAcceptsRow(self, row, parent):  # noqa: N802
        return self.filter.accepts(self.sourceModel().cases[row])


class WorklistPanel(QWidget):
    case_selected = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = CaseTableModel(self)
        self.proxy = _Filter(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.UserRole)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setFocusPolicy(Qt.NoFocus)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search case id")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_filter)
        self.status = QComboBox()
        self.status.addItem("All statuses", None)
        for s in ReviewStatus:
            self.status.addItem(s.value.replace("_", " "), s.value)
        self.status.currentIndexChanged.connect(self._on_filter)
        self.kind = QComboBox()
        self.kind.addItem("All kinds", None)
        for k in CaseKind:
            self.kind.addItem(k.title, k.value)
        self.kind.currentIndexChanged.connect(self._on_filter)
        self.count = QLabel("")
        self.count.setObjectName("muted")

        title = QLabel("Worklist")
        title.setObjectName("title")
        head = QHBoxLayout()
        head.addWidget(title)
        head.addStretch(1)
        head.addWidget(self.count)
        filters = QHBoxLayout()
        filters.addWidget(self.status)
        filters.addWidget(self.kind)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(head)
        layout.addWidget(self.search)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)

    def set_cases(self, cases: list[CaseRecord]) -> None:
        self.model.set_cases(cases)
        self._update_count()

    def update_case(self, case: CaseRecord) -> None:
        self.model.update_case(case)

    def _on_filter(self, *_):
        self.proxy.filter = CaseFilter(self.search.text().strip(), self.status.currentData(), self.kind.currentData())
        self.proxy.invalidateFilter()
        self._update_count()

    def _update_count(self) -> None:
        self.count.setText(f"{self.proxy.rowCount()} of {self.model.rowCount()}")

    def _on_current(self, current, _previous) -> None:
        if current.isValid():
            self.case_selected.emit(self.proxy.data(self.proxy.index(current.row(), 0)))

    def visible_ids(self) -> list[str]:
        return [self.proxy.data(self.proxy.index(r, 0)) for r in range(self.proxy.rowCount())]

    def select_case(self, case_id: str) -> bool:
        for r in range(self.proxy.rowCount()):
            if self.proxy.data(self.proxy.index(r, 0)) == case_id:
                self.table.selectRow(r)
                self.table.scrollTo(self.proxy.index(r, 0))
                return True
        return False

    def step(self, delta: int) -> None:
        ids = self.visible_ids()
        if not ids:
            return
        cur = self.table.currentIndex()
        row = cur.row() if cur.isValid() else -1
        self.select_case(ids[max(0, min(len(ids) - 1, row + delta))])
