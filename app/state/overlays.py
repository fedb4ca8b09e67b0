"""Qt-free overlay data: the stored result of a model on a case, prepared for display, and the
user's overlay settings (colormap, opacity, clamp range, which layers show).

Heatmaps are smooth (patch grids upsampled and Gaussian-filtered), so for display they are reduced
to at most ``HEATMAP_DISPLAY_SIDE`` pixels a side and stretched over the image: colormap, opacity
and clamp changes then stay interactive on 1-2k px images. Masks keep up to
``MASK_DISPLAY_SIDE`` pixels a side (sharp edges). An OCT volume's (N, H, W) maps are reduced
B-scan by B-scan; its en-face map (stored at most 512 px a side over the localizer) is shown as
stored, with the area no B-scan covers set below every colour range (transparent). Stored results
are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from app.state.runs import ModelChoice
from core.workspace import Workspace
from core.workspace.combined import CaseScore, combine_results
from core.workspace.results import SliceScores

HEATMAP_DISPLAY_SIDE = 384
OUTSIDE_SCAN = -1.0e6  # en-face cells no B-scan covers: below any clamp range, so drawn transparent
MASK_DISPLAY_SIDE = 1024
COLORMAPS = ("turbo", "inferno", "magma", "viridis", "CET-L3")
COLORMAP_TITLES = {"turbo": "Turbo", "inferno": "Inferno", "magma": "Magma", "viridis": "Viridis", "CET-L3": "Hot"}


@dataclass(frozen=True)
class OverlaySettings:
    colormap: str = "turbo"
    opacity: float = 0.55  # 0..1, of the whole heatmap layer
    clamp: tuple[float, float] | None = None  # heatmap colour range; None = the model's default
    show_heatmap: bool = True
    show_contour: bool = True
    show_mask: bool = True
    visible: bool = True  # master switch (T)

    def with_(self, **changes) -> OverlaySettings:
        return replace(self, **changes)

    def clamp_for(self, pixel_threshold: float) -> tuple[float, float]:
        return self.clamp if self.clamp is not None else default_clamp(pixel_threshold)


def default_clamp(pixel_threshold: float) -> tuple[float, float]:
    """Colour range of a calibrated heatmap: transparent up to about half the iso-contour level,
    saturated at twice it. Fixed per model (not per case), so colours compare across cases."""
    t = max(float(pixel_threshold), 1.0)
    return round(0.5 * t, 2), round(2.0 * t, 2)


@dataclass
class ImageOverlay:
    """Display data of one image: reduced heatmap and mask, and where they lie."""

    heatmap: np.ndarray | None  # float32 (h, w) reduced, (N, h, w) per B-scan of a stack, or (X, Y, Z) for volumes
    mask: np.ndarray | None  # bool, reduced likewise
    image_shape: tuple[int, ...]  # the image's recorded shape: (H, W[, 3]), (N, H, W) stack, (X, Y, Z)
    page: int | None = None  # a 2-D map of a B-scan stack lies on this page (results from before per-B-scan maps)
    score: float | None = None
    heat_range: tuple[float, float] = (0.0, 0.0)
    is_stack: bool = False
    enface: np.ndarray | None = None  # an OCT volume's en-face map (float32, OUTSIDE_SCAN off the scan) ...
    enface_on: str | None = None  # ... stretched over this image of the case

    @property
    def hw(self) -> tuple[int, int]:
        """(height, width) of the 2-D image (or B-scan page) the maps are stretched over."""
        s = self.image_shape
        return (int(s[1]), int(s[2])) if self.is_stack else (int(s[0]), int(s[1]))

    @property
    def per_bscan(self) -> bool:
        """The maps hold one 2-D map per B-scan of a stack."""
        return self.is_stack and self.heatmap is not None and self.heatmap.ndim == 3

    def page_maps(self, page: int | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(heatmap, mask) to draw on a 2-D image or on B-scan ``page`` of a stack (None: nothing there)."""
        heat, mask = self.heatmap, self.mask
        if self.is_stack:
            if self.page is not None and page != self.page:  # an old result: one 2-D map on one B-scan
                return None, None
            n = int(self.image_shape[0])
            ok = page is not None and 0 <= page < n
            heat = heat[page] if heat is not None and heat.ndim == 3 and ok else heat if heat is not None and heat.ndim == 2 else None
            mask = mask[page] if mask is not None and mask.ndim == 3 and ok else mask if mask is not None and mask.ndim == 2 else None
        return (heat if heat is not None and heat.ndim == 2 else None), (mask if mask is not None and mask.ndim == 2 else None)


@dataclass
class CaseOverlay:
    case_id: str
    model: ModelChoice
    score: float
    threshold: float
    pixel_threshold: float
    primary_image: str
    created: str = ""
    images: dict[str, ImageOverlay] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)  # the method's own diagnostics (display only)
    slices: SliceScores | None = None  # per-slice / per-B-scan scores of a volume
    score_source: str = ""  # how the case score was formed, in words
    case_score: CaseScore | None = None  # each image's score and which one decided

    @property
    def abnormal(self) -> bool:
        return self.score >= self.threshold

    def enface(self) -> tuple[np.ndarray, str] | None:
        """(en-face map, name of the image it lies on) of the result's OCT volume, or None."""
        for ov in self.images.values():
            if ov.enface is not None and ov.enface_on:
                return ov.enface, ov.enface_on
        return None

    def bscan_score(self, page: int | None) -> float | None:
        """The calibrated score of B-scan ``page`` of the result's OCT volume, or None."""
        s = self.slices
        if s is None or s.plane != "bscan" or page is None:
            return None
        return s.score_at(page)


