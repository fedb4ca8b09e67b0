"""The review panel: the case summary (model score, threshold, model suggestion, decision), the
decision and status buttons, the free-text comment and the case's review history."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.state.overlays import CaseOverlay
from app.state.review import model_suggestion
from app.state.runs import ModelChoice
from core.domain import CaseRecord
from core.workspace.combined import plain_sentence

STATUS_TEXT = {"unreviewed": "Unreviewed", "in_review": "In review", "approved": "Approved", "flagged": "Flagged"}
SUGGESTION_MARK = {"abnormal": "⚠", "normal": "✓"}  # never by colour alone
STATUS_COLOUR = {"approved": theme.OK, "flagged": theme.DANGER, "in_review": theme.WARN, "unreviewed": theme.MUTED}


class CommentEdit(QPlainTextEdit):
    """Comment box: Ctrl+Return saves, Esc hands the keyboard back to the viewer."""

    save = Signal()
    leave = Signal()

    def keyPressEvent(self, ev) -> None:  # noqa: N802 - Qt API
        if ev.key() in (Qt.Key_Return, Qt.Key_Enter) and ev.modifiers() & Qt.ControlModifier:
            self.save.emit()
            return
        if ev.key() == Qt.Key_Escape:
            self.leave.emit()
            return
        super().keyPressEvent(ev)


class ReviewPanel(QGroupBox):
    decision_clicked = Signal(str)  # normal | abnormal
    approve_clicked = Signal()
    flag_clicked = Signal()
    comment_saved = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Review", parent)
        self.case_title = QLabel("No case")
        self.case_title.setObjectName("title")
        self.status = QLabel("")
        self.status.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.RichText)

        self.normal = QPushButton("Normal  [1]")
        self.abnormal = QPushButton("Abnormal  [2]")
        self.decisions = QButtonGroup(self)
        self.decisions.setExclusive(True)
        for button, value in ((self.normal, "normal"), (self.abnormal, "abnormal")):
            button.setCheckable(True)
            button.setFocusPolicy(Qt.NoFocus)
            button.clicked.connect(lambda _c=False, v=value: self.decision_clicked.emit(v))
            self.decisions.addButton(button)
        self.abnormal.setObjectName("danger")
        self.approve = QPushButton("Approve  [Enter]")
        self.approve.setObjectName("primary")
        self.approve.setFocusPolicy(Qt.NoFocus)
        self.approve.clicked.connect(self.approve_clicked.emit)
        self.flag = QPushButton("Flag  [F]")
        self.flag.setCheckable(True)
        self.flag.setFocusPolicy(Qt.NoFocus)
        self.flag.clicked.connect(lambda _c=False: self.flag_clicked.emit())

        self.comment = CommentEdit()
        self.comment.setPlaceholderText("Comment (C to write, Ctrl+Return to save)")
        self.comment.setFixedHeight(64)
        self.comment.textChanged.connect(self._on_comment_changed)
        self.comment.save.connect(self._save_comment)
        self.save_comment = QPushButton("Save comment")
        self.save_comment.setFocusPolicy(Qt.NoFocus)
        self.save_comment.setEnabled(False)
        self.save_comment.clicked.connect(self._save_comment)
        self.history = QLabel("")
        self.history.setObjectName("muted")
        self.history.setWordWrap(True)
        self.history.setTextFormat(Qt.RichText)

        head = QHBoxLayout()
        head.addWidget(self.case_title)
        head.addStretch(1)
        head.addWidget(self.status)
        row1 = QHBoxLayout()
        row1.addWidget(self.normal)
        row1.addWidget(self.abnormal)
        row2 = QHBoxLayout()
        row2.addWidget(self.approve)
        row2.addWidget(self.flag)
        save_row = QHBoxLayout()
        save_row.addStretch(1)
        save_row.addWidget(self.save_comment)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 10, 8, 8)
        layout.setSpacing(6)
        layout.addLayout(head)
        layout.addWidget(self.summary)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.comment)
        layout.addLayout(save_row)
        layout.addWidget(self.history)
        self.case: CaseRecord | None = None
        self.result: CaseOverlay | None = None
        self.model: ModelChoice | None = None
        self._saved_comment = ""
        self._image_problem: tuple[str, str] | None = None
        self.set_case(None)

    # -- content -----------------------------------------------------------------------------
    def set_case(self, case: CaseRecord | None, history: list[dict] | None = None) -> None:
        same = case is not None and self.case is not None and case.id == self.case.id
        if not same:
            self._image_problem = None
        self.case = case
        enabled = case is not None
        for w in (self.normal, self.abnormal, self.approve, self.flag, self.comment):
            w.setEnabled(enabled)
        if case is None:
            self.case_title.setText("No case")
            self.status.setText("")
            self.summary.setText("")
            self.history.setText("")
            self._set_comment("")
            return
        self.case_title.setText(case.id)
        status = case.status.value
        self.status.setText(
            f"<span style='color:{STATUS_COLOUR.get(status, theme.TEXT)}; font-weight:600'>{STATUS_TEXT.get(status, status)}</span>"
        )
        self.decisions.setExclusive(False)
        self.normal.setChecked(case.decision is not None and case.decision.value == "normal")
        self.abnormal.setChecked(case.decision is not None and case.decision.value == "abnormal")
        self.decisions.setExclusive(True)
        self.flag.setChecked(status == "flagged")
        self.approve.setEnabled(case.decision is not None and status != "approved")
        self.approve.setText("Approved" if status == "approved" else "Approve  [Enter]")
        if not same or not self.comment_dirty():
            self._set_comment(case.comment or "")
        else:
            self._saved_comment = case.comment or ""
            self._on_comment_changed()
        if history is not None:
            self.set_history(history)
        self._render_summary()

    def set_result(self, model: ModelChoice | None, result: CaseOverlay | None) -> None:
        self.model, self.result = model, result
        self._render_summary()

    def set_history(self, history: list[dict]) -> None:
        rows = []
        for h in history[-4:][::-1]:
            when = str(h.get("time", ""))[:16].replace("T", " ")
            what = " · ".join(v for v in (h.get("decision"), (h.get("status") or "").replace("_", " ")) if v)
            rows.append(f"{html.escape(when)} {html.escape(str(h.get('user', '')))}: {html.escape(what)}")
        self.history.setText(("<b>History</b><br>" + "<br>".join(rows)) if rows else "")

    def set_image_problem(self, case_id: str, text: str) -> None:
        """The case's pixels cannot be shown (a missing or changed file): said instead of, or beside,
        the model result; forgotten when another case is shown."""
        self._image_problem = (case_id, text)
        self._render_summary()

    def image_problem(self) -> str:
        p = self._image_problem
        return p[1] if p is not None and self.case is not None and p[0] == self.case.id else ""

    def _render_summary(self) -> None:
        case, r, m = self.case, self.result, self.model
        if case is None:
            return
        lines = []
        problem = self.image_problem()
        if problem:
            lines.append(f"<span style='color:{theme.DANGER}'><b>⚠ {html.escape(problem)}</b></span>")
        if m is None:
            lines.append(f"<span style='color:{theme.MUTED}'>No fitted model selected</span>")
        elif r is None and not any(im.modality.value in m.modalities for im in case.images):
            lines.append(
                f"<span style='color:{theme.MUTED}'>{html.escape(m.name)} scores {html.escape(' and '.join(m.modalities))} images; "
                "this case has none</span>"
            )
        elif r is None:
            lines.append(f"<span style='color:{theme.MUTED}'>{html.escape(m.name)}: not run on this case yet (Ctrl+R)</span>")
        else:
            lines += result_lines(m, r, case)
        decision = case.decision.value if case.decision else None
        if decision:
            who = f" by {html.escape(case.last_reviewer)}" if case.last_reviewer else ""
            lines.append(f"Decision: <b>{SUGGESTION_MARK[decision]} {decision}</b>{who}")
            if r is not None and model_suggestion(r.score, r.threshold) != decision:
                lines.append(f"<span style='color:{theme.WARN}'>Decision differs from the model</span>")
        else:
            lines.append(f"<span style='color:{theme.MUTED}'>Decision: none yet — press 1 (normal) or 2 (abnormal)</span>")
        self.summary.setText("<br>".join(lines))
        self._fit_summary()

    def _fit_summary(self) -> None:
        """A wrapped label in a scrolled column is not given its wrapped height by the layouts:
        ask for it, at the label's present width."""
        width = self.summary.width() if self.summary.width() > 50 else max(self.contentsRect().width() - 16, 200)
        self.summary.setMinimumHeight(max(0, self.summary.heightForWidth(width)))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_summary()

    # -- comment -----------------------------------------------------------------------------
    def comment_text(self) -> str:
        return self.comment.toPlainText().strip()

    def comment_dirty(self) -> bool:
        return self.comment_text() != (self._saved_comment or "").strip()

    def focus_comment(self) -> None:
        self.comment.setFocus(Qt.ShortcutFocusReason)

    def _set_comment(self, text: str) -> None:
        self._saved_comment = text
        self.comment.blockSignals(True)
        self.comment.setPlainText(text)
        self.comment.blockSignals(False)
        self._on_comment_changed()

    def _on_comment_changed(self) -> None:
        self.save_comment.setEnabled(self.case is not None and self.comment_dirty())

    def _save_comment(self) -> None:
        if self.case is not None and self.comment_dirty():
            self.comment_saved.emit(self.comment_text())


