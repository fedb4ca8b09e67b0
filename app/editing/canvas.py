"""The 2-D labelling canvas: an ImagePanel with the label layer, the active tool and SAM preview.

It is the tools' host for one LabelEditor: tools call ``apply_stroke``, ``add_polygon``... with view
coordinates (pixel j spans [j, j + 1)); shapes are stored as LabelMe points (pixel centre at j).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

from app.editing.interaction import InteractionItem
from app.editing.sam_assist import SamAssist, SamResult
from app.editing.tools import TOOLS, Tool, cosmetic_pen
from app.viewers.image_panel import ImagePanel
from app.viewers.label_layer import LabelLayer, brush_for, colour_for, hex_rgb
from core.io.labelme import Shape
from core.labels.editor import LabelEditor
from core.labels.raster import stroke_region
from core.labels.shapes import mask_to_shapes, view_to_label


class LabelCanvas(QWidget):
    selection_changed = Signal()
    message = Signal(str)
    supports_selection = True

    def __init__(self, sam: SamAssist, parent: QWidget | None = None):
        super().__init__(parent)
        self.panel = ImagePanel("Label")
        self.view = self.panel.view
        self.layer = LabelLayer(self.view)
        self.sam = sam
        self.sam_fill = pg.ImageItem()
        self.sam_fill.setZValue(35)
        self.sam_fill.setOpacity(0.55)
        self.view.addItem(self.sam_fill)
        self.sam_points = pg.ScatterPlotItem(size=11, pen=pg.mkPen("#ffffff", width=1.5))
        self.sam_points.setZValue(45)
        self.view.addItem(self.sam_points)
        self.sam_box = QGraphicsRectItem()
        self.sam_box.setPen(cosmetic_pen("#39d353", 1.5, Qt.DashLine))
        self.sam_box.setZValue(44)
        self.sam_box.hide()
        self.view.addItem(self.sam_box)
        self.interaction = InteractionItem(self)
        self.view.addItem(self.interaction)
        sam.preview_changed.connect(self._show_sam)

        self.editor: LabelEditor | None = None
        self.tool: Tool | None = None
        self.brush_radius = 12.0
        self.active_label: str | None = None
        self.colours: dict[str, str] = {}
        self.visible: set[str] | None = None
        self.selected: set[int] = set()
        self.erase_all = False
        self.sam_as_polygon = False
        self._hw = (1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.panel)

    # -- content ----------------------------------------------------------------------------------
    def bounds(self) -> QRectF:
        h, w = self._hw
        return QRectF(0, 0, w, h)

    def pixel_size(self) -> tuple[float, float]:
        return 1.0, 1.0

    def set_image(self, array: np.ndarray, title: str, subtitle: str = "", badge: str = "") -> None:
        self.interaction.prepareGeometryChange()
        self._hw = tuple(int(v) for v in array.shape[:2])
        self.panel.set_image(array, keep_view=True)
        self.panel.set_title(title, subtitle, badge)

    def set_editor(self, editor: LabelEditor | None) -> None:
        if self.editor is not None:
            self.editor.unsubscribe(self._on_edit)
        self.editor = editor
        self.selected = set()
        if self.tool is not None:
            self.tool.cancel()
        if editor is not None:
            editor.subscribe(self._on_edit)
        self.layer.clear()
        self.render()
        self.selection_changed.emit()

    def set_classes(self, colours: dict[str, str], active: str | None, visible: set[str] | None) -> None:
        self.colours, self.active_label, self.visible = dict(colours), active, visible
        if self.tool is not None:
            self.tool.refresh()
        self.render()

    def set_tool(self, name: str | None) -> None:
        if self.tool is not None:
            self.tool.deactivate()
        self.tool = TOOLS[name]() if name else None
        if self.tool is not None:
            self.tool.activate(self)
        if name != "sam":
            self.sam.clear()
        self.view.setCursor(Qt.ArrowCursor if name in (None, "select") else Qt.CrossCursor)

    def set_brush_radius(self, radius: float) -> None:
        self.brush_radius = float(max(0.5, radius))
        if self.tool is not None:
            self.tool.refresh()

    def render(self) -> None:
        if self.editor is None:
            self.layer.clear()
            return
        self.layer.show_shapes(self.editor.shapes, self.editor.height, self.editor.width, self.colours, self.visible, self.selected)

    def _on_edit(self, text: str) -> None:
        n = len(self.editor.shapes)
        if text.startswith(("Undo", "Redo")):
            self.selected = set()
        self.selected = {i for i in self.selected if i < n}
        self.render()
        self.selection_changed.emit()

    # -- host API for tools -----------------------------------------------------------------------
    def active_colour(self) -> str:
        return colour_for(self.active_label or "", self.colours)

    def notify(self, text: str) -> None:
        self.message.emit(text)

    def _need(self) -> bool:
        if self.editor is None:
            return False
        if not self.active_label:
            self.message.emit("Choose a class first")
            return False
        return True

    def apply_stroke(self, points, erase: bool) -> None:
        if self.editor is None:
            return
        region = stroke_region(points, self.brush_radius, self.editor.height, self.editor.width)
        if erase:
            labels = None if self.erase_all else {self.active_label}
            if not self.editor.erase(region, labels):
                self.message.emit("Nothing to erase here" + ("" if self.erase_all else f" in '{self.active_label}'"))
        elif self._need():
            self.editor.paint(self.active_label, region)

    def add_polygon(self, points) -> None:
        if self._need():
            self.editor.add_shape(Shape(self.active_label, [view_to_label(x, y) for x, y in points]), "Add polygon")

    def add_rectangle(self, p0, p1) -> None:
        if self._need():
            self.editor.add_shape(
                Shape(self.active_label, [view_to_label(*p0), view_to_label(*p1)], shape_type="rectangle"), "Add rectangle"
            )

    def fill_at(self, x, y) -> None:
        if self._need() and not self.editor.fill_at(self.active_label, x, y):
            self.message.emit(f"Not inside a closed contour of '{self.active_label}'")

    def select_at(self, x, y, extend: bool = False) -> None:
        if self.editor is None:
            return
        hit = self.editor.shape_at(x, y, self.visible)
        if hit is None:
            if not extend:
                self.selected = set()
        elif extend:
            self.selected ^= {hit}
        else:
            self.selected = {hit}
        self.render()
        self.selection_changed.emit()

    def set_selection(self, indices) -> None:
        self.selected = set(indices)
        self.render()
        self.selection_changed.emit()

    def selection_contains(self, x, y) -> bool:
        if self.editor is None or not self.selected:
            return False
        hit = self.editor.shape_at(x, y, self.visible)
        return hit in self.selected

    def preview_move(self, dx: float, dy: float) -> None:
        self.layer.selection.setPos(dx, dy)

    def move_selection(self, dx: float, dy: float) -> None:
        if self.editor is not None and self.selected and (dx or dy):
            keep = set(self.selected)
            self.editor.move(keep, dx, dy)
            self.selected = keep
            self.render()

    def delete_selection(self) -> None:
        if self.editor is not None and self.selected:
            self.editor.remove(self.selected)
            self.selected = set()
            self.selection_changed.emit()

    def relabel_selection(self, label: str) -> None:
        if self.editor is not None and self.selected:
            keep = set(self.selected)
            self.editor.set_label(keep, label)
            self.selected = keep
            self.render()

    def convert_selection(self, to: str) -> None:
        if self.editor is not None and self.selected:
            self.editor.convert(self.selected, to)
            self.selected = set()
            self.selection_changed.emit()

    # -- SAM ----------------------------------------------------------------------------------------
    def sam_activated(self) -> None:
        self.sam.ensure_embedding()

    def sam_point(self, x, y, positive: bool) -> None:
        self.sam.add_point(x, y, positive)
        self._draw_prompts()

    def sam_box(self, p0, p1) -> None:
        self.sam.set_box(p0[0], p0[1], p1[0], p1[1])
        self._draw_prompts()

    def sam_accept(self) -> None:
        res = self.sam.result
        if res is None or not res.mask.any():
            self.message.emit("No SAM mask to accept yet")
            return
        if not self._need():
            return
        shapes = mask_to_shapes(self.active_label, res.mask, as_polygon=self.sam_as_polygon, description="SAM")
        self.editor.add_shapes(shapes, "SAM mask")
        self.sam.clear()
        self._draw_prompts()

    def sam_clear(self) -> None:
        self.sam.clear()
        self._draw_prompts()

    def _draw_prompts(self) -> None:
        p = self.sam.prompts
        if p.points:
            a = np.asarray(p.points, float)
            brushes = [brush_for("#39d353" if lab else "#e5534b") for lab in p.labels]
            symbols = ["o" if lab else "x" for lab in p.labels]
            self.sam_points.setData(a[:, 0], a[:, 1], brush=brushes, symbol=symbols)
        else:
            self.sam_points.setData([], [])
        if p.box is not None:
            x0, y0, x1, y1 = p.box
            self.sam_box.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            self.sam_box.show()
        else:
            self.sam_box.hide()

    def _show_sam(self, result: SamResult | None) -> None:
        if result is None or not result.mask.any():
            self.sam_fill.clear()
            self._draw_prompts()
            return
        ys, xs = np.nonzero(result.mask)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        crop = result.mask[y0:y1, x0:x1]
        rgba = np.zeros(crop.shape + (4,), np.uint8)
        rgba[crop] = (*hex_rgb(self.active_colour()), 255)
        edge = (
            crop & ~np.pad(crop, 1)[2:, 1:-1]
            | crop & ~np.pad(crop, 1)[:-2, 1:-1]
            | crop & ~np.pad(crop, 1)[1:-1, 2:]
            | crop & ~np.pad(crop, 1)[1:-1, :-2]
        )
        rgba[edge] = (255, 255, 255, 255)
        self.sam_fill.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.sam_fill.setRect(float(x0), float(y0), float(x1 - x0), float(y1 - y0))
        self._draw_prompts()
