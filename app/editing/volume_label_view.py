"""The MRI labelling view: toolbar, three-plane editable volume view and the label panel."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QInputDialog, QLabel, QSplitter, QVBoxLayout, QWidget

from app.editing.sam_assist import SamAssist
from app.editing.sessions import EditorSessions, TargetSession
from app.editing.style import LABEL_STYLESHEET
from app.editing.tool_keys import TOOL_KEYS
from app.editing.toolbar import LabelToolbar, scrolling
from app.editing.volume_label import VOLUME_TOOLS, EditableVolumeView
from app.widgets.label_panel import LabelPanel
from core.domain import LoadedCase, Modality
from core.errors import StudioError
from core.labels import classes as wc
from core.labels.targets import LabelTarget


class VolumeLabelView(QWidget):
    status = Signal(str)

    def __init__(self, sessions: EditorSessions, gpu_runner, workspace_provider, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("labelview")
        self.setStyleSheet(LABEL_STYLESHEET)
        self.sessions = sessions
        self.workspace_provider = workspace_provider
        self.sam = SamAssist(gpu_runner, lambda: self.workspace_provider().arrays, parent=self)
        self.toolbar = LabelToolbar(VOLUME_TOOLS)
        self.toolbar.buttons["select"].setText("Navigate")
        self.toolbar.buttons["select"].setToolTip("Navigate (V): click to move the crosshair, drag to pan, wheel scrolls slices")
        self.toolbar.size.setValue(3)
        self.volume = EditableVolumeView(self.sam)
        self.volume.notify = self.show_message
        self.panel = LabelPanel()
        self.panel.set_volume_mode(True)
        self.message = QLabel("")
        self.message.setObjectName("muted")
        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(2)
        cl.addWidget(scrolling(self.toolbar))
        mid = QHBoxLayout()
        mid.setSpacing(2)
        mid.addWidget(self.toolbar.strip)
        mid.addWidget(self.volume, 1)
        cl.addLayout(mid, 1)
        bar = QHBoxLayout()
        bar.setContentsMargins(8, 0, 8, 2)
        bar.addWidget(self.message, 1)
        cl.addLayout(bar)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(centre)
        split.addWidget(self.panel)
        split.setStretchFactor(0, 1)
        split.setChildrenCollapsible(False)
        split.setSizes([1000, 350])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.case: LoadedCase | None = None
        self.current: TargetSession | None = None
        self.class_set = None
        self.ids: dict[str, int] = {}
        self.colours: dict[str, str] = {}
        self._wire()
        self.set_tool("brush")

    def _wire(self) -> None:
        tb, p, v = self.toolbar, self.panel, self.volume
        tb.tool_changed.connect(self.set_tool)
        tb.size_changed.connect(v.set_brush_radius)
        tb.opacity_changed.connect(lambda a: [layer.set_opacity(a) for layer in v.layers.values()])
        tb.erase_all_changed.connect(lambda on: setattr(v, "erase_all", on))
        tb.undo_clicked.connect(self.undo)
        tb.redo_clicked.connect(self.redo)
        p.active_changed.connect(lambda _n: self._apply_classes())
        p.visibility_changed.connect(self._apply_classes)
        p.add_class_clicked.connect(self._ask_add_class)
        p.rename_class_clicked.connect(
            lambda old: self.show_message("Rename MRI classes in the 2-D label view's panel or with the class catalog")
        )
        p.sam_accept_clicked.connect(v.sam_accept)
        p.sam_clear_clicked.connect(lambda: (self.sam.clear(), v.draw_sam_prompts()))
        p.result_requested.connect(self.add_model_result)
        p.autosave_toggled.connect(self.sessions.set_autosave)
        self.sam.status_changed.connect(p.sam_status.setText)
        self.sessions.state_changed.connect(self._on_save_state)

        def key(seq, fn):
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.WidgetWithChildrenShortcut)
            sc.activated.connect(fn)

        for name in VOLUME_TOOLS:
            key(TOOL_KEYS[name], lambda n=name: self.set_tool(n))
        key("[", lambda: tb.step_size(1 / 1.25))
        key("]", lambda: tb.step_size(1.25))
        key(QKeySequence.Undo, self.undo)
        key("Ctrl+Shift+Z", self.redo)
        key("Ctrl+Y", self.redo)
        key(QKeySequence.Save, lambda: self.current and self.current.saver.save_now())
        for k in (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Escape, Qt.Key_Backspace):
            key(k, lambda k=k: v.tool is not None and v.tool.key(k))
        for i in range(1, 10):
            key(str(i), lambda i=i: self._choose_class(i - 1))

    # -- opening ---------------------------------------------------------------------------------
    def open_case(self, case: LoadedCase) -> None:
        self.case = case
        mri = case.first(Modality.MRI)
        affine = mri.record.meta.affine_array()
        if affine is None:
            affine = self.workspace_provider().read_volume(mri.record).affine
        ws = self.workspace_provider()
        self.class_set = wc.workspace_class_set(ws, "mri")
        legend = wc.legend_for(self.class_set)
        try:
            session = self.sessions.get(LabelTarget(mri.record), legend)
        except StudioError as exc:
            self.show_message(f"Cannot open the label volume of {case.id}: {exc}")
            return
        if self.current is not None:
            self.current.editor.unsubscribe(self._on_edit)
        self.current = session
        session.editor.unsubscribe(self._on_edit)
        session.editor.subscribe(self._on_edit)
        self.volume.set_volume(mri.array, affine, title=f"{case.id} · {mri.record.name}")
        self.volume.set_editor(session.editor)
        self.ids = dict(session.editor.legend)
        sets = [(n, wc.workspace_class_set(ws, "mri", n).title) for n in wc.set_names("mri")]
        self.panel.set_sets(sets, self.class_set.name)
        extra = [n for n in self.ids if self.class_set.by_name(n) is None]
        self.colours = {c.name: c.color for c in self.class_set.classes}
        from app.viewers.label_layer import colour_for

        for n in extra:
            self.colours[n] = colour_for(n, {})
        active = self.panel.active_label() or self.class_set.classes[0].name
        self.panel.set_classes(self.class_set, extra, self.colours, active, None)
        from core.labels.convert import result_sources

        self._sources = [s for s in result_sources(ws, case.id) if s.image == mri.record.name]
        self.panel.set_result_sources(self._sources)
        self._apply_classes()
        self._on_edit("")
        self._on_save_state(session.target.key)

    def _apply_classes(self) -> None:
        if self.current is None:
            return
        active = self.panel.active_label()
        visible = self.panel.visible_labels()
        by_id = {self.ids[n]: c for n, c in self.colours.items() if n in self.ids}
        self.volume.set_classes(by_id, self.ids.get(active), {self.ids[n] for n in visible if n in self.ids})

    def _choose_class(self, i: int) -> None:
        names = self.panel.class_names()
        if 0 <= i < len(names):
            self.panel.set_active(names[i])

    def _ask_add_class(self) -> None:
        name, ok = QInputDialog.getText(self, "Add class", "New brain MRI class name:")
        if ok and name.strip():
            try:
                cls = wc.add_class(self.workspace_provider(), "mri", name.strip(), user=self.sessions.user)
            except StudioError as exc:
                self.show_message(str(exc))
                return
            self.current.editor.legend[cls.name] = cls.id
            self.open_case(self.case)
            self.panel.set_active(cls.name)

    # -- commands --------------------------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        self.volume.set_tool(name)
        self.toolbar.set_tool(name)

    def undo(self) -> None:
        if self.current is not None:
            text = self.current.editor.undo()
            self.show_message(f"Undid {text}" if text else "Nothing to undo")

    def redo(self) -> None:
        if self.current is not None:
            text = self.current.editor.redo()
            self.show_message(f"Redid {text}" if text else "Nothing to redo")

    def add_model_result(self, index: int, use: str, threshold: float, _as_polygon: bool) -> None:
        from core.labels.convert import result_to_volume_mask

        if not (0 <= index < len(self._sources)) or self.current is None:
            return
        active = self.panel.active_label()
        try:
            mask = result_to_volume_mask(self.workspace_provider(), self.case.id, self._sources[index], use=use, threshold=threshold)
            changed = self.current.editor.apply_mask(mask, self.ids[active], text="Model result")
        except (StudioError, ValueError, KeyError) as exc:
            self.show_message(str(exc))
            return
        self.show_message(f"Added {int(mask.sum())} voxels to '{active}'" if changed else "Nothing new to add")

    def _on_edit(self, _text: str) -> None:
        if self.current is None:
            return
        ed = self.current.editor
        counts = ed.counts()
        names = {v: k for k, v in self.ids.items()}
        self.panel.show_counts_and_flags({names.get(i, str(i)): n for i, n in counts.items()}, {})
        h = ed.history
        self.toolbar.set_history(h.can_undo(), h.can_redo(), h.undo_text(), h.redo_text())

    def _on_save_state(self, key: str) -> None:
        if self.current is None or key != self.current.target.key:
            return
        text, level = self.current.saver.describe()
        self.panel.show_save_state(text, level)
        if level == "error":
            self.status.emit(text)

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.status.emit(text)

    def labels(self) -> np.ndarray | None:
        return None if self.current is None else self.current.editor.labels
