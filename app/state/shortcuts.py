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
    shown: str = ""  # how the help writes the keys when not "A / B" (e.g. "1 – 9")


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

# Keys of the window outside the review table (File and View menus) and of label mode (the label
# views bind these with QShortcut; a test checks that every key they bind is listed here).
WINDOW_SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("open_workspace", ("Ctrl+O",), "Open a workspace", "Window"),
    Shortcut("import", ("Ctrl+I",), "Import images or a dataset folder (or drop files on the window)", "Window"),
    Shortcut("settings", ("Ctrl+,",), "Settings: user name, device, weights folder, autosave", "Window"),
    Shortcut("worklist", ("Ctrl+Shift+W",), "Show / fold away the worklist", "Window"),
    Shortcut("side_panels", ("Ctrl+Shift+P",), "Show / fold away the side panels", "Window"),
    Shortcut("label_mode", ("Ctrl+L",), "Switch between review and label mode", "Window"),
    Shortcut("quit", ("Ctrl+Q",), "Quit", "Window"),
)
LABEL_SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("tool", ("V",), "Select, move and delete shapes", "Label mode"),
    Shortcut("tool", ("P",), "Polygon", "Label mode"),
    Shortcut("tool", ("R",), "Rectangle", "Label mode"),
    Shortcut("tool", ("B",), "Brush", "Label mode"),
    Shortcut("tool", ("E",), "Eraser", "Label mode"),
    Shortcut("tool", ("F",), "Fill a closed contour", "Label mode"),
    Shortcut("tool", ("S",), "SAM: click = include, Shift/right-click = exclude, drag = box", "Label mode"),
    Shortcut("size", ("[", "]"), "Smaller / larger brush and eraser", "Label mode"),
    Shortcut("class", tuple(str(i) for i in range(1, 10)), "Choose the symptom class by its number", "Label mode", "1 – 9"),
    Shortcut("shapes", ("T",), "Show / hide the shapes", "Label mode"),
    Shortcut("undo", ("Ctrl+Z",), "Undo", "Label mode"),
    Shortcut("redo", ("Ctrl+Y", "Ctrl+Shift+Z"), "Redo", "Label mode"),
    Shortcut("save", ("Ctrl+S",), "Save this image's labels now (autosave also saves within 2 s)", "Label mode"),
    Shortcut("save_all", ("Ctrl+Shift+S",), "Save every open label now", "Label mode"),
    Shortcut("delete", ("Del",), "Delete the selected shapes", "Label mode"),
    Shortcut("accept", ("Return", "Enter"), "Close the polygon / accept the SAM mask", "Label mode"),
    Shortcut("clear", ("Esc",), "Cancel the shape being drawn / clear the SAM prompts", "Label mode"),
    Shortcut("back", ("Backspace",), "Remove the polygon's last point", "Label mode"),
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
