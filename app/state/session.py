"""What the user has open: workspace, case list with filters, the current case, the case on screen
and the model result shown on it. No Qt here.

The session is the one owner of that state (the napari pattern): controllers write it through its
properties, widgets and controllers subscribe to its events (``session.events.overlay.connect(cb)``)
instead of reading each other's fields. Bound methods are held weakly, so a subscriber that goes
away is dropped, never kept alive by the session."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.state.overlays import CaseOverlay
from app.state.runs import ModelChoice
from core.domain import CaseRecord, LoadedCase
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


class Event:
    """The callbacks of one kind of change, called in the order they connected."""

    def __init__(self, name: str):
        self.name = name
        self._refs: list[Callable[[], Callable | None]] = []

    @staticmethod
    def _ref(callback: Callable) -> Callable[[], Callable | None]:
        if inspect.ismethod(callback):
            return weakref.WeakMethod(callback)
        return lambda: callback

    def connect(self, callback: Callable[[Any], None]) -> None:
        """Subscribe ``callback(value)``; connecting the same callback twice keeps one."""
        if callback not in self.callbacks():
            self._refs.append(self._ref(callback))

    def disconnect(self, callback: Callable[[Any], None]) -> None:
        self._refs = [r for r in self._refs if r() is not None and r() != callback]

    def callbacks(self) -> list[Callable]:
        self._refs = [r for r in self._refs if r() is not None]
        return [r() for r in self._refs]

    def __len__(self) -> int:
        return len(self.callbacks())

    def emit(self, value: Any) -> None:
        for callback in self.callbacks():
            callback(value)


class SessionEvents:
    def __init__(self):
        self.current_case = Event("current_case")  # case id | None: the case the user chose
        self.loaded = Event("loaded")  # LoadedCase: the pixels of the case on screen
        self.overlay = Event("overlay")  # CaseOverlay | None: the model result shown for the current case
        self.model = Event("model")  # ModelChoice | None: the model whose results are shown


class Session:
    """Workspace, cases, the current case, the case on screen and the result shown on it."""

    def __init__(
        self,
        workspace: Workspace,
        user: str,
        cases: list[CaseRecord] | None = None,
        current_case_id: str | None = None,
        model: ModelChoice | None = None,
        scores: dict[str, float] | None = None,
    ):
        self.workspace = workspace
        self.user = user
        self.cases: list[CaseRecord] = list(cases or [])
        self.scores: dict[str, float] = dict(scores or {})  # calibrated case scores of ``model``
        self.events = SessionEvents()
        self._current_case_id = current_case_id
        self._model = model
        self._loaded: LoadedCase | None = None
        self._overlay: CaseOverlay | None = None

    # -- observable state ------------------------------------------------------------------------
    @property
    def current_case_id(self) -> str | None:
        return self._current_case_id

    @current_case_id.setter
    def current_case_id(self, case_id: str | None) -> None:
        changed = case_id != self._current_case_id
        self._current_case_id = case_id
        if changed:
            self.events.current_case.emit(case_id)

    @property
    def model(self) -> ModelChoice | None:
        return self._model

    @model.setter
    def model(self, choice: ModelChoice | None) -> None:
        self._model = choice
        self.events.model.emit(choice)

    @property
    def loaded(self) -> LoadedCase | None:
        """The case whose pixels are on screen (may lag ``current_case_id`` while a load runs)."""
        return self._loaded

    @loaded.setter
    def loaded(self, case: LoadedCase | None) -> None:
        self._loaded = case
        self.events.loaded.emit(case)

    @property
    def overlay(self) -> CaseOverlay | None:
        """The current model's result for the current case (None: none, or not loaded yet)."""
        return self._overlay

    @overlay.setter
    def overlay(self, overlay: CaseOverlay | None) -> None:
        self._overlay = overlay  # set again with the same result: shown again (subscribers re-apply)
        self.events.overlay.emit(overlay)

    def shows_current_case(self) -> bool:
        """True when the pixels on screen are those of the current case."""
        return self._loaded is not None and self._loaded.id == self._current_case_id

    def overlay_for(self, case_id: str) -> CaseOverlay | None:
        """The shown result when it belongs to ``case_id``, else None."""
        ov = self._overlay
        return ov if ov is not None and ov.case_id == case_id else None

    # -- cases -----------------------------------------------------------------------------------
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
