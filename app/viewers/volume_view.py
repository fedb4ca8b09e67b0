"""MRI volume: axial, coronal and sagittal views with slice sliders, wheel scrolling, a linked
crosshair, window/level presets, and voxel spacing respected (physical aspect ratio).

Display follows the radiological convention (patient's right on the screen's left). The volume is
reoriented to RAS for display only; the data and labels stay in the scan's own voxel grid.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from app.viewers.image_panel import ImagePanel
from core.labels.planes import plane_image, to_ras  # noqa: F401 - one definition, shared with label editing

PLANES = ("axial", "coronal", "sagittal")
_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}


class VolumeView(QWidget):
    position_changed = Signal(int, int, int)   # RAS voxel indices

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.panels: dict[str, ImagePanel] = {}
        self.sliders: dict[str, QSlider] = {}
        self.lines: dict[str, tuple[pg.InfiniteLine, pg.InfiniteLine]] = {}
        self.layers: dict[str, pg.ImageItem] = {}          # model heatmap / mask overlay per plane
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        for i, plane in enumerate(PLANES):
            panel = ImagePanel(plane.capitalize())
            slider = QSlider(Qt.Horizontal)
            slider.valueChanged.connect(lambda v, p=plane: self._on_slider(p, v))
            box = QVBoxLayout()
            box.setSpacing(2)
            box.addWidget(panel, 1)
            box.addWidget(slider)
            holder = QWidget()
            holder.setLayout(box)
            grid.addWidget(holder, 0, i)
            self.panels[plane], self.sliders[plane] = panel, slider
            pen = pg.mkPen("#39d353", width=1)
            v, h = pg.InfiniteLine(angle=90, pen=pen), pg.InfiniteLine(angle=0, pen=pen)
            panel.view.addItem(v)
            panel.view.addItem(h)
            self.lines[plane] = (v, h)
            layer = pg.ImageItem()
            layer.setZValue(5)
            panel.view.addItem(layer)
            self.layers[plane] = layer
            panel.graphics.scene().sigMouseClicked.connect(lambda ev, p=plane: self._on_click(p, ev))
            panel.graphics.wheelEvent = lambda ev, p=plane: self._on_wheel(p, ev)  # wheel scrolls slices

        self.preset = QComboBox()
        self.preset.addItems(["Brain", "Full range"])
        self.preset.currentTextChanged.connect(lambda _t: self._apply_levels())
        self.info = QLabel("")
        self.info.setObjectName("muted")
        self.show_heat = QCheckBox("Heatmap")
        self.show_mask = QCheckBox("Mask")
        for box in (self.show_heat, self.show_mask):
            box.setChecked(True)
            box.setEnabled(False)
            box.toggled.connect(lambda _on: self._render_all())
        self.result_label = QLabel("")
        bar = QHBoxLayout()
        bar.setContentsMargins(8, 2, 8, 2)
        bar.addWidget(QLabel("Window"))
        bar.addWidget(self.preset)
        bar.addWidget(self.show_heat)
        bar.addWidget(self.show_mask)
        bar.addWidget(self.result_label)
        bar.addStretch(1)
        bar.addWidget(self.info)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid, 1)
        layout.addLayout(bar)

        self.ras: np.ndarray | None = None
        self.heat_ras: np.ndarray | None = None
        self.mask_ras: np.ndarray | None = None
        self._heat_levels = (0.0, 1.0)
        self.spacing = np.ones(3)
        self.pos = [0, 0, 0]
        self._levels: dict[str, tuple[float, float]] = {}

    def set_volume(self, data: np.ndarray, affine: np.ndarray, title: str = "") -> None:
        self.ras, self.ornt, self.spacing = to_ras(np.asarray(data, dtype=np.float32), np.asarray(affine, float))
        shape = self.ras.shape
        brain = self.ras[self.ras > 0]
        hi = float(np.percentile(brain, 99.5)) if brain.size else float(self.ras.max() or 1)
        self._levels = {"Brain": (0.0, hi), "Full range": (float(self.ras.min()), float(self.ras.max()) or 1.0)}
        self.pos = [s // 2 for s in shape]
        for plane in PLANES:
            s = self.sliders[plane]
            s.blockSignals(True)
            s.setRange(0, shape[_AXIS[plane]] - 1)
            s.setValue(self.pos[_AXIS[plane]])
            s.blockSignals(False)
        self.info.setText(f"{title}  {shape[0]}x{shape[1]}x{shape[2]} voxels, "
                          f"{self.spacing[0]:.2g}x{self.spacing[1]:.2g}x{self.spacing[2]:.2g} mm")
        self.heat_ras = self.mask_ras = None
        self.result_label.setText("")
        for box in (self.show_heat, self.show_mask):
            box.setEnabled(False)
        self._render_all(reset=True)

    def set_overlay(self, heatmap: np.ndarray | None, mask: np.ndarray | None, level: float = 3.0, text: str = "") -> None:
        """A model's heatmap (drawn from ``level`` up) and mask on the volume's voxel grid."""
        import nibabel as nib

        if self.ras is None:
            return
        self.heat_ras = None if heatmap is None else nib.orientations.apply_orientation(np.asarray(heatmap, np.float32), self.ornt)
        self.mask_ras = None if mask is None else nib.orientations.apply_orientation(np.asarray(mask, bool), self.ornt)
        if self.heat_ras is not None:
            hi = float(np.nanmax(self.heat_ras)) if self.heat_ras.size else level
            self._heat_levels = (float(level), max(hi, float(level) + 1e-3))
        self.show_heat.setEnabled(self.heat_ras is not None)
        self.show_mask.setEnabled(self.mask_ras is not None)
        self.result_label.setText(text)
        self._render_all()

    def _overlay_rgba(self, plane: str, idx: int) -> np.ndarray | None:
        shape = None
        rgba = None
        if self.heat_ras is not None and self.show_heat.isChecked():
            heat = plane_image(self.heat_ras, plane, idx)
            lo, hi = self._heat_levels
            t = np.clip((heat - lo) / (hi - lo), 0.0, 1.0)
            shape = heat.shape
            rgba = np.zeros(shape + (4,), np.uint8)
            rgba[..., 0] = 255
            rgba[..., 1] = (t * 200).astype(np.uint8)
            rgba[..., 2] = 40
            rgba[..., 3] = np.where(heat >= lo, 70 + t * 130, 0).astype(np.uint8)
        if self.mask_ras is not None and self.show_mask.isChecked():
            m = plane_image(self.mask_ras, plane, idx)
            if rgba is None:
                rgba = np.zeros(m.shape + (4,), np.uint8)
            edge = m & ~(np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1))
            rgba[edge] = (64, 224, 255, 255)                  # the mask outline, cyan
        return rgba

    def _plane_rect(self, plane: str) -> tuple[float, float, float, float]:
        sx, sy, sz = self.spacing
        nx, ny, nz = self.ras.shape
        w, h = {"axial": (nx * sx, ny * sy), "coronal": (nx * sx, nz * sz), "sagittal": (ny * sy, nz * sz)}[plane]
        return (0.0, 0.0, float(w), float(h))

    def _render(self, plane: str, reset: bool = False) -> None:
        if self.ras is None:
            return
        idx = self.pos[_AXIS[plane]]
        img = plane_image(self.ras, plane, idx)
        panel = self.panels[plane]
        panel.set_image(img, levels=self._levels.get(self.preset.currentText()), rect=self._plane_rect(plane), keep_view=not reset)
        panel.set_title(plane.capitalize(), f"slice {idx + 1}/{self.ras.shape[_AXIS[plane]]}")
        rgba = self._overlay_rgba(plane, idx)
        layer = self.layers[plane]
        if rgba is None:
            layer.clear()
        else:
            layer.setImage(rgba, autoLevels=False)
            layer.setRect(*self._plane_rect(plane))
        self._update_crosshair(plane)

    def _render_all(self, reset: bool = False) -> None:
        for plane in PLANES:
            self._render(plane, reset)

    def _update_crosshair(self, plane: str) -> None:
        sx, sy, sz = self.spacing
        nx, ny, nz = self.ras.shape
        x, y, z = self.pos
        # screen coordinates (mm) of the two in-plane axes after the [::-1, ::-1].T display flip
        col, row = {"axial": ((nx - 1 - x + 0.5) * sx, (ny - 1 - y + 0.5) * sy),
                    "coronal": ((nx - 1 - x + 0.5) * sx, (nz - 1 - z + 0.5) * sz),
                    "sagittal": ((ny - 1 - y + 0.5) * sy, (nz - 1 - z + 0.5) * sz)}[plane]
        v, h = self.lines[plane]
        v.setPos(col)
        h.setPos(row)

    def _apply_levels(self) -> None:
        lv = self._levels.get(self.preset.currentText())
        if lv:
            for panel in self.panels.values():
                panel.set_levels(*lv)

    def set_position(self, x: int, y: int, z: int) -> None:
        if self.ras is None:
            return
        shape = self.ras.shape
        self.pos = [int(np.clip(v, 0, s - 1)) for v, s in zip((x, y, z), shape)]
        for plane in PLANES:
            s = self.sliders[plane]
            s.blockSignals(True)
            s.setValue(self.pos[_AXIS[plane]])
            s.blockSignals(False)
        self._render_all()
        self.position_changed.emit(*self.pos)

    def _on_slider(self, plane: str, value: int) -> None:
        pos = list(self.pos)
        pos[_AXIS[plane]] = value
        self.set_position(*pos)

    def _on_wheel(self, plane: str, ev) -> None:
        step = 1 if ev.angleDelta().y() > 0 else -1
        self.sliders[plane].setValue(self.sliders[plane].value() + step)
        ev.accept()

    def _on_click(self, plane: str, ev) -> None:
        if self.ras is None or ev.button() != Qt.LeftButton:
            return
        p = self.panels[plane].view.mapSceneToView(ev.scenePos())
        sx, sy, sz = self.spacing
        nx, ny, nz = self.ras.shape
        col, row = p.x(), p.y()
        x, y, z = self.pos
        if plane == "axial":
            x, y = nx - 1 - int(col / sx), ny - 1 - int(row / sy)
        elif plane == "coronal":
            x, z = nx - 1 - int(col / sx), nz - 1 - int(row / sz)
        else:
            y, z = ny - 1 - int(col / sy), nz - 1 - int(row / sz)
        self.set_position(x, y, z)
