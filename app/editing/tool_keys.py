"""Names, keys, titles and tips of the labelling tools: one table for the toolbar's buttons and
tooltips and the views' key bindings."""

from __future__ import annotations

TOOL_KEYS = {"select": "V", "polygon": "P", "rectangle": "R", "brush": "B", "eraser": "E", "fill": "F", "sam": "S"}
TOOL_TITLES = {
    "select": "Select",
    "polygon": "Polygon",
    "rectangle": "Rectangle",
    "brush": "Brush",
    "eraser": "Eraser",
    "fill": "Fill",
    "sam": "SAM",
}
TOOL_TIPS = {
    "select": "Select, move (drag) and delete (Del) shapes. Shift+click adds to the selection.",
    "polygon": "Click the corners; double-click, Enter or a click on the first point closes. Backspace removes a point.",
    "rectangle": "Drag from corner to corner.",
    "brush": "Paint the active class. Size: slider or [ and ].",
    "eraser": "Erase the active class (or all classes, see the toggle). Size: slider or [ and ].",
    "fill": "Click inside a closed contour of the active class to fill it.",
    "sam": "SAM: click = include, Shift/right-click = exclude, drag = box. Enter accepts, Esc clears.",
}