def reduce_map(a: np.ndarray, max_side: int = HEATMAP_DISPLAY_SIDE) -> np.ndarray:
    """Area-average a smooth 2-D map down to at most ``max_side`` a side (float32)."""
    a = np.asarray(a, np.float32)
    h, w = a.shape
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return np.ascontiguousarray(a)
    import cv2

    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(a, size, interpolation=cv2.INTER_AREA)


def reduce_mask(m: np.ndarray, max_side: int = MASK_DISPLAY_SIDE) -> np.ndarray:
    m = np.asarray(m).astype(np.uint8)
    h, w = m.shape
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return m.astype(bool)
    import cv2

    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(m, size, interpolation=cv2.INTER_NEAREST).astype(bool)


def iso_contours(map2d: np.ndarray, level: float, extent: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Iso-lines of ``map2d`` at ``level`` as (x, y) arrays with NaN between separate lines, in the
    coordinates of an image of size ``extent`` = (width, height) the map is stretched over."""
    a = np.asarray(map2d, np.float64)
    if a.size == 0 or not np.isfinite(level) or np.nanmax(a) < level or np.nanmin(a) >= level:
        return np.empty(0), np.empty(0)
    from skimage import measure

    h, w = a.shape
    sx, sy = (extent[0] / w, extent[1] / h) if extent else (1.0, 1.0)
    # pad with -inf so lines that reach the border close around the region
    padded = np.pad(a, 1, mode="constant", constant_values=min(np.nanmin(a), level) - 1.0)
    xs, ys = [], []
    for c in measure.find_contours(padded, level):
        rows, cols = c[:, 0] - 1.0, c[:, 1] - 1.0
        xs.append((np.clip(cols, -0.5, w - 0.5) + 0.5) * sx)
        ys.append((np.clip(rows, -0.5, h - 0.5) + 0.5) * sy)
        xs.append(np.array([np.nan]))
        ys.append(np.array([np.nan]))
    return np.concatenate(xs), np.concatenate(ys)


def prepare_image(
    heat: np.ndarray | None,
    mask: np.ndarray | None,
    image_shape: tuple[int, ...],
    is_stack: bool = False,
    score: float | None = None,
    page: int | None = None,
    enface: np.ndarray | None = None,
    enface_on: str | None = None,
) -> ImageOverlay:
    """Reduce one image's stored maps for display (run on a worker thread); ``page``: the B-scan a
    2-D map of a stack lies on, as the stored result records it (old results); an (N, H, W) map of
    a stack is reduced B-scan by B-scan; ``enface``: the volume's en-face map on ``enface_on``."""
    if heat is not None:
        heat = np.asarray(heat, np.float32)
        rng = (float(np.nanmin(heat)), float(np.nanmax(heat)))
        if heat.ndim == 2:
            heat = reduce_map(heat)
        elif heat.ndim == 3 and is_stack:
            heat = np.stack([reduce_map(h) for h in heat])
    else:
        rng = (0.0, 0.0)
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.ndim == 2:
            mask = reduce_mask(mask)
        elif mask.ndim == 3 and is_stack:
            mask = np.stack([reduce_mask(m) for m in mask])
    if enface is not None:
        enface = np.asarray(enface, np.float32)
        enface = np.where(np.isfinite(enface), enface, np.float32(OUTSIDE_SCAN)).astype(np.float32) if enface.ndim == 2 else None
    return ImageOverlay(
        heat, mask, tuple(int(s) for s in image_shape), page, score, rng, is_stack, enface, enface_on if enface is not None else None
    )


def load_case_overlay(ws: Workspace, choice: ModelChoice, case_id: str) -> CaseOverlay | None:
    """The stored result of ``choice`` on ``case_id`` with every image's maps, or None (worker
    thread: reads the catalog and the array store). A combined choice (a method's active versions
    of several modalities) merges its members' results; the combined case score decides."""
    results = [r for r in (ws.results.get(p.name, p.version, case_id) for p in choice.parts) if r is not None]
    if not results:
        return None
    record = ws.case(case_id)
    images = {im.name: im for im in record.images}
    combined = combine_results(case_id, results, {n: im.modality.value for n, im in images.items()})
    by_version = {r.version: r for r in results}
    main = by_version.get(combined.version, results[0]) if combined is not None else results[0]
    score = combined.score if combined is not None else float(main.score)
    threshold = combined.threshold if combined is not None else float(main.threshold if main.threshold is not None else choice.threshold)
    pixel = next((p.pixel_threshold for p in choice.parts if p.version == main.version), choice.pixel_threshold)
    extras: dict = {}
    for r in results:
        extras.update(r.extras or {})
    overlay = CaseOverlay(
        case_id,
        choice,
        float(score),
        float(threshold),
        pixel,
        main.image,
        main.created,
        extras=extras,
        slices=main.slices or next((r.slices for r in results if r.slices is not None), None),
        score_source=main.score_source,
        case_score=combined,
    )
    for result in results:
        for name, entry in result.images.items():
            if name not in images:
                continue
            heat, mask = ws.results.image_arrays(result, name)
            enface = ws.results.enface_array(result, name) if entry.enface_key else None
            im = images[name]
            overlay.images[name] = prepare_image(
                heat, mask, tuple(im.shape), im.is_stack, entry.score, entry.page, *(enface if enface is not None else (None, None))
            )
    return overlay
