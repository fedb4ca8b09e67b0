"""The labelling toolbar: a vertical strip of tools beside the canvas (``strip``) and a bar above it
with brush size, overlay opacity, eraser scope, undo / redo, and the image (or B-scan page) being
labelled."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.editing.tool_keys import TOOL_KEYS, TOOL_TIPS, TOOL_TITLES

MAX_BRUSH = 150


def _sep() -> QFrame:
    f = QFrame()
    f.setFrameShape(QFrame.VLine)
    f.setObjectName("sep")
    f.setFixedWidth(1)
    return f


class LabelToolbar(QWidget):
    tool_changed = Signal(str)
    size_changed = Signal(float)
    opacity_changed = Signal(float)
    erase_all_changed = Signal(bool)
    undo_clicked = Signal()
    redo_clicked = Signal()
    target_changed = Signal(int)

    def __init__(self, tools: tuple[str, ...] = tuple(TOOL_TITLES), parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("toolbar")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.setSpacing(4)
        self.strip = QWidget()
        self.strip.setObjectName("toolstrip")
        col = QVBoxLayout(self.strip)
        col.setContentsMargins(4, 6, 4, 6)
        col.setSpacing(4)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QPushButton] = {}
        self._key_hints: dict[QPushButton, QLabel] = {}  # button -> its key hint in the corner
        for name in tools:
            b = QPushButton(f"{TOOL_TITLES[name]}")
            b.setCheckable(True)
            b.setObjectName("tool")
            b.setToolTip(f"{TOOL_TITLES[name]} ({TOOL_KEYS[name]}): {TOOL_TIPS[name]}")
            b.setFocusPolicy(Qt.NoFocus)
            self.group.addButton(b)
            self.buttons[name] = b
            col.addWidget(b)
            key = QLabel(TOOL_KEYS[name])
            key.setObjectName("toolkey")
            key.setAlignment(Qt.AlignRight | Qt.AlignTop)
            key.setParent(b)
            key.setAttribute(Qt.WA_TransparentForMouseEvents)
            key.setGeometry(0, 1, 0, 0)
            b.installEventFilter(self)
            self._key_hints[b] = key
            b.clicked.connect(lambda _c=False, n=name: self.tool_changed.emit(n))
        col.addStretch(1)
        row.addWidget(QLabel("Size"))
        self.size = QSlider(Qt.Horizontal)
        self.size.setRange(1, MAX_BRUSH)
        self.size.setValue(12)
        self.size.setFixedWidth(110)
        self.size.setToolTip("Brush and eraser radius in image pixels ([ smaller, ] larger)")
        self.size.setFocusPolicy(Qt.NoFocus)
        self.size_label = QLabel("12 px")
        self.size_label.setObjectName("muted")
        self.size_label.setMinimumWidth(44)
        self.size.valueChanged.connect(self._on_size)
        row.addWidget(self.size)
        row.addWidget(self.size_label)
        row.addWidget(QLabel("Opacity"))
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.setFixedWidth(80)
        self.opacity.setFocusPolicy(Qt.NoFocus)
        self.opacity.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100.0))
        row.addWidget(self.opacity)
        self.erase_all = QCheckBox("Erase all classes")
        self.erase_all.setToolTip("Eraser removes every class, not only the active one")
        self.erase_all.setFocusPolicy(Qt.NoFocus)
        self.erase_all.toggled.connect(self.erase_all_changed)
        row.addWidget(self.erase_all)
        row.addStretch(1)
        self.undo = QPushButton("Undo")
        self.undo.setToolTip("Undo (Ctrl+Z)")
        self.redo = QPushButton("Redo")
        self.redo.setToolTip("Redo (Ctrl+Shift+Z or Ctrl+Y)")
        for b in (self.undo, self.redo):
            b.setFocusPolicy(Qt.NoFocus)
            row.addWidget(b)
        self.undo.clicked.connect(self.undo_clicked)
        self.redo.clicked.connect(self.redo_clicked)
        row.addWidget(_sep())
        self.target_label = QLabel("Image")
        row.addWidget(self.target_label)
        self.target = QComboBox()
        self.target.setMinimumWidth(140)
        self.target.setFocusPolicy(Qt.NoFocus)
        self.target.currentIndexChanged.connect(self.target_changed)
        row.addWidget(self.target)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API: keep the key hint in the corner
        from PySide6.QtCore import QEvent

        hint = self._key_hints.get(obj) if event.type() == QEvent.Resize else None
        if hint is not None:
            hint.setGeometry(obj.width() - 16, 1, 13, 13)
        return False

    def _on_size(self, v: int) -> None:
        self.size_label.setText(f"{v} px")
        self.size_changed.emit(float(v))

    def set_tool(self, name: str) -> None:
        if name in self.buttons:
            self.buttons[name].setChecked(True)

    def step_size(self, factor: float) -> None:
        v = self.size.value()
        nv = max(1, min(MAX_BRUSH, int(round(v * factor)) if factor > 1 else int(v / (1 / factor))))
        if nv == v:
            nv = v + (1 if factor > 1 else -1)
        self.size.setValue(max(1, min(MAX_BRUSH, nv)))

    def set_history(self, can_undo: bool, can_redo: bool, undo_text: str = "", redo_text: str = "") -> None:
        self.undo.setEnabled(can_undo)
        self.redo.setEnabled(can_redo)
        self.undo.setToolTip(f"Undo {undo_text} (Ctrl+Z)" if undo_text else "Undo (Ctrl+Z)")
        self.redo.setToolTip(f"Redo {redo_text} (Ctrl+Shift+Z)" if redo_text else "Redo (Ctrl+Shift+Z)")

    def set_targets(self, titles: list[str], current: int = 0) -> None:
        self.target.blockSignals(True)
        self.target.clear()
        self.target.addItems(titles)
        self.target.setCurrentIndex(current)
        self.target.blockSignals(False)
        many = len(titles) > 1
        self.target.setVisible(many)
        self.target_label.setVisible(many)


def scrolling(bar: QWidget) -> QScrollArea:
    """The bar in a horizontal scroll area: on a narrow screen it scrolls instead of forcing the
    whole window wider than the display."""
    area = QScrollArea()
    area.setWidget(bar)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
    area.setFixedHeight(bar.sizeHint().height() + area.horizontalScrollBar().sizeHint().height())
    return area
