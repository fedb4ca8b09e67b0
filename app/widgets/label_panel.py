"""The label panel: symptom classes (colour, id, visibility, image-level flag, active class),
image flags, the shapes of the image, SAM controls, model-result conversion and the save state."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QScrollArea,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.classes import ClassSet


def swatch(colour: str, size: int = 12) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(QColor(colour))
    return QIcon(pm)


class LabelPanel(QWidget):
    active_changed = Signal(str)
    visibility_changed = Signal()
    class_flag_changed = Signal(str, bool)
    image_flag_changed = Signal(str, bool)
    add_class_clicked = Signal()
    rename_class_clicked = Signal(str)
    set_changed = Signal(str)
    shapes_selected = Signal(list)
    relabel_requested = Signal(str)
    delete_requested = Signal()
    convert_requested = Signal(str)
    sam_accept_clicked = Signal()
    sam_clear_clicked = Signal()
    sam_polygon_toggled = Signal(bool)
    result_requested = Signal(int, str, float, bool)  # source index, 'mask'|'heatmap', threshold, as polygon
    autosave_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumWidth(350)
        self._set: ClassSet | None = None
        self._extra: list[str] = []
        inner = QWidget()
        col = QVBoxLayout(inner)
        col.setContentsMargins(6, 6, 6, 6)
        col.setSpacing(8)

        # save state banner
        self.save_state = QLabel("No changes")
        self.save_state.setObjectName("saveok")
        self.save_state.setWordWrap(True)
        col.addWidget(self.save_state)

        # classes
        box = QGroupBox("Symptom classes")
        bl = QVBoxLayout(box)
        bl.setSpacing(4)
        self.set_combo = QComboBox()
        self.set_combo.currentIndexChanged.connect(lambda _i: self.set_changed.emit(self.set_combo.currentData() or ""))
        bl.addWidget(self.set_combo)
        self.classes = QTreeWidget()
        self.classes.setColumnCount(3)
        self.classes.setHeaderLabels(["Class", "Count", "Flag"])
        self.classes.setRootIsDecorated(False)
        self.classes.setIconSize(QSize(12, 12))
        self.classes.setUniformRowHeights(True)
        hdr = self.classes.header()
        hdr.setSectionResizeMode(0, QHeaderView.Stretch)
        hdr.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        hdr.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        hdr.setStretchLastSection(False)
        self.classes.setToolTip(
            "Checkbox: show the class. Flag: the symptom is present in this image (image-level label).\n"
            "Select a row to make it the active class (keys 1-9)."
        )
        self.classes.currentItemChanged.connect(self._on_current)
        self.classes.itemChanged.connect(self._on_item_changed)
        self.classes.setMinimumHeight(230)
        bl.addWidget(self.classes, 1)
        row = QHBoxLayout()
        self.add_btn = QPushButton("Add class…")
        self.rename_btn = QPushButton("Rename…")
        self.show_all = QPushButton("Show all")
        for b in (self.add_btn, self.rename_btn, self.show_all):
            row.addWidget(b)
        self.add_btn.clicked.connect(self.add_class_clicked)
        self.rename_btn.clicked.connect(lambda: self.active_label() and self.rename_class_clicked.emit(self.active_label()))
        self.show_all.clicked.connect(self._show_all)
        bl.addLayout(row)
        col.addWidget(box)

        # image flags
        fbox = QGroupBox("Image")
        fl = QHBoxLayout(fbox)
        self.flag_normal = QCheckBox("Normal")
        self.flag_abnormal = QCheckBox("Abnormal")
        for cb, name in ((self.flag_normal, "normal"), (self.flag_abnormal, "abnormal")):
            cb.toggled.connect(lambda on, n=name: self.image_flag_changed.emit(n, on))
            fl.addWidget(cb)
        fl.addStretch(1)
        col.addWidget(fbox)
        self.flags_box = fbox

        # shapes
        sbox = QGroupBox("Shapes")
        sl = QVBoxLayout(sbox)
        self.shapes = QListWidget()
        self.shapes.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.shapes.setIconSize(QSize(12, 12))
        self.shapes.setMinimumHeight(110)
        self.shapes.itemSelectionChanged.connect(
            lambda: self.shapes_selected.emit(sorted(self.shapes.row(i) for i in self.shapes.selectedItems()))
        )
        sl.addWidget(self.shapes, 1)
        srow = QGridLayout()
        srow.setSpacing(4)
        self.relabel_btn = QToolButton()
        self.relabel_btn.setText("Class ▾")
        self.relabel_btn.setPopupMode(QToolButton.InstantPopup)
        self.relabel_btn.setToolTip("Move the selected shapes to another class")
        self.relabel_menu = QMenu(self.relabel_btn)
        self.relabel_btn.setMenu(self.relabel_menu)
        self.to_poly = QPushButton("To polygon")
        self.to_mask = QPushButton("To mask")
        self.delete_btn = QPushButton("Delete")
        self.delete_btn.setObjectName("danger")
        self.to_poly.clicked.connect(lambda: self.convert_requested.emit("polygon"))
        self.to_mask.clicked.connect(lambda: self.convert_requested.emit("mask"))
        self.delete_btn.clicked.connect(self.delete_requested)
        self.relabel_btn.setSizePolicy(self.to_poly.sizePolicy())
        for i, w in enumerate((self.relabel_btn, self.delete_btn, self.to_poly, self.to_mask)):
            srow.addWidget(w, i // 2, i % 2)
        sl.addLayout(srow)
        col.addWidget(sbox)
        self.shapes_box = sbox

        # SAM
        sam = QGroupBox("SAM assist")
        ml = QVBoxLayout(sam)
        self.sam_status = QLabel("Choose the SAM tool (S), then click inside a structure.")
        self.sam_status.setWordWrap(True)
        self.sam_status.setObjectName("muted")
        ml.addWidget(self.sam_status)
        mrow = QHBoxLayout()
        self.sam_polygon = QCheckBox("Accept as polygon")
        self.sam_polygon.toggled.connect(self.sam_polygon_toggled)
        self.sam_accept = QPushButton("Accept")
        self.sam_accept.setObjectName("primary")
        self.sam_accept.setToolTip("Add the mask to the active class (Enter)")
        self.sam_clear = QPushButton("Clear")
        self.sam_clear.setToolTip("Clear the prompts (Esc)")
        self.sam_accept.clicked.connect(self.sam_accept_clicked)
        self.sam_clear.clicked.connect(self.sam_clear_clicked)
        mrow.addWidget(self.sam_polygon)
        mrow.addStretch(1)
        mrow.addWidget(self.sam_accept)
        mrow.addWidget(self.sam_clear)
        ml.addLayout(mrow)
        col.addWidget(sam)

        # model result -> label
        res = QGroupBox("Model result → label")
        rl = QVBoxLayout(res)
        self.result_combo = QComboBox()
        rl.addWidget(self.result_combo)
        rrow = QHBoxLayout()
        rrow2 = QHBoxLayout()
        self.result_use = QComboBox()
        self.result_use.addItem("Mask", "mask")
        self.result_use.addItem("Heatmap >", "heatmap")
        self.result_thr = QDoubleSpinBox()
        self.result_thr.setRange(-1000, 1000)
        self.result_thr.setDecimals(2)
        self.result_thr.setSingleStep(0.25)
        self.result_thr.setToolTip("Threshold on the calibrated heatmap (default: the model's pixel threshold)")
        self.result_poly = QCheckBox("Polygons")
        self.result_btn = QPushButton("Add")
        self.result_btn.setToolTip("Add the result to the active class as editable shapes")
        rrow.addWidget(self.result_use)
        rrow.addWidget(self.result_thr, 1)
        rrow2.addWidget(self.result_poly)
        rrow2.addStretch(1)
        rrow2.addWidget(self.result_btn)
        rl.addLayout(rrow)
        rl.addLayout(rrow2)
        self.result_btn.clicked.connect(self._on_result)
        self.result_combo.currentIndexChanged.connect(self._on_result_source)
        col.addWidget(res)
        self.result_box = res
        self._sources: list = []

        arow = QHBoxLayout()
        self.autosave = QCheckBox("Autosave")
        self.autosave.setChecked(True)
        self.autosave.setToolTip("Every change is written within 2 s (on by default). Off: save with Ctrl+S.")
        self.autosave.toggled.connect(self.autosave_toggled)
        arow.addWidget(self.autosave)
        arow.addStretch(1)
        col.addLayout(arow)
        col.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setWidget(inner)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        # room for the content and the vertical scroll bar, kept up to date as classes and shapes
        # change the content: nothing is ever cut off at the right edge
        self._scroll = scroll
        inner.installEventFilter(self)
        self._fit_width()

    def _fit_width(self) -> None:
        inner = self._scroll.widget()
        want = max(350, inner.minimumSizeHint().width() + self._scroll.verticalScrollBar().sizeHint().width() + 4)
        if want != self.minimumWidth():
            self.setMinimumWidth(want)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.LayoutRequest and obj is self._scroll.widget():
            self._fit_width()
        return super().eventFilter(obj, event)

    def set_volume_mode(self, on: bool) -> None:
        """MRI label volumes: no vector shapes and no image flags; counts are voxels."""
        self.flags_box.setVisible(not on)
        self.shapes_box.setVisible(not on)
        self.classes.setHeaderLabels(["Class", "Voxels" if on else "Count", "Flag"])
        self.classes.setColumnHidden(2, on)

    # -- classes ----------------------------------------------------------------------------------
    def set_sets(self, choices: list[tuple[str, str]], current: str) -> None:
        self.set_combo.blockSignals(True)
        self.set_combo.clear()
        for name, title in choices:
            self.set_combo.addItem(title, name)
        idx = max(0, self.set_combo.findData(current))
        self.set_combo.setCurrentIndex(idx)
        self.set_combo.setVisible(len(choices) > 1)
        self.set_combo.blockSignals(False)

    def set_classes(
        self, class_set: ClassSet, extra_labels: list[str], colours: dict[str, str], active: str | None, visible: set[str] | None
    ) -> None:
        self._set, self._extra = class_set, list(extra_labels)
        self.classes.blockSignals(True)
        self.classes.clear()
        current = None
        rows = [(c.id, c.name) for c in class_set.classes] + [(None, n) for n in extra_labels]
        for cid, name in rows:
            text = f"{cid:>2}  {name}" if cid is not None else f" ?  {name}"
            item = QTreeWidgetItem([text, "", ""])
            item.setData(0, Qt.UserRole, name)
            item.setIcon(0, swatch(colours.get(name, "#888888")))
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(0, Qt.Checked if visible is None or name in visible else Qt.Unchecked)
            item.setCheckState(2, Qt.Unchecked)
            item.setTextAlignment(1, Qt.AlignRight | Qt.AlignVCenter)
            item.setToolTip(0, name if cid is not None else f"{name} (not in the class set; add it to keep its colour and id)")
            self.classes.addTopLevelItem(item)
            if name == active:
                current = item
        if current is not None:
            self.classes.setCurrentItem(current)
        self.classes.blockSignals(False)
        self.relabel_menu.clear()
        for _cid, name in rows:
            act = self.relabel_menu.addAction(swatch(colours.get(name, "#888888")), name)
            act.triggered.connect(lambda _c=False, n=name: self.relabel_requested.emit(n))

    def class_names(self) -> list[str]:
        return [self.classes.topLevelItem(i).data(0, Qt.UserRole) for i in range(self.classes.topLevelItemCount())]

    def active_label(self) -> str | None:
        item = self.classes.currentItem()
        return item.data(0, Qt.UserRole) if item is not None else None

    def set_active(self, name: str) -> None:
        for i in range(self.classes.topLevelItemCount()):
            item = self.classes.topLevelItem(i)
            if item.data(0, Qt.UserRole) == name:
                self.classes.setCurrentItem(item)
                return

    def visible_labels(self) -> set[str]:
        out = set()
        for i in range(self.classes.topLevelItemCount()):
            item = self.classes.topLevelItem(i)
            if item.checkState(0) == Qt.Checked:
                out.add(item.data(0, Qt.UserRole))
        return out

    def set_visible(self, name: str, on: bool) -> None:
        for i in range(self.classes.topLevelItemCount()):
            item = self.classes.topLevelItem(i)
            if item.data(0, Qt.UserRole) == name:
                item.setCheckState(0, Qt.Checked if on else Qt.Unchecked)

    def _show_all(self) -> None:
        self.classes.blockSignals(True)
        for i in range(self.classes.topLevelItemCount()):
            self.classes.topLevelItem(i).setCheckState(0, Qt.Checked)
        self.classes.blockSignals(False)
        self.visibility_changed.emit()

    def _on_current(self, item, _prev) -> None:
        if item is not None:
            self.active_changed.emit(item.data(0, Qt.UserRole))

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self.visibility_changed.emit()
        elif column == 2:
            self.class_flag_changed.emit(item.data(0, Qt.UserRole), item.checkState(2) == Qt.Checked)

    # -- per-image state ------------------------------------------------------------------------------
    def show_counts_and_flags(self, counts: dict[str, int], flags: dict) -> None:
        self.classes.blockSignals(True)
        for i in range(self.classes.topLevelItemCount()):
            item = self.classes.topLevelItem(i)
            name = item.data(0, Qt.UserRole)
            n = counts.get(name, 0)
            item.setText(1, str(n) if n else "")
            item.setCheckState(2, Qt.Checked if flags.get(name) else Qt.Unchecked)
        self.classes.blockSignals(False)
        for cb, name in ((self.flag_normal, "normal"), (self.flag_abnormal, "abnormal")):
            cb.blockSignals(True)
            cb.setChecked(bool(flags.get(name)))
            cb.blockSignals(False)

    def show_shapes(self, rows: list[tuple[str, str, str]], selected: set[int]) -> None:
        """rows: (label, shape_type, colour) per shape, in document order."""
        self.shapes.blockSignals(True)
        self.shapes.clear()
        for i, (label, kind, colour) in enumerate(rows):
            item = QListWidgetItem(swatch(colour), f"{label}  ·  {kind}")
            self.shapes.addItem(item)
            item.setSelected(i in selected)
        self.shapes.blockSignals(False)
        has = bool(selected)
        for w in (self.relabel_btn, self.to_poly, self.to_mask, self.delete_btn):
            w.setEnabled(has)

    def show_save_state(self, text: str, level: str) -> None:
        self.save_state.setText(text)
        self.save_state.setObjectName({"error": "saveerror", "pending": "savepending"}.get(level, "saveok"))
        self.save_state.style().unpolish(self.save_state)
        self.save_state.style().polish(self.save_state)

    # -- model results --------------------------------------------------------------------------------
    def set_result_sources(self, sources: list) -> None:
        self._sources = list(sources)
        self.result_combo.blockSignals(True)
        self.result_combo.clear()
        for s in sources:  # the panel is narrow: the whole title is in each item's and the box's tooltip
            text = f"{s.title} · {s.image}"
            self.result_combo.addItem(text)
            self.result_combo.setItemData(self.result_combo.count() - 1, text, Qt.ToolTipRole)
        self.result_combo.blockSignals(False)
        self.result_box.setEnabled(bool(sources))
        if not sources:
            self.result_combo.addItem("No stored model results for this case")
        self._on_result_source(0)

    def _on_result_source(self, index: int) -> None:
        self.result_combo.setToolTip(self.result_combo.itemText(index) if index >= 0 else "")
        if 0 <= index < len(self._sources):
            s = self._sources[index]
            self.result_thr.setValue(s.pixel_threshold)
            self.result_use.setCurrentIndex(0 if s.has_mask else 1)
            self.result_use.model().item(0).setEnabled(s.has_mask)

    def _on_result(self) -> None:
        i = self.result_combo.currentIndex()
        if 0 <= i < len(self._sources):
            self.result_requested.emit(i, self.result_use.currentData(), float(self.result_thr.value()), self.result_poly.isChecked())
