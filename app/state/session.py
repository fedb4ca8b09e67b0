"""What the user has open: workspace, case list with filters, current case. No Qt here."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.state.runs import ModelChoice
from core.domain import CaseRecord
from core.workspace import Workspace


@dataclass
class CaseFilter:
    text: str = ""
    status: str | None = None
    kind: str | None = None

    def accepts(self, case: CaseRecord) -> bool:
        if self.text and self.text.lower() not in case.id.lower():
            return False
        if self.status and case.status.value != self.status:
            return False
        if self.kind and case.kind.value != self.kind:
            return False
        return True


@dataclass
class Session:
    workspace: Workspace
    user: str
    cases: list[CaseRecord] = field(default_factory=list)
    current_case_id: str | None = None
    model: ModelChoice | None = None  # the model whose results are shown
    scores: dict[str, float] = field(default_factory=dict)  # its calibrated case scores

    def reload_cases(self) -> None:
        self.cases = self.workspace.cases()

    def case(self, case_id: str) -> CaseRecord | None:
        return next((c for c in self.cases if c.id == case_id), None)

    def replace_case(self, case: CaseRecord) -> None:
        for i, c in enumerate(self.cases):
            if c.id == case.id:
                self.cases[i] = case
                return
        self.cases.append(case)
