"""Menus and keyboard shortcuts of the main window: File, the review shortcuts (one table,
app.state.shortcuts, binds the keys and fills the help dialog), the Labels menu with the Review |
Label switch, and which review keys step aside while labelling. The window's handlers are its
public methods; this module only wires them to actions."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from app.editing.mode import REVIEW_KEYS_TAKEN_BY_LABELLING
from app.state.shortcuts import SHORTCUTS

MENU_GROUPS = ("Navigate", "Review", "View", "Model", "Help")


def build_menus(window) -> dict[str, QAction]:
    """File, Navigate, Review, View, Model and Help; returns the shortcut actions by action id."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(QAction("&Open workspace…", window, shortcut=QKeySequence.Open, triggered=window.choose_workspace))
    recent = file_menu.addMenu("Open &recent")
    recent.aboutToShow.connect(lambda: fill_recent_menu(window, recent))
    window.recent_menu = recent
    file_menu.addSeparator()
    from app.dialogs.export_labels import show_export_labels
    from app.dialogs.import_dialog import show_import
    from app.dialogs.settings_dialog import show_settings

    file_menu.addAction(QAction("&Import…", window, shortcut=QKeySequence("Ctrl+I"), triggered=lambda: show_import(window)))
    file_menu.addAction(QAction("&Export labels…", window, triggered=lambda: show_export_labels(window)))
    file_menu.addSeparator()
    from app.dialogs.pacs import add_pacs_actions  # File -> Open from PACS…, Send case to PACS…

    add_pacs_actions(window, file_menu)
    file_menu.addSeparator()
    file_menu.addAction(QAction("&Settings…", window, shortcut=QKeySequence("Ctrl+,"), triggered=lambda: show_settings(window)))
    file_menu.addAction(QAction("&Quit", window, shortcut=QKeySequence.Quit, triggered=window.close))
    handlers = {
        "previous": lambda: window.worklist.step(-1),
        "next": lambda: window.worklist.step(1),
        "normal": lambda: window.review_action("decide", "normal"),
        "abnormal": lambda: window.review_action("decide", "abnormal"),
        "approve": lambda: window.review_action("approve"),
        "flag": lambda: window.review_action("flag"),
        "comment": window.review_panel.focus_comment,
        "overlays": window.overlays.toggle_all,
        "heatmap": window.overlays.toggle_heatmap,
        "reset_view": window.reset_view,
        "run_case": lambda: window.run_model("case"),
        "cancel_run": window.runs.cancel,
        "search": lambda: window.worklist.search.setFocus(Qt.ShortcutFocusReason),
        "help": window.show_shortcuts,
    }
    menus = {group: bar.addMenu(f"&{group}") for group in MENU_GROUPS}
    actions: dict[str, QAction] = {}
    for s in SHORTCUTS:
        act = QAction(s.text, window)
        act.setShortcuts([QKeySequence(k) for k in s.keys])
        act.setShortcutContext(Qt.WindowShortcut)
        act.triggered.connect(handlers[s.action])
        menus[s.group].addAction(act)
        window.addAction(act)
        actions[s.action] = act
    menus["View"].addSeparator()
    menus["View"].addAction(QAction("Sort worklist by &score (triage)", window, triggered=window.worklist.sort_by_score))
    menus["View"].addSeparator()
    for act in (window.panels.worklist_action, window.panels.sidebar_action):
        menus["View"].addAction(act)
        window.addAction(act)
    menus["Model"].addSeparator()
    menus["Model"].addAction(QAction("&Retrain…", window, triggered=window.show_retrain))
    return actions


def fill_recent_menu(window, menu) -> None:
    """File → Open recent: the workspaces in the settings, newest first (the open one greyed)."""
    from pathlib import Path

    from core.settings import Settings

    menu.clear()
    current = str(window.session.workspace.root.resolve())
    paths = [p for p in Settings.load().recent_workspaces if isinstance(p, str)]
    for i, path in enumerate(paths[:10]):
        act = menu.addAction(f"&{(i + 1) % 10}  {path}", lambda p=path: window.open_workspace(Path(p)))
        act.setEnabled(path != current and Path(path).is_dir())
        act.setToolTip(path if Path(path).is_dir() else f"{path} (folder not found)")
    if not paths:
        menu.addAction("No recent workspaces").setEnabled(False)


def add_label_menu(window, label_mode) -> None:
    """The Labels menu (label mode, save now), Ctrl+L anywhere in the window, and the Review |
    Label switch in the menu bar's corner."""
    bar = window.menuBar()
    bar.setCornerWidget(label_mode.switch, Qt.TopRightCorner)
    menu = bar.addMenu("&Labels")
    menu.addAction(label_mode.action)
    menu.addAction(label_mode.save_action)
    window.addAction(label_mode.action)


def set_review_keys_for_labelling(actions: dict[str, QAction], labelling: bool) -> None:
    """The labelling view binds R, F, T, 1-9 and Enter to its tools and classes; the review
    shortcuts on the same keys step aside while labelling (two bindings = neither fires)."""
    for name, act in actions.items():
        if name in REVIEW_KEYS_TAKEN_BY_LABELLING:
            act.setEnabled(not labelling)
