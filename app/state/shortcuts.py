"""The keyboard shortcuts of the review workstation: one table that both binds the keys and
fills the help dialog, so the two never disagree."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    action: str  # id the main window maps to a handler
    keys: tuple[str, ...]  # QKeySequence strings
    text: str  # what it does, for the help dialog
    group: str


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("previous", ("A",), "Previous case in the worklist", "Navigate"),
    Shortcut("next", ("D",), "Next case in the worklist", "Navigate"),
    Shortcut("normal", ("1",), "Decision: normal", "Review"),
    Shortcut("abnormal", ("2",), "Decision: abnormal", "Review"),
    Shortcut("approve", ("Return", "Enter"), "Approve (sign off) the decision", "Review"),
    Shortcut("flag", ("F",), "Flag / unflag the case for a second look", "Review"),
    Shortcut("comment", ("C",), "Write a comment (Ctrl+Return saves, Esc leaves the box)", "Review"),
    Shortcut("overlays", ("T",), "Show / hide all overlays", "View"),
    Shortcut("heatmap", ("H",), "Show / hide the heatmap", "View"),
    Shortcut("reset_view", ("R",), "Reset zoom and window/level", "View"),
    Shortcut("run_case", ("Ctrl+R",), "Run the selected model on this case", "Model"),
    Shortcut("cancel_run", ("Ctrl+.",), "Cancel the running model", "Model"),
    Shortcut("search", ("Ctrl+F",), "Search the worklist by case id", "Navigate"),
    Shortcut("help", ("F1", "?"), "This list of shortcuts", "Help"),
)

MOUSE_HELP: tuple[tuple[str, str], ...] = (
    ("Wheel", "Zoom (fundus / OCT); next / previous slice (MRI)"),
    ("Left drag", "Pan"),
    ("Right drag", "Window / level: left-right = width, up-down = level"),
    ("Double-click (right button)", "Reset window / level"),
    ("Click (MRI)", "Move the linked crosshair"),
    ("Move over the B-scan", "Marks the matching point on the fundus scan line"),
)


def by_action(action: str) -> Shortcut:
    return next(s for s in SHORTCUTS if s.action == action)
