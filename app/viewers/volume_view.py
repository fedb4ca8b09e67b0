"""MRI volume: axial, coronal and sagittal views with slice sliders, wheel scrolling, a linked
crosshair, window/level presets, and voxel spacing respected (physical aspect ratio).

Display follows the radiological convention (patient's right on the screen's left). The volume is
reoriented to RAS for display only; the data and labels stay in the scan's own voxel grid.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGraphicsItem, QGridLayout, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from app.state.overlays import CaseOverlay, OverlaySettings
from app.viewers.image_panel import ImagePanel
from app.viewers.overlays import OverlayLayers
from app.viewers.window_level import WindowLevelTool
from core.labels.planes import plane_image, to_ras  # noqa: F401 - one definition, shared with label editing

PLANES = ("axial", "coronal", "sagittal")
_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}
_CELL = {"axial": (0, 0), "coronal": (0, 1), "sagittal": (1, 0)}  # 2 x 2 grid; the 4th cell: readout


class VolumeView(QWidget):
    position_changed = Signal(int, int, int)  # RAS voxel indices

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.panels: dict[str, ImagePanel] = {}
        self.sliders: dict[str, QSlider] = {}
        self.lines: dict[str, tuple[pg.InfiniteLine, pg.InfiniteLine]] = {}
        self.overlays: dict[str, OverlayLayers] = {}
        self.window_level: dict[str, WindowLevelTool] = {}
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        for _i, plane in enumerate(PLANES):
            panel = ImagePanel(plane.capitalize())
            slider = QSlider(Qt.Horizontal)
            slider.valueChanged.connect(lambda v, p=plane: self._on_slider(p, v))
            box = QVBoxLayout()
            box.setSpacing(2)
            box.addWidget(panel, 1)
            box.addWidget(slider)
            holder = QWidget()
            holder.setLayout(box)
            grid.addWidget(holder, *_CELL[plane])
            self.panels[plane], self.sliders[plane] = panel, slider
            pen = pg.mkPen("#39d353", width=1)
            v, h = pg.InfiniteLine(angle=90, pen=pen), pg.InfiniteLine(angle=0, pen=pen)
            panel.view.addItem(v)
            panel.view.addItem(h)
            self.lines[plane] = (v, h)
            panel.graphics.scene().sigMouseClicked.connect(lambda ev, p=plane: self._on_click(p, ev))
            panel.graphics.wheelEvent = lambda ev, p=plane: self._on_wheel(p, ev)  # wheel scrolls slices
            panel.image_item.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
            self.overlays[plane] = OverlayLayers(panel.view)
            self.window_level[plane] = WindowLevelTool(panel, on_change=self._on_window_level)

        self.preset = QComboBox()
        self.preset.addItems(["Brain", "Full range", "Custom"])
        self.preset.currentTextChanged.connect(lambda _t: self._apply_levels())
        self.preset.setToolTip("Window / level preset (right-drag in any view for a custom window)")
        self.info = QLabel("")
        self.info.setObjectName("muted")
        self.info.setWordWrap(True)
        self.readout = QLabel("")
        self.readout.setTextFormat(Qt.RichText)
        self.readout.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        title = QLabel("Volume")
        title.setObjectName("title")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Window"))
        bar.addWidget(self.preset, 1)
        cell = QVBoxLayout()
        cell.setContentsMargins(12, 8, 12, 8)
        cell.setSpacing(8)
        cell.addWidget(title)
        cell.addWidget(self.info)
        cell.addLayout(bar)
        cell.addWidget(self.readout)
        cell.addStretch(1)
        hint = QLabel("Wheel: slice · click: crosshair · right-drag: window/level · left-drag: pan")
        hint.setObjectName("muted")
        hint.setWordWrap(True)
        cell.addWidget(hint)
        readout_panel = QWidget()
        readout_panel.setObjectName("panel")
        readout_panel.setLayout(cell)
        grid.addWidget(readout_panel, 1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid, 1)

        self.ras: np.ndarray | None = None
        self.spacing = np.ones(3)
        self.pos = [0, 0, 0]
        self._levels: dict[str, tuple[float, float]] = {}
        self.overlay_settings = OverlaySettings()
        self.result: CaseOverlay | None = None
        self.case_id: str | None = None
        self._heat_ras: np.ndarray | None = None
        self._mask_ras: np.ndarray | None = None

    def set_volume(self, data: np.ndarray, affine: np.ndarray, title: str = "", case_id: str | None = None) -> None:
        import nibabel as nib

        self.ras, self.ornt, self.spacing = to_ras(np.asarray(data, dtype=np.float32), np.asarray(affine, float))
        self.affine = np.asarray(affine, float)
        self._ras_to_vox = nib.orientations.inv_ornt_aff(self.ornt, np.asarray(data).shape[:3])
        self.case_id = case_id
        self._shape = tuple(np.asarray(data).shape[:3])
        self._jumped = False
        self.result, self._heat_ras, self._mask_ras = None, None, None
        for layers in self.overlays.values():
            layers.clear()
        shape = self.ras.shape
        sample = self.ras[::2, ::2, ::2]  # percentiles on 1/8 of the voxels: same levels, 8x faster
        brain = sample[sample > 0]
        hi = float(np.percentile(brain, 99.5)) if brain.size else float(self.ras.max() or 1)
        self._levels = {"Brain": (0.0, hi), "Full range": (float(self.ras.min()), float(self.ras.max()) or 1.0)}
        if self.preset.currentText() == "Custom":
            self.preset.blockSignals(True)
            self.preset.setCurrentText("Brain")
            self.preset.blockSignals(False)
        self.pos = [s // 2 for s in shape]
        for plane in PLANES:
            s = self.sliders[plane]
            s.blockSignals(True)
            s.setRange(0, shape[_AXIS[plane]] - 1)
            s.setValue(self.pos[_AXIS[plane]])
            s.blockSignals(False)
        self.info.setText(
            f"{title}: {shape[0]} x {shape[1]} x {shape[2]} voxels of "
            f"{self.spacing[0]:.3g} x {self.spacing[1]:.3g} x {self.spacing[2]:.3g} mm (shown in RAS, radiological: "
            "patient right on screen left)"
        )
        self._render_all(reset=True)
        self._update_readout()
        for plane in PLANES:
            self.window_level[plane].image_changed(self.ras[::4, ::4, ::4].reshape(-1, 1), self._levels["Brain"])

    @property
    def heat_ras(self) -> np.ndarray | None:
        return self._heat_ras  # the shown heatmap in RAS orientation, None without a result (read-only)

    @property
    def mask_ras(self) -> np.ndarray | None:
        return self._mask_ras

    def plane_rect(self, plane: str) -> tuple[float, float, float, float]:
        """Where a plane's image lies in its panel: (x0, y0, width, height) in mm."""
        return self._plane_rect(plane)

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
        panel.set_title(plane.capitalize(), f"slice {idx + 1}/{self.ras.shape[_AXIS[plane]]}", self._slice_badge(plane))
        self._update_crosshair(plane)
        self._render_overlay(plane)

    def _slice_badge(self, plane: str) -> str:
        """The model's verdict on the shown slice when the model scores slices along this plane
        (RASALoRE): its slice score and, with classifier guidance, DDPT's P(lesion)."""
        slices = self.result.slices if self.result is not None else None
        if slices is None or not slices.scores or self.ras is None:
            return ""
        axis, scores = slices.axis, slices.scores
        ornt = np.asarray(self.ornt, int)
        src = int(np.flatnonzero(ornt[:, 0] == _AXIS[plane])[0])  # the voxel axis shown through this plane
        if src != int(axis) or len(scores) != self._shape[src]:
            return ""
        idx = self.pos[_AXIS[plane]]
        vi = self._shape[src] - 1 - idx if ornt[src, 1] < 0 else idx
        if scores[vi] is None:
            return "not scored"
        text = f"slice score {scores[vi]:.2f}"
        p = slices.p_at(vi)
        if p is not None:
            text += f" · P(lesion) {p:.2f}"
        return text

    # -- overlays ----------------------------------------------------------------------------
    def set_result(self, result: CaseOverlay | None) -> None:
        """Show a model result's 3-D heatmap / mask (reoriented like the volume); other cases' are ignored."""
        if result is not None and result.case_id != self.case_id:
            return
        self.result = result
        self._heat_ras = self._mask_ras = None
        ov = (result.images.get(result.primary_image) or next(iter(result.images.values()), None)) if result is not None else None
        if ov is not None and self.ras is not None:
            import nibabel as nib

            if ov.heatmap is not None and ov.heatmap.ndim == 3 and ov.heatmap.shape == self._shape:
                self._heat_ras = nib.orientations.apply_orientation(ov.heatmap, self.ornt).astype(np.float32)
            if ov.mask is not None and ov.mask.ndim == 3 and ov.mask.shape == self._shape:
                self._mask_ras = nib.orientations.apply_orientation(ov.mask, self.ornt)
        slices = result.slices if result is not None else None
        top, axis = (slices.top, slices.axis) if slices is not None else (None, None)
        if self._heat_ras is not None and top is not None and axis is not None and not self._jumped:
            self._jumped = True  # once per opened volume: never fight the user's navigation
            self.go_to_voxel_slice(int(axis), int(top))
            return
        for plane in PLANES:
            self._render(plane)
        self._update_readout()

    def go_to_voxel_slice(self, axis: int, index: int) -> None:
        """Move the crosshair to slice ``index`` along the scan's own voxel ``axis`` (e.g. the
        model's most anomalous slice), centred in the other two axes."""
        if self.ras is None:
            return
        centre = [s // 2 for s in self._shape]
        centre[axis] = int(np.clip(index, 0, self._shape[axis] - 1))
        ras = [0, 0, 0]
        for src, (dst, flip) in enumerate(np.asarray(self.ornt, int)):
            ras[dst] = self._shape[src] - 1 - centre[src] if flip < 0 else centre[src]
        self.set_position(*ras)

    def _render_overlay(self, plane: str) -> None:
        layers = self.overlays[plane]
        if self.ras is None or (self._heat_ras is None and self._mask_ras is None):
            layers.clear()
            return
        idx = self.pos[_AXIS[plane]]
        heat = plane_image(self._heat_ras, plane, idx) if self._heat_ras is not None else None
        mask = plane_image(self._mask_ras, plane, idx) if self._mask_ras is not None else None
        layers.set_data(heat, mask, self._plane_rect(plane), self.result.pixel_threshold, self.overlay_settings)

    def apply_overlay_settings(self, settings: OverlaySettings) -> None:
        self.overlay_settings = settings
        for layers in self.overlays.values():
            layers.apply(settings)

    def _on_window_level(self, lo: float, hi: float) -> None:
        """A drag in one plane sets the same window in all three."""
        self._levels["Custom"] = (lo, hi)
        if self.preset.currentText() != "Custom":
            self.preset.blockSignals(True)
            self.preset.setCurrentText("Custom")
            self.preset.blockSignals(False)
        for plane, panel in self.panels.items():
            panel.set_levels(lo, hi)
            self.window_level[plane].refresh_label()

    def reset_view(self) -> None:
        self.preset.setCurrentText("Brain")
        for panel in self.panels.values():
            panel.view.autoRange(padding=0.01)
        self._apply_levels()

    def _render_all(self, reset: bool = False) -> None:
        for plane in PLANES:
            self._render(plane, reset)

    def _update_crosshair(self, plane: str) -> None:
        sx, sy, sz = self.spacing
        nx, ny, nz = self.ras.shape
        x, y, z = self.pos
        # screen coordinates (mm) of the two in-plane axes after the [::-1, ::-1].T display flip
        col, row = {
            "axial": ((nx - 1 - x + 0.5) * sx, (ny - 1 - y + 0.5) * sy),
            "coronal": ((nx - 1 - x + 0.5) * sx, (nz - 1 - z + 0.5) * sz),
            "sagittal": ((ny - 1 - y + 0.5) * sy, (nz - 1 - z + 0.5) * sz),
        }[plane]
        v, h = self.lines[plane]
        v.setPos(col)
        h.setPos(row)

    def _apply_levels(self) -> None:
        lv = self._levels.get(self.preset.currentText())
        if lv:
            for plane, panel in self.panels.items():
                panel.set_levels(*lv)
                self.window_level[plane].refresh_label()

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
        self._update_readout()
        self.position_changed.emit(*self.pos)

    def world_position(self) -> tuple[np.ndarray, np.ndarray]:
        """(voxel index in the scan's own grid, scanner coordinates in mm) of the crosshair."""
        vox = (self._ras_to_vox @ np.array([*self.pos, 1.0]))[:3]
        world = (self.affine @ np.array([*vox, 1.0]))[:3]
        return vox, world

    def _update_readout(self) -> None:
        if self.ras is None:
            self.readout.setText("")
            return
        vox, world = self.world_position()
        x, y, z = self.pos
        rows = [
            ("Voxel", " , ".join(f"{v:.0f}" for v in vox)),
            ("RAS mm", " , ".join(f"{v:.1f}" for v in world)),
            ("Intensity", f"{self.ras[x, y, z]:.4g}"),
        ]
        if self._heat_ras is not None:
            rows.append(("Anomaly z", f"{self._heat_ras[x, y, z]:.2f}"))
        if self._mask_ras is not None:
            rows.append(("Mask", "yes" if self._mask_ras[x, y, z] else "no"))
        self.readout.setText(
            "<table cellspacing='2'>"
            + "".join(f"<tr><td style='color:#9aa3ad; padding-right:10px'>{k}</td><td>{v}</td></tr>" for k, v in rows)
            + "</table>"
        )

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
