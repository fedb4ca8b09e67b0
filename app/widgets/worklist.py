"""Worklist: the workspace's cases in a sortable, filterable table with the calibrated anomaly
score of the selected model (triage: sort by score).

Rows do not jump while the reader works: a new score or a review change updates its row in place;
sorting and filters are re-applied when the user asks (header click, filter change) or a run ends.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QTableView, QVBoxLayout, QWidget

from app import theme
from app.state.session import CaseFilter
from core.domain import CaseKind, CaseRecord, ReviewStatus

COLUMNS = ("Case", "Kind", "Score", "Status", "Decision", "Reviewer")
COL_CASE, COL_KIND, COL_SCORE, COL_STATUS, COL_DECISION, COL_REVIEWER = range(6)
KIND_SHORT = {"fundus_oct": "Fundus+OCT", "fundus": "Fundus", "oct": "OCT", "mri": "MRI", "slice": "Slice"}
RUNNING, QUEUED = "running…", "queued"
ABOVE = "▲"  # marks a score at or above the threshold in text too, never by red alone (colour-blind safe)
# the longest text each fixed column shows: its width is measured from these in the table's font,
# so nothing is cut at any scaling ("Fun…OCT", "ru…g…"); the case id is elided in the middle with
# the whole id in its tooltip, the reviewer column takes the rest
COLUMN_SAMPLES = {
    COL_CASE: ("PAIR-WS01",),
    COL_KIND: tuple(KIND_SHORT.values()),
    COL_SCORE: (RUNNING, QUEUED, f"{ABOVE} -99.99"),
    COL_STATUS: tuple(s.value.replace("_", " ") for s in ReviewStatus) + ("Status",),
    COL_DECISION: ("abnormal", "Decision"),
}
STATUS_COLOURS = {"approved": theme.OK, "flagged": theme.DANGER, "in_review": theme.WARN, "unreviewed": theme.MUTED}


class CaseTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.cases: list[CaseRecord] = []
        self.scores: dict[str, float] = {}
        self.threshold: float | None = None
        self.pending: set[str] = set()
        self.running: str | None = None

    def set_cases(self, cases: list[CaseRecord]) -> None:
        self.beginResetModel()
        self.cases = list(cases)
        self.endResetModel()

    def _row(self, case_id: str) -> int | None:
        return next((r for r, c in enumerate(self.cases) if c.id == case_id), None)

    def _changed(self, row: int | None, first: int = 0, last: int = len(COLUMNS) - 1) -> None:
        if row is not None:
            self.dataChanged.emit(self.index(row, first), self.index(row, last))

    def update_case(self, case: CaseRecord) -> None:
        row = self._row(case.id)
        if row is not None:
            self.cases[row] = case
            self._changed(row)

    def set_scores(self, scores: dict[str, float], threshold: float | None) -> None:
        self.scores, self.threshold = dict(scores), threshold
        if self.cases:
            self.dataChanged.emit(self.index(0, COL_SCORE), self.index(len(self.cases) - 1, COL_SCORE))

    def set_score(self, case_id: str, score: float) -> None:
        self.scores[case_id] = float(score)
        self._changed(self._row(case_id), COL_SCORE, COL_SCORE)

    def set_pending(self, case_ids, running: str | None) -> None:
        changed = self.pending ^ set(case_ids) | {c for c in (self.running, running) if c}
        self.pending, self.running = set(case_ids), running
        for cid in changed:
            self._changed(self._row(cid), COL_SCORE, COL_SCORE)

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self.cases)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        # Called thousands of times per repaint: compare plain ints, reuse colours and fonts
        # (PySide enum comparisons and QColor construction cost ~100 us per call otherwise).
        role = _role_int(role)
        if role not in _ROLES or not index.isValid():
            return None
        case = self.cases[index.row()]
        col = index.column()
        score = self.scores.get(case.id)
        if role == _USER and col == COL_SCORE:  # sort key: unscored cases last when descending
            return float(score) if score is not None else float("-inf")
        if role == _DISPLAY or role == _USER:
            if col == COL_CASE:
                return case.id
            if col == COL_KIND:
                return KIND_SHORT.get(case.kind.value, case.kind.display_name)
            if col == COL_SCORE:
                if case.id == self.running:
                    return RUNNING
                if case.id in self.pending:
                    return QUEUED
                if score is None:
                    return ""
                above = self.threshold is not None and score >= self.threshold
                return f"{ABOVE} {score:.2f}" if above else f"{score:.2f}"
            if col == COL_STATUS:
                return case.status.value.replace("_", " ")
            if col == COL_DECISION:
                return case.decision.value if case.decision else ""
            if col == COL_REVIEWER:
                return case.last_reviewer or ""
            return None
        if role == _FOREGROUND:
            if col == COL_STATUS:
                return _colour(STATUS_COLOURS.get(case.status.value, theme.TEXT))
            if col == COL_SCORE:
                if case.id == self.running or case.id in self.pending:
                    return _colour(theme.ACCENT)
                if score is not None and self.threshold is not None:
                    return _colour(theme.DANGER if score >= self.threshold else theme.TEXT)
            if col == COL_DECISION and case.decision is not None:
                return _colour(theme.DANGER if case.decision.value == "abnormal" else theme.OK)
            return None
        if role == _FONT:
            if col == COL_SCORE and score is not None and self.threshold is not None and score >= self.threshold:
                return _bold_font()
            return None
        if role == _ALIGN:
            return _RIGHT if col == COL_SCORE else None
        if role == _TOOLTIP:
            if col == COL_CASE:
                return f"{case.id}: {', '.join(im.name for im in case.images)}"
            if col == COL_KIND:
                return case.kind.display_name
            if col == COL_REVIEWER:
                return case.last_reviewer or None
            if col == COL_SCORE:
                if case.id == self.running:
                    return "The model is running on this case"
                if case.id in self.pending:
                    return "Waiting for the model (queued)"
                if score is None:
                    return "No result of the selected model for this case"
                if self.threshold is None:
                    return f"{score:.3f}"
                side = f"{ABOVE} at or above" if score >= self.threshold else "below"
                return f"Calibrated anomaly score {score:.3f}: {side} the threshold {self.threshold:.2f}"
        return None


def _role_int(role) -> int:
    return role if isinstance(role, int) else int(getattr(role, "value", role))


_DISPLAY, _USER, _FOREGROUND, _FONT, _ALIGN, _TOOLTIP = (
    _role_int(r) for r in (Qt.DisplayRole, Qt.UserRole, Qt.ForegroundRole, Qt.FontRole, Qt.TextAlignmentRole, Qt.ToolTipRole)
)
_ROLES = frozenset((_DISPLAY, _USER, _FOREGROUND, _FONT, _ALIGN, _TOOLTIP))
_RIGHT = int((Qt.AlignRight | Qt.AlignVCenter).value)
_colours: dict[str, QColor] = {}
_fonts: list[QFont] = []


def _colour(name: str) -> QColor:
    c = _colours.get(name)
    if c is None:
        c = _colours[name] = QColor(name)
    return c


def _bold_font() -> QFont:
    if not _fonts:
        f = QFont()
        f.setBold(True)
        _fonts.append(f)
    return _fonts[0]


def column_widths(table: QTableView) -> dict[int, int]:
    """Fixed column widths that fit ``COLUMN_SAMPLES`` (cell and header text) in ``table``'s font."""
    from PySide6.QtGui import QFontMetrics

    table.ensurePolished()  # the theme's worklist font applies from here on
    table.horizontalHeader().ensurePolished()
    cell = QFontMetrics(table.font())
    bold = QFont(table.horizontalHeader().font())
    bold.setBold(True)
    head = QFontMetrics(bold)
    widths = {}
    for col, samples in COLUMN_SAMPLES.items():
        text = max(cell.horizontalAdvance(t) for t in samples)
        widths[col] = max(text + 12, head.horizontalAdvance(COLUMNS[col]) + 24)  # cell padding; header sort arrow
    return widths


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
        self.proxy.setDynamicSortFilter(False)
        self.table = QTableView()
        self.table.setObjectName("worklist")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setMinimumSectionSize(36)
        self.column_widths = column_widths(self.table)
        for col, width in self.column_widths.items():
            header.setSectionResizeMode(col, QHeaderView.Fixed)
            header.resizeSection(col, width)
        header.setSectionResizeMode(COL_REVIEWER, QHeaderView.Stretch)
        # narrow windows (laptops at 150 %): the table scrolls sideways instead of cutting columns
        self.table.setMinimumWidth(self.column_widths[COL_CASE] + self.column_widths[COL_KIND] + self.column_widths[COL_SCORE] + 8)
        header.setHighlightSections(False)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.ElideMiddle)  # long case ids keep their distinguishing end
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setFocusPolicy(Qt.NoFocus)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search case id")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_filter)
        self.search.returnPressed.connect(lambda: self.table.setFocus())
        self.status = QComboBox()
        self.status.addItem("All statuses", None)
        for s in ReviewStatus:
            self.status.addItem(s.value.replace("_", " "), s.value)
        self.status.currentIndexChanged.connect(self._on_filter)
        self.kind = QComboBox()
        self.kind.addItem("All kinds", None)
        for k in CaseKind:
            self.kind.addItem(k.display_name, k.value)
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

    def set_scores(self, scores: dict[str, float], threshold: float | None) -> None:
        self.model.set_scores(scores, threshold)

    def set_score(self, case_id: str, score: float) -> None:
        self.model.set_score(case_id, score)

    def set_pending(self, case_ids, running: str | None = None) -> None:
        self.model.set_pending(case_ids, running)

    def sort_by_score(self) -> None:
        """Triage order: highest anomaly score first."""
        self.table.sortByColumn(COL_SCORE, Qt.DescendingOrder)

    def resort(self) -> None:
        """Re-apply the current sort and filters, keeping the current case selected."""
        current = self.current_id()
        self.proxy.invalidate()
        header = self.table.horizontalHeader()
        self.proxy.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self._update_count()
        if current:
            self.table.selectionModel().blockSignals(True)
            self.select_case(current)
            self.table.selectionModel().blockSignals(False)

    def current_id(self) -> str | None:
        cur = self.table.currentIndex()
        return self.proxy.data(self.proxy.index(cur.row(), COL_CASE)) if cur.isValid() else None

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.proxy.data(self.proxy.index(r, COL_CASE)) for r in rows]

    def _on_filter(self, *_):
        self.proxy.filter = CaseFilter(self.search.text().strip(), self.status.currentData(), self.kind.currentData())
        self.proxy.invalidate()
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
