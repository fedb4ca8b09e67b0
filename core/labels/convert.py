"""Turn a model result into editable labels: a MIAS-SAM mask, or the connected regions of a
heatmap above the model's pixel threshold (the iso-contour the review view draws)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.errors import StudioError
from core.io.labelme import Shape
from core.labels.shapes import mask_to_shapes

if TYPE_CHECKING:
    from core.workspace.workspace import Workspace


@dataclass(frozen=True)
class ResultSource:
    """A stored result of one model version for one image of a case."""

    model: str
    version: str
    image: str  # image name inside the case
    has_mask: bool
    pixel_threshold: float
    active: bool

    @property
    def title(self) -> str:
        return f"{self.model} {self.version}{' (active)' if self.active else ''}"


def result_sources(ws: Workspace, case_id: str) -> list[ResultSource]:
    """Every stored result of ``case_id`` with its per-image maps (active model versions first)."""
    versions = {(v.name, v.version): v for v in ws.versions.list()}
    out = []
    for r in reversed(ws.results.for_case(case_id)):  # newest first
        v = versions.get((r.model, r.version))
        thr = float(v.card.pixel_threshold) if v is not None and v.card is not None else 3.0
        active = bool(v is not None and v.active)
        for image, entry in r.images.items():
            out.append(ResultSource(r.model, r.version, image, bool(entry.mask_key), thr, active))
    out.sort(key=lambda s: not s.active)  # stable: active versions first, newest first within each
    return out


def result_arrays(ws: Workspace, source: ResultSource, case_id: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    stored = ws.results.get(source.model, source.version, case_id)
    if stored is None:
        raise StudioError(f"no stored {source.model} {source.version} result for case {case_id}")
    return ws.results.image_arrays(stored, source.image)


def heatmap_regions(heatmap: np.ndarray, threshold: float, min_area: int = 16) -> list[np.ndarray]:
    """Connected regions (8-connected in 2-D, 26 in 3-D) of ``heatmap > threshold``, largest first."""
    from scipy import ndimage

    h = np.asarray(heatmap, np.float32)
    above = np.isfinite(h) & (h > threshold)
    labels, n = ndimage.label(above, structure=np.ones((3,) * h.ndim, bool))
    if n == 0:
        return []
    sizes = ndimage.sum_labels(above, labels, index=np.arange(1, n + 1))
    order = [int(k) + 1 for k in np.argsort(-sizes) if sizes[k] >= min_area]
    return [labels == k for k in order]


def mask_result_shapes(mask: np.ndarray, label: str, *, as_polygon: bool, description: str) -> list[Shape]:
    return mask_to_shapes(label, np.asarray(mask, bool), as_polygon=as_polygon, description=description)


def heatmap_result_shapes(
    heatmap: np.ndarray, threshold: float, label: str, *, as_polygon: bool, description: str, min_area: int = 16
) -> list[Shape]:
    """One shape (or polygons) per connected region above ``threshold``."""
    shapes: list[Shape] = []
    for region in heatmap_regions(heatmap, threshold, min_area):
        shapes.extend(mask_to_shapes(label, region, as_polygon=as_polygon, description=description))
    return shapes


def result_to_shapes(
    ws: Workspace,
    case_id: str,
    source: ResultSource,
    label: str,
    *,
    use: str = "auto",
    threshold: float | None = None,
    as_polygon: bool = True,
    min_area: int = 16,
    image_hw: tuple[int, int] | None = None,
    page: int | None = None,
) -> list[Shape]:
    """Editable shapes from a stored result. ``use``: 'mask' (MIAS-SAM), 'heatmap' (regions above
    ``threshold``, default the model's pixel threshold) or 'auto' (the mask when there is one).
    ``page``: the B-scan of an OCT volume whose result (one map per B-scan) is wanted."""
    heat, mask = result_arrays(ws, source, case_id)
    if page is not None:  # an OCT volume's (N, H, W) maps: the B-scan's own
        heat = heat[page] if heat is not None and heat.ndim == 3 and 0 <= page < heat.shape[0] else heat
        mask = mask[page] if mask is not None and mask.ndim == 3 and 0 <= page < mask.shape[0] else mask
    if use == "auto":
        use = "mask" if mask is not None else "heatmap"
    if use == "mask":
        if mask is None:
            raise StudioError(f"{source.title} stored no mask for {case_id}/{source.image}")
        arr, desc = np.asarray(mask, bool), f"from {source.model} {source.version} mask"
        data = arr
    else:
        if heat is None:
            raise StudioError(f"{source.title} stored no heatmap for {case_id}/{source.image}")
        thr = source.pixel_threshold if threshold is None else float(threshold)
        arr, desc = None, f"from {source.model} {source.version} heatmap > {thr:.3g}"
        data = heat
    if data.ndim != 2:
        raise StudioError(f"{source.title} result for {case_id}/{source.image} is {data.ndim}-D; use the volume conversion")
    if image_hw is not None and tuple(data.shape) != tuple(image_hw):
        raise StudioError(f"{source.title} result grid {data.shape} does not match the image {tuple(image_hw)}")
    if arr is not None:
        return mask_result_shapes(arr, label, as_polygon=as_polygon, description=desc)
    return heatmap_result_shapes(data, thr, label, as_polygon=as_polygon, description=desc, min_area=min_area)


def result_to_volume_mask(
    ws: Workspace, case_id: str, source: ResultSource, *, use: str = "auto", threshold: float | None = None, min_area: int = 16
) -> np.ndarray:
    """Boolean volume on the scan grid from a 3-D result (mask, or heatmap regions above threshold)."""
    heat, mask = result_arrays(ws, source, case_id)
    if use == "auto":
        use = "mask" if mask is not None else "heatmap"
    if use == "mask" and mask is not None:
        out = np.asarray(mask, bool)
    elif heat is not None:
        thr = source.pixel_threshold if threshold is None else float(threshold)
        regions = heatmap_regions(heat, thr, min_area)
        out = np.zeros(heat.shape, bool)
        for r in regions:
            out |= r
    else:
        raise StudioError(f"{source.title} stored neither a mask nor a heatmap for {case_id}/{source.image}")
    if out.ndim != 3:
        raise StudioError(f"{source.title} result for {case_id}/{source.image} is not a volume")
    return out
