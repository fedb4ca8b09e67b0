"""The 2-D labelling view: toolbar, canvas and label panel for the images of one case (fundus,
OCT B-scan, each page of a B-scan stack). MRI cases use ``VolumeLabelView``."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QInputDialog, QLabel, QSplitter, QVBoxLayout, QWidget

from app.editing.canvas import LabelCanvas
from app.editing.sam_assist import SamAssist
from app.editing.sessions import EditorSessions, TargetSession
from app.editing.style import LABEL_STYLESHEET
from app.editing.tool_keys import TOOL_KEYS
from app.editing.toolbar import LabelToolbar, scrolling
from app.viewers.label_layer import colour_for
from app.widgets.label_panel import LabelPanel
from core.domain import LoadedCase
from core.errors import StudioError
from core.hashing import array_sha256
from core.labels import classes as wc
from core.labels.targets import LabelTarget, targets_for_case

log = logging.getLogger(__name__)


class LabelView(QWidget):
    status = Signal(str)

    def __init__(self, sessions: EditorSessions, gpu_runner, workspace_provider, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("labelview")
        self.setStyleSheet(LABEL_STYLESHEET)
        self.sessions = sessions
        self.workspace_provider = workspace_provider
        self.sam = SamAssist(gpu_runner, lambda: self.workspace_provider().arrays, parent=self)
        self.toolbar = LabelToolbar()
        self.canvas = LabelCanvas(self.sam)
        self.panel = LabelPanel()
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
        mid.addWidget(self.canvas, 1)
        cl.addLayout(mid, 1)
        bar = QHBoxLayout()
        bar.setContentsMargins(8, 0, 8, 2)
        bar.addWidget(self.message, 1)
        cl.addLayout(bar)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(centre)
        split.addWidget(self.panel)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 0)
        split.setChildrenCollapsible(False)
        split.setSizes([900, 350])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

        self.case: LoadedCase | None = None
        self.targets: list[LabelTarget] = []
        self.current: TargetSession | None = None
        self.class_set = None
        self.colours: dict[str, str] = {}
        self._active: dict[str, str] = {}  # modality -> active class name
        self._wire()
        self.set_tool("polygon")

    # -- wiring ----------------------------------------------------------------------------------
    def _wire(self) -> None:
        tb, p, c = self.toolbar, self.panel, self.canvas
        tb.tool_changed.connect(self.set_tool)
        tb.size_changed.connect(c.set_brush_radius)
        tb.opacity_changed.connect(c.layer.set_opacity)
        tb.erase_all_changed.connect(lambda on: setattr(c, "erase_all", on))
        tb.undo_clicked.connect(self.undo)
        tb.redo_clicked.connect(self.redo)
        tb.target_changed.connect(self.show_target)
        p.active_changed.connect(self._on_active)
        p.visibility_changed.connect(self._apply_classes)
        p.class_flag_changed.connect(self._on_class_flag)
        p.image_flag_changed.connect(self._on_image_flag)
        p.add_class_clicked.connect(self._ask_add_class)
        p.rename_class_clicked.connect(self._ask_rename_class)
        p.set_changed.connect(self._on_set_changed)
        p.shapes_selected.connect(c.set_selection)
        p.relabel_requested.connect(c.relabel_selection)
        p.delete_requested.connect(c.delete_selection)
        p.convert_requested.connect(c.convert_selection)
        p.sam_accept_clicked.connect(c.sam_accept)
        p.sam_clear_clicked.connect(c.sam_clear)
        p.sam_polygon_toggled.connect(lambda on: setattr(c, "sam_as_polygon", on))
        p.result_requested.connect(self.add_model_result)
        p.autosave_toggled.connect(self.sessions.set_autosave)
        c.selection_changed.connect(self._refresh_panel)
        c.message.connect(self.show_message)
        self.sam.status_changed.connect(self.panel.sam_status.setText)
        self.sessions.state_changed.connect(self._on_save_state)

        def key(seq, fn):
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.WidgetWithChildrenShortcut)
            sc.activated.connect(fn)
            return sc

        for name, k in TOOL_KEYS.items():
            key(k, lambda n=name: self.set_tool(n))
        key("[", lambda: self.toolbar.step_size(1 / 1.25))
        key("]", lambda: self.toolbar.step_size(1.25))
        key(QKeySequence.Undo, self.undo)
        key("Ctrl+Shift+Z", self.redo)
        key("Ctrl+Y", self.redo)
        key(QKeySequence.Save, self.save_now)
        key(Qt.Key_Delete, self.canvas.delete_selection)
        key("T", self.toggle_shapes)
        for k in (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Escape, Qt.Key_Backspace):
            key(k, lambda k=k: self.canvas.tool is not None and self.canvas.tool.key(k))
        for i in range(1, 10):
            key(str(i), lambda i=i: self._choose_class(i - 1))

    # -- opening -----------------------------------------------------------------------------------
    def open_case(self, case: LoadedCase, target_key: str | None = None) -> None:
        self.case = case
        self.targets = [t for t in targets_for_case(case.record) if not t.is_volume]
        titles = [t.title for t in self.targets]
        idx = next((i for i, t in enumerate(self.targets) if t.key == target_key), 0)
        if self.targets and target_key is None:
            stack = self.targets[0].image.is_stack
            if stack:  # open a stack on its middle page, like the review view
                idx = int(self.targets[0].image.shape[0]) // 2
        self.toolbar.set_targets(titles, idx)
        try:
            from core.labels.convert import result_sources

            self._sources = result_sources(self.workspace_provider(), case.id)
        except StudioError as exc:
            log.warning("cannot list model results of %s: %s", case.id, exc)
            self._sources = []
        if self.targets:
            self.show_target(idx)

    def show_target(self, index: int) -> None:
        if not 0 <= index < len(self.targets) or self.case is None:
            return
        t = self.targets[index]
        try:
            session = self.sessions.get(t)
        except StudioError as exc:
            self.show_message(f"Cannot open the labels of {t.key}: {exc}")
            return
        if self.current is not None:
            self.current.editor.unsubscribe(self._on_edit)
        self.current = session
        array = self.case.images[t.image.name].array
        pixels = array[t.page] if t.page is not None else array
        m = t.image.meta
        h, w = pixels.shape[:2]
        badge = "SYNTHETIC" if m.synthetic else ""
        self.canvas.set_image(pixels, f"{self.case.id} · {t.title}", f"{t.image.modality.value}  {w}x{h}", badge)
        self.sam.set_image(pixels, t.image.sha256 if t.page is None else array_sha256(pixels))
        self._load_classes(t.modality)
        self.canvas.set_editor(session.editor)
        session.editor.unsubscribe(self._on_edit)
        session.editor.subscribe(self._on_edit)
        self.panel.set_result_sources([s for s in self._sources if s.image == t.image.name])
        self._refresh_panel()
        self._on_save_state(t.key)
        if self.canvas.tool is not None and self.canvas.tool.name == "sam":
            self.sam.ensure_embedding()
        else:
            self.sam.prefetch()  # lowest priority: ready before the first SAM click

    def _on_edit(self, _text: str) -> None:
        if self.current is not None and self.canvas.editor is self.current.editor:
            self._refresh_panel()

    # -- classes -----------------------------------------------------------------------------------
    def _load_classes(self, modality: str) -> None:
        ws = self.workspace_provider()
        self.class_set = wc.workspace_class_set(ws, modality)
        sets = [(n, wc.workspace_class_set(ws, modality, n).title) for n in wc.set_names(modality)]
        self.panel.set_sets(sets, self.class_set.name)
        self._apply_classes(reload=True)

    def _extra_labels(self) -> list[str]:
        if self.current is None or self.class_set is None:
            return []
        known = {c.name for c in self.class_set.classes}
        return [lab for lab in self.current.editor.labels() if lab not in known]

    def _apply_classes(self, reload: bool = False) -> None:
        if self.class_set is None:
            return
        modality = self.class_set.modality
        colours = {c.name: c.color for c in self.class_set.classes}
        extra = self._extra_labels()
        for lab in extra:
            colours[lab] = colour_for(lab, {})
        self.colours = colours
        if reload:
            visible_before = self.panel.visible_labels() if self.panel.class_names() else None
            active = self._active.get(modality) or (self.class_set.classes[0].name if self.class_set.classes else None)
            if active not in colours:
                active = self.class_set.classes[0].name if self.class_set.classes else None
            vis = None if visible_before is None else {n for n in colours if n in visible_before or n not in self.panel.class_names()}
            self.panel.set_classes(self.class_set, extra, colours, active, vis)
            self._active[modality] = active
        self.canvas.set_classes(colours, self._active.get(modality), self.panel.visible_labels())

    def _on_active(self, name: str) -> None:
        if self.class_set is not None:
            self._active[self.class_set.modality] = name
        self.canvas.set_classes(self.colours, name, self.panel.visible_labels())
        self.show_message(f"Active class: {name}")

    def _choose_class(self, i: int) -> None:
        names = self.panel.class_names()
        if 0 <= i < len(names):
            self.panel.set_active(names[i])

    def active_label(self) -> str | None:
        return self.canvas.active_label

    def set_active_label(self, name: str) -> None:
        self.panel.set_active(name)

    def add_class(self, name: str, colour: str | None = None) -> None:
        ws = self.workspace_provider()
        cls = wc.add_class(ws, self.class_set.modality, name, colour, user=self.sessions.user)
        self._load_classes(self.class_set.modality)
        self.panel.set_active(cls.name)
        self.show_message(f"Added class {cls.id} '{cls.name}' to this workspace")

    def rename_class(self, old: str, new: str) -> None:
        modality = self.class_set.modality
        errors = self.sessions.flush_all()
        if errors:
            self.show_message("Cannot rename while labels are unsaved: " + "; ".join(errors))
            return
        ws = self.workspace_provider()
        n = wc.rename_class(ws, modality, old, new, user=self.sessions.user)
        for s in self.sessions.sessions():
            if s.target.modality == modality and not s.target.is_volume:
                s.editor.rename_label(old, new)
        if self._active.get(modality) == old:
            self._active[modality] = new
        self._load_classes(modality)
        self.canvas.render()
        self.show_message(f"Renamed '{old}' to '{new}' ({n} stored label file(s) updated)")

    def _ask_add_class(self) -> None:
        name, ok = QInputDialog.getText(self, "Add class", f"New {self.class_set.title} class name:")
        if ok and name.strip():
            self._guard(self.add_class, name.strip())

    def _ask_rename_class(self, old: str) -> None:
        new, ok = QInputDialog.getText(self, "Rename class", f"New name for '{old}':", text=old)
        if ok and new.strip() and new.strip() != old:
            self._guard(self.rename_class, old, new.strip())

    def _on_set_changed(self, set_name: str) -> None:
        if set_name and self.class_set is not None and set_name != self.class_set.name:
            self._guard(wc.set_active_set, self.workspace_provider(), self.class_set.modality, set_name)
            self._active.pop(self.class_set.modality, None)
            self._load_classes(self.class_set.modality)

    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except StudioError as exc:
            self.show_message(str(exc))

    # -- flags -------------------------------------------------------------------------------------
    def _on_image_flag(self, name: str, on: bool) -> None:
        if self.current is None:
            return
        other = "abnormal" if name == "normal" else "normal"
        self.current.editor.set_flags({name: on, other: False} if on else {name: False}, text=f"Flag {name}")

    def _on_class_flag(self, name: str, on: bool) -> None:
        if self.current is None:
            return
        changes = {name: on}
        if on:
            changes.update(abnormal=True, normal=False)
        self.current.editor.set_flags(changes, text=f"Flag {name}")

    # -- editing commands -------------------------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        self.canvas.set_tool(name)
        self.toolbar.set_tool(name)

    def undo(self) -> None:
        if self.current is not None:
            text = self.current.editor.undo()
            self.show_message(f"Undid {text}" if text else "Nothing to undo")

    def redo(self) -> None:
        if self.current is not None:
            text = self.current.editor.redo()
            self.show_message(f"Redid {text}" if text else "Nothing to redo")

    def save_now(self) -> None:
        if self.current is not None:
            self.current.saver.save_now()

    def toggle_shapes(self) -> None:
        self.canvas.layer.set_visible(not self.canvas.layer.is_visible())

    def add_model_result(self, index: int, use: str, threshold: float, as_polygon: bool) -> None:
        from core.labels.convert import result_to_shapes

        sources = [s for s in self._sources if self.current and s.image == self.current.target.image.name]
        if not (0 <= index < len(sources)) or self.current is None or not self.active_label():
            return
        ed = self.current.editor
        try:
            shapes = result_to_shapes(
                self.workspace_provider(),
                self.case.id,
                sources[index],
                self.active_label(),
                use=use,
                threshold=threshold,
                as_polygon=as_polygon,
                image_hw=(ed.height, ed.width),
                page=self.current.target.page,
            )
        except StudioError as exc:
            self.show_message(str(exc))
            return
        if not shapes:
            self.show_message("The result has no region above that threshold")
            return
        ed.add_shapes(shapes, f"Add {sources[index].model} result")
        self.show_message(f"Added {len(shapes)} shape(s) from {sources[index].title} to '{self.active_label()}'")

    # -- panel refresh -------------------------------------------------------------------------------
    def _refresh_panel(self) -> None:
        if self.current is None:
            return
        ed = self.current.editor
        counts: dict[str, int] = {}
        for s in ed.shapes:
            counts[s.label] = counts.get(s.label, 0) + 1
        if set(self._extra_labels()) - set(self.panel.class_names()):
            self._apply_classes(reload=True)
        self.panel.show_counts_and_flags(counts, ed.flags)
        self.panel.show_shapes([(s.label, s.shape_type, colour_for(s.label, self.colours)) for s in ed.shapes], self.canvas.selected)
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

    def pixels(self) -> np.ndarray | None:
        if self.current is None or self.case is None:
            return None
        t = self.current.target
        a = self.case.images[t.image.name].array
        return a[t.page] if t.page is not None else a
