"""The 2-D case view: fundus + OCT side by side with the scan line, or a single image.

A cursor on the B-scan marks the matching point on the fundus scan line. B-scan stacks get a
page slider. Each panel carries overlay layers (heatmap, iso-contour, mask) and window/level.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QLabel, QSlider, QSplitter, QVBoxLayout, QWidget

from app.state.overlays import CaseOverlay, ImageOverlay, OverlaySettings
from app.viewers.image_panel import ImagePanel
from app.viewers.overlays import OverlayLayers
from app.viewers.window_level import WindowLevelTool
from core.domain import LoadedCase, Modality


class CaseView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.fundus = ImagePanel("Fundus")
        self.oct = ImagePanel("OCT B-scan")
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(self.fundus)
        self.splitter.addWidget(self.oct)
        self.splitter.setChildrenCollapsible(False)

        self.page_slider = QSlider(Qt.Horizontal)
        self.page_slider.setMinimum(0)
        self.page_label = QLabel("")
        self.page_label.setObjectName("muted")
        pages = QHBoxLayout()
        pages.setContentsMargins(8, 0, 8, 0)
        pages.addWidget(QLabel("B-scan"))
        pages.addWidget(self.page_slider, 1)
        pages.addWidget(self.page_label)
        self.page_bar = QWidget()
        self.page_bar.setLayout(pages)
        self.page_bar.hide()
        self.page_slider.valueChanged.connect(self._show_page)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.page_bar)

        pen = pg.mkPen("#39d353", width=2)
        self.scan_line = pg.PlotCurveItem(pen=pen)
        self.scan_marker = pg.ScatterPlotItem(size=12, pen=pg.mkPen("#ffffff", width=1.5), brush=pg.mkBrush("#39d353"))
        self.fundus.view.addItem(self.scan_line)
        self.fundus.view.addItem(self.scan_marker)
        self.scan_line.setZValue(10)
        self.scan_marker.setZValue(11)
        self.oct_cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#39d353", width=1, style=Qt.DashLine))
        self.oct_cursor.hide()
        self.oct.view.addItem(self.oct_cursor)
        self.oct.mouse_moved.connect(self._on_oct_mouse)

        for panel in (self.fundus, self.oct):
            # the base image is drawn scaled once per zoom level; other repaints reuse the pixmap
            panel.image_item.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self.overlays = {"fundus": OverlayLayers(self.fundus.view), "oct": OverlayLayers(self.oct.view)}
        self.window_level = {"fundus": WindowLevelTool(self.fundus), "oct": WindowLevelTool(self.oct)}
        self.overlay_settings = OverlaySettings()
        self.result: CaseOverlay | None = None

        self.case: LoadedCase | None = None
        self._stack: np.ndarray | None = None

    # -- content ---------------------------------------------------------------------------
    def show_case(self, case: LoadedCase) -> None:
        self.case = case
        self.result = None
        for layers in self.overlays.values():
            layers.clear()
        for wl in self.window_level.values():
            wl.default = None
        fundus = self._primary(case)
        oct_img = case.first(Modality.OCT)
        self.fundus.setVisible(fundus is not None)
        self.oct.setVisible(oct_img is not None)
        self.scan_line.setData([], [])
        self.scan_marker.setData([], [])
        self.oct_cursor.hide()
        if fundus is not None:
            m = fundus.record.meta
            lat = {"L": "left eye (OS)", "R": "right eye (OD)"}.get(m.laterality or "", "")
            h, w = fundus.array.shape[:2]
            title = "Fundus" if fundus.record.modality == Modality.FUNDUS else f"2-D {fundus.record.modality.value} image"
            self.fundus.set_title(title, f"{lat}  {w}x{h}".strip(), "SYNTHETIC LESIONS" if m.synthetic else "")
            self.fundus.set_image(fundus.array)
            self.window_level["fundus"].image_changed(fundus.array)
        if oct_img is not None:
            m = oct_img.record.meta
            arr = oct_img.array
            is_stack = oct_img.record.is_stack
            self._stack = arr if is_stack else None
            self.page_bar.setVisible(is_stack)
            if is_stack:
                self.page_slider.blockSignals(True)
                self.page_slider.setMaximum(arr.shape[0] - 1)
                self.page_slider.setValue(arr.shape[0] // 2)
                self.page_slider.blockSignals(False)
                self._show_page(arr.shape[0] // 2)
            else:
                self.oct.set_image(arr)
                self.window_level["oct"].image_changed(arr)
            h, w = arr.shape[-2:] if arr.ndim in (2, 3) and not (arr.ndim == 3 and arr.shape[-1] == 3) else arr.shape[-3:-1]
            self.oct.set_title("OCT B-scan", f"{w}x{h}", "SYNTHETIC" if m.synthetic else "")
            if fundus is not None and m.scan_line is not None:
                sl = m.scan_line
                self.scan_line.setData([sl.start[0], sl.end[0]], [sl.start[1], sl.end[1]])
        else:
            self.page_bar.hide()
            self._stack = None

    def _show_page(self, page: int) -> None:
        if self._stack is None:
            return
        wl = self.window_level["oct"]
        levels = wl.levels() if wl.default is not None else None
        self.oct.set_image(self._stack[page], levels=levels, keep_view=True)
        if levels is None:
            wl.image_changed(self._stack[page])
        self.page_label.setText(f"{page + 1} / {self._stack.shape[0]}")
        self._apply_result_to("oct")

    @staticmethod
    def _primary(case: LoadedCase):
        """The image of the left panel: the fundus photo, else a plain 2-D image (e.g. a BMAD slice)."""
        return case.first(Modality.FUNDUS) or case.first(Modality.SLICE)

    # -- overlays --------------------------------------------------------------------------
    def _image_for(self, key: str):
        if self.case is None:
            return None
        return self._primary(self.case) if key == "fundus" else self.case.first(Modality.OCT)

    def set_result(self, result: CaseOverlay | None) -> None:
        """Show a model result (or none) on the case's images; ignored if it is another case's."""
        if result is not None and (self.case is None or result.case_id != self.case.id):
            return
        self.result = result
        for key in self.overlays:
            self._apply_result_to(key)

    def _image_overlay(self, key: str) -> ImageOverlay | None:
        image = self._image_for(key)
        if self.result is None or image is None:
            return None
        return self.result.images.get(image.record.name)

    def _apply_result_to(self, key: str) -> None:
        layers = self.overlays[key]
        ov = self._image_overlay(key)
        if ov is None or (ov.page is not None and self.current_page() != ov.page):
            layers.clear()
            return
        h, w = ov.hw
        heat = ov.heatmap if ov.heatmap is not None and ov.heatmap.ndim == 2 else None
        mask = ov.mask if ov.mask is not None and ov.mask.ndim == 2 else None
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

    def _on_oct_mouse(self, x: float, y: float) -> None:
        if self.case is None:
            return
        oct_img = self.case.first(Modality.OCT)
        fundus = self.case.first(Modality.FUNDUS)
        if oct_img is None or fundus is None or oct_img.record.meta.scan_line is None:
            return
        width = oct_img.array.shape[-1] if oct_img.array.ndim == 2 or self._stack is not None else oct_img.array.shape[1]
        if not 0 <= x <= width:
            self.oct_cursor.hide()
            self.scan_marker.setData([], [])
            return
        self.oct_cursor.setPos(x)
        self.oct_cursor.show()
        px, py = oct_img.record.meta.scan_line.point_at(x / max(width - 1, 1))
        self.scan_marker.setData([px], [py])