def result_lines(m: ModelChoice, r: CaseOverlay, case: CaseRecord) -> list[str]:
    """The model's score in numbers and words, its suggestion (with a mark, not by colour alone),
    which image decided a pair, and the images it could not score."""
    suggestion = model_suggestion(r.score, r.threshold)
    colour = theme.DANGER if suggestion == "abnormal" else theme.OK
    mark = SUGGESTION_MARK[suggestion]
    relation = "≥" if r.score >= r.threshold else "&lt;"
    lines = [
        f"<b>{html.escape(m.name)}</b> score <b style='color:{colour}'>{r.score:.2f}</b> {relation} threshold {r.threshold:.2f}",
        f"<span style='color:{theme.MUTED}'>{html.escape(plain_sentence(r.score, r.threshold))}</span>",
    ]
    cs = r.case_score
    if cs is not None and (len(cs.images) > 1 or cs.fused or (cs.decided_by is not None and cs.decided_by.slice_index is not None)):
        why = cs.explanation()
    else:
        why = f"on {r.primary_image}"
    lines.append(f"Model suggests: <b style='color:{colour}'>{mark} {suggestion}</b> — {html.escape(why)}")
    scored = {im.modality for im in cs.images} if cs is not None else set()
    unscored = [im.modality.value for im in case.images if not im.is_localizer and cs is not None and im.modality.value not in scored]
    if unscored and m.name != "mmrad":
        lines.append(
            f"<span style='color:{theme.WARN}'>{html.escape(', '.join(dict.fromkeys(unscored)))} not scored: "
            f"no active {html.escape(m.name)} version for it (Fit / Train… in the model panel)</span>"
        )
    if m.caveat:
        lines.append(f"<span style='color:{theme.WARN}'>{html.escape(m.caveat)}</span>")
    lost = [name for name, im in r.images.items() if im.heatmap is None]
    if lost:  # the stored arrays are gone (array store damaged or cleared): never shown as present
        lines.append(
            f"<span style='color:{theme.DANGER}'>Result incomplete: the heatmap of {html.escape(', '.join(lost))} "
            "is missing; run again (Ctrl+R)</span>"
        )
    return lines
