"""Review decisions: apply the rules of app.state.review and store the change with user and time
(``Workspace.set_review`` writes the case row, a reviews history row and the audit log in one
transaction). The write is small and ordered, so it runs on the GUI thread: a decision that was
shown as saved is on disk."""

from __future__ import annotations

import logging
import sqlite3

from PySide6.QtCore import QObject, Signal

from app.state.review import ReviewRuleError, review_change
from core.domain import CaseRecord
from core.errors import StudioError

log = logging.getLogger(__name__)


class ReviewController(QObject):
    case_changed = Signal(object)  # CaseRecord after a stored change
    message = Signal(str)  # a rule or a failed write, for the status bar

    def __init__(self, session, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session

    def act(self, case_id: str | None, action: str, value: str | None = None) -> CaseRecord | None:
        if not case_id:
            return None
        case = self.session.case(case_id)
        if case is None:
            return None
        try:
            change = review_change(case, action, value)
        except ReviewRuleError as exc:
            self.message.emit(str(exc))
            return None
        if change is None:
            return case
        try:
            updated = self.session.workspace.set_review(case_id, self.session.user, **change)
        except (StudioError, sqlite3.Error, OSError) as exc:
            log.error("cannot store the review of %s: %s", case_id, exc)
            self.message.emit(f"Could not save the review of {case_id}: {exc}")
            return None
        log.info("review %s by %s: %s", case_id, self.session.user, change)
        self.session.replace_case(updated)
        self.case_changed.emit(updated)
        return updated

    def history(self, case_id: str) -> list[dict]:
        try:
            return self.session.workspace.reviews(case_id)
        except (StudioError, sqlite3.Error):
            return []
