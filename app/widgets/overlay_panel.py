"""The overlay panel: which layers show (each independently; T toggles all), the heatmap's
colormap, opacity and clamp range. Emits the new ``OverlaySettings`` on every change."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.state.overlays import COLORMAP_TITLES, COLORMAPS, OverlaySettings, default_clamp


class OverlayPanel(QGroupBox):
    settings_changed = Signal(object)  # OverlaySettings

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Overlays", parent)
        self.settings = OverlaySettings()
        self._pixel_threshold = 3.0
        self._available = (True, True)
        self.master = QCheckBox("All")
        self.master.setToolTip("Show or hide all overlays (T)")
        self.master.setObjectName("strong")
        self.heatmap = QCheckBox("Heatmap")
        self.heatmap.setToolTip("The model's calibrated anomaly map (H)")
        self.contour = QCheckBox("Contour")
        self.contour.setToolTip("Iso-contour of the heatmap at the model's pixel threshold")
        self.mask = QCheckBox("Mask")
        self.mask.setToolTip("Segmentation mask of the model (MIAS-SAM, RASALoRE)")
        for box in (self.master, self.heatmap, self.contour, self.mask):
            box.setChecked(True)
            box.setFocusPolicy(Qt.NoFocus)
            box.toggled.connect(self._changed)
        self.colormap = QComboBox()
        for name in COLORMAPS:
            self.colormap.addItem(COLORMAP_TITLES.get(name, name), name)
        self.colormap.setFocusPolicy(Qt.NoFocus)
        self.colormap.setToolTip("Heatmap colormap")
        self.colormap.currentIndexChanged.connect(self._changed)
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(round(self.settings.opacity * 100)))
        self.opacity.setFocusPolicy(Qt.NoFocus)
        self.opacity.setToolTip("Heatmap opacity")
        self.opacity.valueChanged.connect(self._changed)
        self.opacity_label = QLabel("")
        self.opacity_label.setObjectName("muted")
        self.opacity_label.setMinimumWidth(34)
        self.clamp_lo, self.clamp_hi = QDoubleSpinBox(), QDoubleSpinBox()
        for spin in (self.clamp_lo, self.clamp_hi):
            spin.setRange(-50.0, 200.0)
            spin.setDecimals(1)
            spin.setSingleStep(0.5)
            spin.setKeyboardTracking(False)
            spin.setToolTip("Heatmap colour range (calibrated z-score): transparent below, saturated above")
            spin.valueChanged.connect(self._clamp_edited)
        self.auto_clamp = QPushButton("Auto")
        self.auto_clamp.setToolTip("Colour range from the model's threshold")
        self.auto_clamp.setFocusPolicy(Qt.NoFocus)
        self.auto_clamp.clicked.connect(self.reset_clamp)

        toggles = QHBoxLayout()
        toggles.setSpacing(10)
        for w in (self.master, self.heatmap, self.contour, self.mask):
            toggles.addWidget(w)
        toggles.addStretch(1)
        self._toggles = toggles
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.addWidget(_muted("Colormap"), 0, 0)
        grid.addWidget(self.colormap, 0, 1, 1, 2)
        grid.addWidget(_muted("Opacity"), 1, 0)
        grid.addWidget(self.opacity, 1, 1, 1, 2)
        grid.addWidget(self.opacity_label, 1, 3)
        grid.addWidget(_muted("Range"), 2, 0)
        grid.addWidget(self.clamp_lo, 2, 1)
        grid.addWidget(self.clamp_hi, 2, 2)
        grid.addWidget(self.auto_clamp, 2, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 10, 8, 8)
        layout.setSpacing(6)
        # disabled controls must look disabled (the theme keeps checked boxes in the accent colour)
        self.setStyleSheet(
            "QCheckBox::indicator:checked:disabled { background: #3a4049; border-color: #4a515b; }"
            "QComboBox:disabled, QDoubleSpinBox:disabled { color: #6b737d; }"
        )
        self.no_result = _muted("No model result on this case: nothing to overlay")
        self.no_result.setWordWrap(True)
        self.no_result.hide()
        layout.addLayout(toggles)
        layout.addLayout(grid)
        layout.addWidget(self.no_result)
        self._show_clamp(default_clamp(self._pixel_threshold))
        self._update_labels()

    # -- model defaults ----------------------------------------------------------------------
    def set_pixel_threshold(self, pixel_threshold: float) -> None:
        """A new model: its default clamp range applies unless the user set one."""
        self._pixel_threshold = float(pixel_threshold)
        if self.settings.clamp is None:
            self._show_clamp(default_clamp(self._pixel_threshold))

    def reset_clamp(self) -> None:
        self.settings = self.settings.with_(clamp=None)
        self._show_clamp(default_clamp(self._pixel_threshold))
        self.settings_changed.emit(self.settings)

    def clamp_range(self) -> tuple[float, float]:
        return self.settings.clamp_for(self._pixel_threshold)

    def set_available(self, heatmap: bool, mask: bool = False) -> None:
        """Enable the model overlay controls only when the case has a result to show (a mask only
        when the result has one); other layers (labels) stay usable."""
        self._available = (bool(heatmap), bool(mask))
        for w in (self.colormap, self.opacity, self.clamp_lo, self.clamp_hi, self.auto_clamp):
            w.setEnabled(bool(heatmap))
        self._enable_boxes()
        self.no_result.setVisible(not heatmap and not mask)

    def set_contour_level(self, level: float) -> None:
        self.contour.setToolTip(
            f"Outline where the heatmap reaches {level:.1f} SD above normal: 99.9 % of the pixels of the normal "
            "images the model was calibrated on stay below this level"
        )

    def _enable_boxes(self) -> None:
        heat, mask = getattr(self, "_available", (True, True))
        on = self.master.isChecked()
        self.heatmap.setEnabled(on and heat)
        self.contour.setEnabled(on and heat)
        self.mask.setEnabled(on and mask)

    # -- toggles -----------------------------------------------------------------------------
    def toggle_all(self) -> None:
        self.master.toggle()

    def toggle_heatmap(self) -> None:
        self.heatmap.toggle()

    def add_layer_toggle(self, text: str, tooltip: str = "") -> QCheckBox:
        """A checkbox for another overlay layer (e.g. labels), placed with the others."""
        box = QCheckBox(text)
        box.setChecked(True)
        box.setFocusPolicy(Qt.NoFocus)
        box.setToolTip(tooltip)
        self._toggles.insertWidget(self._toggles.indexOf(self.mask) + 1, box)
        return box

    # -- internals ---------------------------------------------------------------------------
    def _show_clamp(self, rng: tuple[float, float]) -> None:
        for spin, v in ((self.clamp_lo, rng[0]), (self.clamp_hi, rng[1])):
            spin.blockSignals(True)
            spin.setValue(v)
            spin.blockSignals(False)

    def _clamp_edited(self, _v: float) -> None:
        lo, hi = self.clamp_lo.value(), self.clamp_hi.value()
        if hi <= lo:
            hi = lo + 0.5
            self._show_clamp((lo, hi))
        self.settings = self.settings.with_(clamp=(lo, hi))
        self.settings_changed.emit(self.settings)

    def _changed(self, *_):
        self.settings = self.settings.with_(
            visible=self.master.isChecked(),
            show_heatmap=self.heatmap.isChecked(),
            show_contour=self.contour.isChecked(),
            show_mask=self.mask.isChecked(),
            colormap=self.colormap.currentData(),
            opacity=self.opacity.value() / 100.0,
        )
        self._enable_boxes()
        self._update_labels()
        self.settings_changed.emit(self.settings)

    def _update_labels(self) -> None:
        self.opacity_label.setText(f"{self.opacity.value()} %")


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    return label
