"""Review rules (Qt-free): what each reviewer action does to a case's status and decision.

Statuses: ``unreviewed`` -> ``in_review`` (a decision or comment was recorded, not signed off)
-> ``approved`` (the decision is signed off) or ``flagged`` (needs a second look).

* Opening a case changes nothing. Stepping through the worklist with A/D, prefetching the next
  case or a glance by a colleague would otherwise mark cases "in review" that nobody works on,
  and would fill the audit log with noise. A case becomes ``in_review`` with the first real
  review act (a decision or a comment).
* Changing the decision of an approved case re-opens it (``in_review``): the approval applied to
  the old decision. A flagged case stays flagged until it is approved or unflagged.
* Approving needs a decision; approving an approved case does nothing.
* Flag toggles: unflagging returns to ``in_review`` (decision present) or ``unreviewed``.
"""

from __future__ import annotations

from core.domain import CaseRecord, Decision, ReviewStatus


class ReviewRuleError(Exception):
    """The action is not possible in the case's present state (message is shown to the user)."""


def review_change(case: CaseRecord, action: str, value: str | None = None) -> dict | None:
    """Keyword arguments for ``Workspace.set_review`` (status, decision, comment), or None when
    the action changes nothing. ``action``: decide (value normal|abnormal), approve, flag, comment."""
    status = case.status
    if action == "decide":
        decision = Decision(value)
        if decision == case.decision:
            return None
        new_status = ReviewStatus.FLAGGED if status == ReviewStatus.FLAGGED else ReviewStatus.IN_REVIEW
        return {"status": new_status.value, "decision": decision.value}
    if action == "approve":
        if case.decision is None:
            raise ReviewRuleError(f"{case.id}: choose normal (1) or abnormal (2) before approving")
        if status == ReviewStatus.APPROVED:
            return None
        return {"status": ReviewStatus.APPROVED.value}
    if action == "flag":
        if status == ReviewStatus.FLAGGED:
            back = ReviewStatus.IN_REVIEW if (case.decision or case.comment) else ReviewStatus.UNREVIEWED
            return {"status": back.value}
        return {"status": ReviewStatus.FLAGGED.value}
    if action == "comment":
        text = (value or "").strip()
        if text == (case.comment or "").strip():
            return None
        change: dict = {"comment": text}
        if status == ReviewStatus.UNREVIEWED and text:
            change["status"] = ReviewStatus.IN_REVIEW.value
        return change
    raise ValueError(f"unknown review action '{action}'")


def model_suggestion(score: float | None, threshold: float | None) -> str | None:
    """'abnormal' / 'normal' from a calibrated score and the model's threshold."""
    if score is None or threshold is None:
        return None
    return Decision.ABNORMAL.value if score >= threshold else Decision.NORMAL.value
