"""MRI labelling: the three-plane volume view with a label overlay per plane and the drawing tools
working slice by slice in any plane. Labels live in the scan's voxel grid; every display pixel
maps back to exactly one voxel (core.labels.planes)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QGraphicsRectItem

from app.editing.interaction import InteractionItem
from app.editing.sam_assist import SamAssist, SamResult
from app.editing.tools import TOOLS, cosmetic_pen
from app.viewers.label_layer import LabelLayer, brush_for, hex_rgb, make_lut
from app.viewers.volume_view import _AXIS, PLANES, VolumeView, plane_image
from core.hashing import array_sha256
from core.labels.raster import Region, polygon_region, stroke_region
from core.labels.shapes import view_to_label

VOLUME_TOOLS = ("select", "brush", "eraser", "fill", "polygon", "rectangle", "sam")


class PlaneHost:
    """Tool host for one plane of the volume view (view units are millimetres)."""

    supports_selection = False

    def __init__(self, owner: EditableVolumeView, plane: str):
        self.owner, self.plane = owner, plane
        self.view = owner.panels[plane].view

    # geometry
    def pixel_size(self) -> tuple[float, float]:
        sx, sy, sz = self.owner.spacing
        return {"axial": (sx, sy), "coronal": (sx, sz), "sagittal": (sy, sz)}[self.plane]

    def bounds(self) -> QRectF:
        if self.owner.ras is None:
            return QRectF()
        return QRectF(*self.owner.plane_rect(self.plane))

    def hw(self) -> tuple[int, int]:
        nx, ny, nz = self.owner.ras.shape
        return {"axial": (ny, nx), "coronal": (nz, nx), "sagittal": (nz, ny)}[self.plane]

    def to_px(self, x: float, y: float) -> tuple[float, float]:
        cw, rh = self.pixel_size()
        return x / cw, y / rh

    def index(self) -> int:
        return self.owner.pos[_AXIS[self.plane]]

    @property
    def brush_radius(self) -> float:
        return self.owner.brush_radius

    def active_colour(self) -> str:
        return self.owner.active_colour()

    def notify(self, text: str) -> None:
        self.owner.notify(text)

    def _ready(self) -> bool:
        if self.owner.editor is None:
            return False
        if not self.owner.active_id:
            self.notify("Choose a class first")
            return False
        return True

    # edits
    def apply_stroke(self, points, erase: bool) -> None:
        if self.owner.editor is None:
            return
        h, w = self.hw()
        region = stroke_region([self.to_px(x, y) for x, y in points], self.owner.brush_radius, h, w)
        ed, idx = self.owner.editor, self.index()
        if erase:
            ids = None if self.owner.erase_all else [self.owner.active_id]
            if not ed.erase(self.plane, idx, region, ids):
                self.notify("Nothing to erase here")
        elif self._ready():
            ed.paint(self.plane, idx, region, self.owner.active_id)

    def _paint_polygon(self, pts_px, text: str) -> None:
        h, w = self.hw()
        region = polygon_region([view_to_label(x, y) for x, y in pts_px], h, w)
        if region is not None:
            self.owner.editor.paint(self.plane, self.index(), region, self.owner.active_id, text=text)

    def add_polygon(self, points) -> None:
        if self._ready():
            self._paint_polygon([self.to_px(x, y) for x, y in points], "Polygon")

    def add_rectangle(self, p0, p1) -> None:
        if self._ready():
            (x0, y0), (x1, y1) = self.to_px(*p0), self.to_px(*p1)
            self._paint_polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], "Rectangle")

    def fill_at(self, x, y) -> None:
        if self._ready():
            px, py = self.to_px(x, y)
            if not self.owner.editor.fill_at(self.plane, self.index(), self.owner.active_id, px, py):
                self.notify("Not inside a closed contour of the active class in this slice")

    def select_at(self, x, y, extend=False) -> None:
        self.owner.click_to_position(self.plane, x, y)

    def selection_contains(self, x, y) -> bool:
        return False

    def preview_move(self, dx, dy) -> None: ...
    def move_selection(self, dx, dy) -> None: ...

    # SAM on the displayed slice
    def sam_activated(self) -> None:
        self.owner.sam_attach(self.plane)

    def sam_point(self, x, y, positive: bool) -> None:
        self.owner.sam_attach(self.plane)
        self.owner.sam.add_point(*self.to_px(x, y), positive)
        self.owner.draw_sam_prompts()

    def sam_box(self, p0, p1) -> None:
        self.owner.sam_attach(self.plane)
        (x0, y0), (x1, y1) = self.to_px(*p0), self.to_px(*p1)
        self.owner.sam.set_box(x0, y0, x1, y1)
        self.owner.draw_sam_prompts()

    def sam_accept(self) -> None:
        self.owner.sam_accept()

    def sam_clear(self) -> None:
        self.owner.sam.clear()
        self.owner.draw_sam_prompts()


class EditableVolumeView(VolumeView):
    """VolumeView + label overlays and tools on each plane."""

    def __init__(self, sam: SamAssist, parent=None):
        super().__init__(parent)
        self.sam = sam
        self.editor = None
        self.brush_radius = 3.0
        self.active_id: int | None = None
        self.colours_by_id: dict[int, str] = {}
        self.visible_ids: set[int] | None = None
        self.erase_all = False
        self.tool = None
        self.tool_name: str | None = None
        self.tool_plane: str | None = None
        self.notify = lambda text: None
        self.layers: dict[str, LabelLayer] = {}
        self.hosts: dict[str, PlaneHost] = {}
        self.sam_plane: str | None = None
        self._sam_items: dict[str, tuple] = {}
        self._items: dict[str, InteractionItem] = {}
        for plane in PLANES:
            view = self.panels[plane].view
            self.layers[plane] = LabelLayer(view)
            host = PlaneHost(self, plane)
            self.hosts[plane] = host
            item = InteractionItem(_PlaneDispatcher(self, plane))
            view.addItem(item)
            self._items[plane] = item
            fill = pg.ImageItem()
            fill.setZValue(35)
            fill.setOpacity(0.55)
            pts = pg.ScatterPlotItem(size=10, pen=pg.mkPen("#ffffff", width=1.5))
            pts.setZValue(45)
            box = QGraphicsRectItem()
            box.setPen(cosmetic_pen("#39d353", 1.5, Qt.DashLine))
            box.hide()
            for it in (fill, pts, box):
                view.addItem(it)
            self._sam_items[plane] = (fill, pts, box)
        sam.preview_changed.connect(self._show_sam)

    # -- content --------------------------------------------------------------------------------
    def set_volume(self, data, affine, title: str = "") -> None:
        for item in getattr(self, "_items", {}).values():
            item.prepareGeometryChange()
        super().set_volume(data, affine, title)

    def plane_rect(self, plane: str) -> tuple[float, float, float, float]:
        """(x, y, w, h) of ``plane``'s image in view units (millimetres)."""
        return self._plane_rect(plane)

    def set_editor(self, editor) -> None:
        if self.editor is not None:
            self.editor.unsubscribe(self._on_edit)
        self.editor = editor
        if editor is not None:
            editor.subscribe(self._on_edit)
        self.render_labels()

    def _on_edit(self, _text: str) -> None:
        self.render_labels()

    def _render(self, plane: str, reset: bool = False) -> None:
        super()._render(plane, reset)
        if self.sam_plane == plane and self.sam.image is not None and self.tool_name == "sam":
            self.sam_attach(plane, compute=False)  # the slice changed under the SAM prompts
        self._render_label(plane)

    def _render_label(self, plane: str) -> None:
        if self.editor is None or self.ras is None or not hasattr(self, "layers"):
            return
        lut = make_lut(self.colours_by_id, self.visible_ids)
        idx = self.pos[_AXIS[plane]]
        self.layers[plane].show_index(self.editor.plane_labels(plane, idx), lut, self._plane_rect(plane))

    def render_labels(self) -> None:
        for plane in PLANES:
            self._render_label(plane)

    def set_classes(self, colours_by_id: dict[int, str], active_id: int | None, visible_ids: set[int] | None) -> None:
        self.colours_by_id, self.active_id, self.visible_ids = dict(colours_by_id), active_id, visible_ids
        if self.tool is not None:
            self.tool.refresh()
        self.render_labels()

    def active_colour(self) -> str:
        return self.colours_by_id.get(self.active_id or 0, "#ff0000")

    def set_tool(self, name: str | None) -> None:
        self.tool_name = name
        if self.tool is not None:
            self.tool.deactivate()
        self.tool, self.tool_plane = None, None
        if name != "sam":
            self.sam.clear()
            self.draw_sam_prompts()

    def tool_for(self, plane: str):
        """The tool instance lives on the plane the pointer is in."""
        if self.tool_name is None:
            return None
        if self.tool_plane != plane:
            if self.tool is not None:
                self.tool.deactivate()
            self.tool = TOOLS[self.tool_name]()
            self.tool.activate(self.hosts[plane])
            self.tool_plane = plane
        return self.tool

    def set_brush_radius(self, r: float) -> None:
        self.brush_radius = float(max(0.5, r))
        if self.tool is not None:
            self.tool.refresh()

    def _on_click(self, plane: str, ev) -> None:
        if self.tool_name in (None, "select"):
            super()._on_click(plane, ev)

    def click_to_position(self, plane: str, x: float, y: float) -> None:
        sx, sy, sz = self.spacing
        nx, ny, nz = self.ras.shape
        px, py, pz = self.pos
        if plane == "axial":
            px, py = nx - 1 - int(x / sx), ny - 1 - int(y / sy)
        elif plane == "coronal":
            px, pz = nx - 1 - int(x / sx), nz - 1 - int(y / sz)
        else:
            py, pz = ny - 1 - int(x / sy), nz - 1 - int(y / sz)
        self.set_position(px, py, pz)

    # -- SAM on a slice ---------------------------------------------------------------------------
    def sam_attach(self, plane: str, compute: bool = True) -> None:
        if self.ras is None:
            return
        img = np.ascontiguousarray(plane_image(self.ras, plane, self.pos[_AXIS[plane]]))
        sha = array_sha256(img)
        if self.sam_plane != plane or self.sam.sha != sha:
            self.sam_plane = plane
            self.sam.set_image(img, sha)
            self.draw_sam_prompts()
        if compute:
            self.sam.ensure_embedding()
        else:
            self.sam.prefetch()  # the slice the prompts moved to, ready (lowest priority) before the next click

    def draw_sam_prompts(self) -> None:
        for plane, (fill, pts, box) in self._sam_items.items():
            p = self.sam.prompts
            if plane != self.sam_plane or p.empty():
                pts.setData([], [])
                box.hide()
                if plane != self.sam_plane or self.sam.result is None:
                    fill.clear()
                continue
            cw, rh = self.hosts[plane].pixel_size()
            if p.points:
                a = np.asarray(p.points, float)
                pts.setData(a[:, 0] * cw, a[:, 1] * rh, brush=[brush_for("#39d353" if lab else "#e5534b") for lab in p.labels])
            else:
                pts.setData([], [])
            if p.box is not None:
                x0, y0, x1, y1 = p.box
                box.setRect(QRectF(x0 * cw, y0 * rh, (x1 - x0) * cw, (y1 - y0) * rh))
                box.show()
            else:
                box.hide()

    def _show_sam(self, result: SamResult | None) -> None:
        for plane, (fill, _pts, _box) in self._sam_items.items():
            if result is None or plane != self.sam_plane or not result.mask.any():
                fill.clear()
                continue
            rgba = np.zeros(result.mask.shape + (4,), np.uint8)
            rgba[result.mask] = (*hex_rgb(self.active_colour()), 255)
            fill.setImage(rgba, autoLevels=False, levels=(0, 255))
            fill.setRect(*self._plane_rect(plane))
        self.draw_sam_prompts()

    def sam_accept(self) -> None:
        res = self.sam.result
        if res is None or self.editor is None or self.sam_plane is None or not self.active_id:
            self.notify("No SAM mask to accept yet")
            return
        self.editor.paint(self.sam_plane, self.pos[_AXIS[self.sam_plane]], Region(res.mask, 0, 0), self.active_id, text="SAM mask")
        self.sam.clear()
        self.draw_sam_prompts()


class _PlaneDispatcher:
    """Gives a plane's InteractionItem its bounds and the tool for that plane."""

    def __init__(self, owner: EditableVolumeView, plane: str):
        self.owner, self.plane = owner, plane

    @property
    def tool(self):
        if self.owner.tool_name in (None, "select"):
            return None  # navigation: clicks move the crosshair, drags pan
        return self.owner.tool_for(self.plane)

    def bounds(self) -> QRectF:
        return self.owner.hosts[self.plane].bounds()
