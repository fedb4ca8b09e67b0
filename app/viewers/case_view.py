"""The 2-D case view: an en-face image (fundus photo or OCT localizer) next to the OCT B-scan, or a
single image.

A single B-scan's scan line is drawn on the fundus. An OCT volume shows the image its B-scan
positions refer to (the localizer, or the paired fundus photo) with every B-scan's line; the
current B-scan's line is highlighted. Clicking a line, the slider or the wheel over the B-scan
moves through the volume; the cursor on the B-scan marks its point on the en-face image. Each
panel carries overlay layers (heatmap, iso-contour, mask) and window/level; a volume's result
shows the current B-scan's heatmap and its en-face map over the localizer.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsItem, QSplitter, QVBoxLayout, QWidget

from app.state.overlays import CaseOverlay, ImageOverlay, OverlaySettings
from app.viewers.bscan_lines import LINE_COLOUR, BScanLines, VolumeBar
from app.viewers.image_panel import ImagePanel
from app.viewers.overlays import OverlayLayers
from app.viewers.window_level import WindowLevelTool
from core.domain import LoadedCase, LoadedImage, Modality, ScanLine


def en_face_images(case: LoadedCase) -> list[LoadedImage]:
    """Images the left panel can show: the image an OCT volume's B-scan positions refer to first,
    then the other fundus photos / localizers and 2-D slices."""
    vol = case.record.oct_volume
    anchor = case.images.get(vol.localizer_name or "") if vol is not None else None
    others = [im for im in case.images.values() if im.modality in (Modality.FUNDUS, Modality.SLICE) and im is not anchor]
    return ([anchor] if anchor is not None else []) + others


class CaseView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.fundus = ImagePanel("Fundus")
        self.oct = ImagePanel("OCT B-scan")
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(self.fundus)
        self.splitter.addWidget(self.oct)
        self.splitter.setChildrenCollapsible(False)

        self.page_bar = VolumeBar()
        self.page_bar.hide()
        self.page_slider = self.page_bar.slider
        self.page_label = self.page_bar.label
        self.page_bar.page_changed.connect(self._show_page)
        self.page_bar.enface_toggled.connect(lambda _on: self._apply_result_to("fundus"))
        self.page_bar.image_chosen.connect(self._choose_left)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.page_bar)

        self.bscan_lines = BScanLines(self.fundus.view)
        self.scan_line = pg.PlotCurveItem(pen=pg.mkPen(LINE_COLOUR, width=2.5))
        self.scan_marker = pg.ScatterPlotItem(size=12, pen=pg.mkPen("#ffffff", width=1.5), brush=pg.mkBrush(LINE_COLOUR))
        self.fundus.view.addItem(self.scan_line)
        self.fundus.view.addItem(self.scan_marker)
        self.scan_line.setZValue(25)
        self.scan_marker.setZValue(26)
        self.oct_cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(LINE_COLOUR, width=1, style=Qt.DashLine))
        self.oct_cursor.hide()
        self.oct.view.addItem(self.oct_cursor)
        self.oct.mouse_moved.connect(self._on_oct_mouse)
        self.fundus.graphics.scene().sigMouseClicked.connect(self._on_left_click)
        self._wheel_zoom = self.oct.graphics.wheelEvent
        self.oct.graphics.wheelEvent = self._on_oct_wheel  # the wheel moves through a volume; Ctrl+wheel zooms

        for panel in (self.fundus, self.oct):
            # the base image is drawn scaled once per zoom level; other repaints reuse the pixmap
            panel.image_item.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self.overlays = {"fundus": OverlayLayers(self.fundus.view), "oct": OverlayLayers(self.oct.view)}
        self.window_level = {"fundus": WindowLevelTool(self.fundus), "oct": WindowLevelTool(self.oct)}
        self.overlay_settings = OverlaySettings()
        self.result: CaseOverlay | None = None

        self.case: LoadedCase | None = None
        self.left: LoadedImage | None = None  # the en-face image shown on the left
        self._stack: np.ndarray | None = None
        self._jumped = False  # moved to the highest-scoring B-scan once for this case

    # -- content ---------------------------------------------------------------------------
    def show_case(self, case: LoadedCase) -> None:
        self.case = case
        self.result = None
        self._jumped = False
        for layers in self.overlays.values():
            layers.clear()
        for wl in self.window_level.values():
            wl.default = None
        oct_img = case.first(Modality.OCT)
        self.oct.setVisible(oct_img is not None)
        self.oct_cursor.hide()
        choices = en_face_images(case)
        self._set_left(choices[0] if choices else None)
        self.page_bar.set_images([(im.record.name, self._left_title(im)) for im in choices], self.left and self.left.record.name)
        if oct_img is not None:
            m = oct_img.record.meta
            arr = oct_img.array
            is_stack = oct_img.record.is_stack
            self._stack = arr if is_stack else None
            self.page_bar.setVisible(is_stack or len(choices) > 1)
            self.page_bar.set_volume(is_stack)
            if is_stack:
                self.page_bar.set_pages(arr.shape[0], arr.shape[0] // 2)
                self._show_page(arr.shape[0] // 2)
            else:
                self.oct.set_image(arr)
                self.window_level["oct"].image_changed(arr)
                self._draw_current_line()
            h, w = arr.shape[-2:] if arr.ndim in (2, 3) and not (arr.ndim == 3 and arr.shape[-1] == 3) else arr.shape[-3:-1]
            size = f"{arr.shape[0]} x {w}x{h}" if is_stack else f"{w}x{h}"
            self.oct.set_title("OCT volume" if is_stack else "OCT B-scan", size, "SYNTHETIC" if m.synthetic else "")
        else:
            self.page_bar.setVisible(len(choices) > 1)
            self._stack = None

    @staticmethod
    def _left_title(im: LoadedImage) -> str:
        if im.record.is_localizer:
            return "Localizer"
        return "Fundus" if im.record.modality == Modality.FUNDUS else f"2-D {im.record.modality.value} image"

    def _set_left(self, image: LoadedImage | None) -> None:
        self.left = image
        self.fundus.setVisible(image is not None)
        self.scan_line.setData([], [])
        self.scan_marker.setData([], [])
        self.bscan_lines.clear()
        if image is None:
            return
        m = image.record.meta
        lat = {"L": "left eye (OS)", "R": "right eye (OD)"}.get(m.laterality or "", "")
        h, w = image.array.shape[:2]
        lines = self._positions()
        sub = f"{lat}  {w}x{h}".strip() + (f"  ·  {len(lines)} B-scans" if lines else "")
        self.fundus.set_title(self._left_title(image), sub, "SYNTHETIC LESIONS" if m.synthetic else "")
        self.fundus.set_image(image.array)
        self.window_level["fundus"].image_changed(image.array)
        self.bscan_lines.set_positions(lines)

    def _choose_left(self, name: str) -> None:
        image = self.case.images.get(name) if self.case is not None else None
        if image is None or image is self.left:
            return
        self._set_left(image)
        self._draw_current_line()
        self._apply_result_to("fundus")

    def _oct_image(self) -> LoadedImage | None:
        return self.case.first(Modality.OCT) if self.case is not None else None

    def _positions(self) -> list[ScanLine] | None:
        """The volume's B-scan positions when the left panel shows the image they refer to."""
        oct_img = self._oct_image()
        if oct_img is None or self.left is None or not oct_img.record.bscan_positions:
            return None
        return oct_img.record.bscan_positions if oct_img.record.localizer_name == self.left.record.name else None

    def _current_line(self) -> ScanLine | None:
        """The line of the shown B-scan on the left image (a volume's, or a single B-scan's scan line)."""
        oct_img = self._oct_image()
        if oct_img is None or self.left is None:
            return None
        if oct_img.record.bscan_positions:
            return oct_img.record.scan_line_at(self.current_page()) if self._positions() else None
        return oct_img.record.meta.scan_line if self.left.record.modality == Modality.FUNDUS else None

    def _draw_current_line(self) -> None:
        sl = self._current_line()
        self.scan_line.setData(*(([sl.start[0], sl.end[0]], [sl.start[1], sl.end[1]]) if sl is not None else ([], [])))

    def _show_page(self, page: int) -> None:
        if self._stack is None:
            return
        wl = self.window_level["oct"]
        levels = wl.levels() if wl.default is not None else None
        self.oct.set_image(self._stack[page], levels=levels, keep_view=True)
        if levels is None:
            wl.image_changed(self._stack[page])
        self._update_page_label()
        self._draw_current_line()
        self.scan_marker.setData([], [])
        self._apply_result_to("oct")

    def _update_page_label(self) -> None:
        page = self.current_page()
        if self._stack is None or page is None:
            return
        slices = self.result.slices if self.result is not None else None
        top = slices.top if slices is not None and slices.plane == "bscan" else None
        score = self.result.bscan_score(page) if self.result is not None else None
        self.page_bar.show_page(page, self._stack.shape[0], score, top)

    def go_to_bscan(self, page: int) -> None:
        if self._stack is not None:
            self.page_slider.setValue(int(np.clip(page, 0, self._stack.shape[0] - 1)))

    # -- overlays --------------------------------------------------------------------------
    def _image_for(self, key: str) -> LoadedImage | None:
        return self.left if key == "fundus" else self._oct_image()

    def set_result(self, result: CaseOverlay | None) -> None:
        """Show a model result (or none) on the case's images; ignored if it is another case's."""
        if result is not None and (self.case is None or result.case_id != self.case.id):
            return
        self.result = result
        slices = result.slices if result is not None else None
        if slices is not None and slices.plane == "bscan" and slices.top is not None and not self._jumped and self._stack is not None:
            self._jumped = True  # once per opened case: never fight the user's navigation
            if self.current_page() != slices.top:
                self.go_to_bscan(slices.top)  # draws the B-scan's overlay
        self._update_page_label()
        for key in self.overlays:
            self._apply_result_to(key)

    def _image_overlay(self, key: str) -> ImageOverlay | None:
        image = self._image_for(key)
        if self.result is None or image is None:
            return None
        return self.result.images.get(image.record.name)

    def enface_shown(self) -> bool:
        """The en-face map of the result's volume is drawn on the left panel."""
        enface = self.result.enface() if self.result is not None else None
        return enface is not None and self.left is not None and enface[1] == self.left.record.name and self.page_bar.enface.isChecked()

    def _apply_result_to(self, key: str) -> None:
        layers = self.overlays[key]
        image = self._image_for(key)
        if key == "fundus":
            enface = self.result.enface() if self.result is not None else None
            self.page_bar.enface.setVisible(enface is not None and self.left is not None and enface[1] == self.left.record.name)
            if self.enface_shown() and image is not None:
                h, w = image.array.shape[:2]
                layers.set_data(enface[0], None, (0.0, 0.0, float(w), float(h)), self.result.pixel_threshold, self.overlay_settings)
                return
        ov = self._image_overlay(key)
        heat, mask = ov.page_maps(self.current_page() if key == "oct" else None) if ov is not None else (None, None)
        if heat is None and mask is None:
            layers.clear()
            return
        h, w = ov.hw
        layers.set_data(heat, mask, (0.0, 0.0, float(w), float(h)), self.result.pixel_threshold, self.overlay_settings)

    def apply_overlay_settings(self, settings: OverlaySettings) -> None:
        self.overlay_settings = settings
        for layers in self.overlays.values():
            layers.apply(settings)

    def reset_view(self) -> None:
        for key, panel in (("fundus", self.fundus), ("oct", self.oct)):
            if panel.image_item.image is not None:
                panel.view.autoRange(padding=0.01)
                self.window_level[key].reset()

    def current_page(self) -> int | None:
        return self.page_slider.value() if self._stack is not None else None

    # -- interaction -----------------------------------------------------------------------
    def _on_left_click(self, ev) -> None:
        if ev.button() != Qt.LeftButton or self._stack is None or not self.bscan_lines.line_count():
            return
        p = self.fundus.view.mapSceneToView(ev.scenePos())
        page = self.bscan_lines.pick(float(p.x()), float(p.y()))
        if page is not None:
            self.go_to_bscan(page)
            ev.accept()

    def _on_oct_wheel(self, ev) -> None:
        if self._stack is None or ev.modifiers() & Qt.ControlModifier:
            self._wheel_zoom(ev)
            return
        step = 1 if ev.angleDelta().y() > 0 else -1
        self.go_to_bscan(self.page_slider.value() + step)
        ev.accept()

    def _on_oct_mouse(self, x: float, y: float) -> None:
        oct_img = self._oct_image()
        line = self._current_line()
        if oct_img is None or line is None:
            return
        shown = self._stack[self.current_page()] if self._stack is not None else oct_img.array
        width = shown.shape[1]
        if not 0 <= x <= width:
            self.oct_cursor.hide()
            self.scan_marker.setData([], [])
            return
        self.oct_cursor.setPos(x)
        self.oct_cursor.show()
        px, py = line.point_at(x / max(width - 1, 1))
        self.scan_marker.setData([px], [py])
