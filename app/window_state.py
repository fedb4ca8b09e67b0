"""What the main window remembers and how its side panels fold away: the window geometry and
the splitter sizes (an INI file in the application-data folder, written by QSettings through a
temporary file), a first layout that fits the screen it opens on, and View → Worklist / Side
panels, which collapse and restore the splitter's outer panes (the same as dragging a handle to
the window's edge)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSettings
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QSplitter, QWidget

from app.window_layout import CENTRE, SIDEBAR, WORKLIST, default_sizes

FIRST_SIZE = (1600, 1000)  # the window on a big screen; smaller screens get their available area


def remember_workspace(root) -> None:
    """Put ``root`` first in the settings' recent workspaces (File → Open recent) and as the last one."""
    import logging

    from core.settings import Settings

    settings = Settings.load()
    settings.remember_workspace(root)
    try:
        settings.save()
    except OSError as exc:
        logging.getLogger(__name__).warning("cannot save the recent workspaces: %s", exc)


def layout_store() -> QSettings:
    from core.settings import app_data_dir

    return QSettings(str(app_data_dir() / "window.ini"), QSettings.IniFormat)


class PanelLayout(QObject):
    """Collapse / restore actions for the worklist and the side column, the first layout, and the
    geometry and splitter sizes saved when the window closes and restored when it opens."""

    def __init__(self, window: QWidget, splitter: QSplitter):
        super().__init__(window)
        self.window_ = window
        self.splitter = splitter
        self._remembered = {WORKLIST: 0, SIDEBAR: 0}
        self._sized = False
        self.worklist_action = self._action("&Worklist", "Ctrl+Shift+W", WORKLIST)
        self.sidebar_action = self._action("Side &panels (review, overlays, model)", "Ctrl+Shift+P", SIDEBAR)
        splitter.splitterMoved.connect(lambda *_: self.sync())
        self.restored = self.restore()
        if not self.restored:
            self.fit_screen()
        window.installEventFilter(self)

    def _action(self, text: str, key: str, index: int) -> QAction:
        act = QAction(text, self.window_, checkable=True, checked=True, shortcut=QKeySequence(key))
        act.setToolTip(f"Show or fold away the {text.replace('&', '').split(' (')[0].lower()} (or drag its splitter handle)")
        act.toggled.connect(lambda on, i=index: self.set_shown(i, on))
        return act

    # -- collapse / restore -----------------------------------------------------------------------
    def shown(self, index: int) -> bool:
        return self.splitter.sizes()[index] > 0

    def set_shown(self, index: int, on: bool) -> None:
        sizes = self.splitter.sizes()
        if bool(on) == (sizes[index] > 0) or self.splitter.widget(index).isHidden():
            self.sync()
            return
        if on:
            want = self._remembered.get(index) or default_sizes(self.splitter, sum(sizes))[index]
            want = max(want, self.splitter.widget(index).minimumSizeHint().width(), self.splitter.widget(index).minimumWidth())
            sizes[CENTRE] = max(1, sizes[CENTRE] - want)
            sizes[index] = want
        else:
            self._remembered[index] = sizes[index]
            sizes[CENTRE] += sizes[index]
            sizes[index] = 0
        self.splitter.setSizes(sizes)
        self.sync()

    def sync(self) -> None:
        """Tick the View menu's actions after a handle was dragged (a hidden pane keeps its tick)."""
        for index, act in ((WORKLIST, self.worklist_action), (SIDEBAR, self.sidebar_action)):
            if self.splitter.widget(index).isHidden():
                continue
            act.blockSignals(True)
            act.setChecked(self.shown(index))
            act.blockSignals(False)

    # -- first layout, save and restore -----------------------------------------------------------
    def fit_screen(self) -> None:
        """Open at 1600x1000 where the screen has room, else at the screen's available area."""
        screen = self.window_.screen()
        w, h = FIRST_SIZE
        if screen is not None:
            avail = screen.availableGeometry()
            w, h = min(w, avail.width()), min(h, avail.height())
        self.window_.resize(w, h)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if obj is self.window_:
            if event.type() == QEvent.Show and not self._sized and not self.restored:
                self._sized = True  # the first layout shares the width the window really got
                self.splitter.setSizes(default_sizes(self.splitter, self.splitter.width() or self.window_.width()))
                self.sync()
            elif event.type() == QEvent.Close:
                self.save()
        return False

    def restore(self) -> bool:
        store = layout_store()
        geometry, state = store.value("main/geometry"), store.value("main/splitter")
        ok = False
        if geometry is not None:
            ok = bool(self.window_.restoreGeometry(geometry))
        if state is not None and self.splitter.restoreState(state):
            ok = True
            self.sync()
        return ok

    def save(self) -> None:
        store = layout_store()
        store.setValue("main/geometry", self.window_.saveGeometry())
        if not any(self.splitter.widget(i).isHidden() for i in (WORKLIST, SIDEBAR)):
            # label mode hides the side column: its sizes are not the user's layout, keep the last ones
            store.setValue("main/splitter", self.splitter.saveState())
        store.sync()
