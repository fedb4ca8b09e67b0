"""What can be labelled in a case, and loading / saving its labels in the workspace.

A 2-D target is one image (fundus photo, OCT B-scan) or one page of a B-scan stack, labelled as a
LabelMe document; an MRI image is labelled as a label volume on the scan's grid.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.domain import CaseRecord, ImageRecord
from core.errors import LabelFileError
from core.labels.editor import LabelEditor
from core.labels.volume import VolumeLabelEditor

if TYPE_CHECKING:
    from core.workspace.workspace import Workspace


@dataclass(frozen=True, eq=False)
class LabelTarget:
    image: ImageRecord
    page: int | None = None

    def __eq__(self, other) -> bool:
        return isinstance(other, LabelTarget) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def key(self) -> str:
        return self.image.id + (f"#p{self.page:03d}" if self.page is not None else "")

    @property
    def is_volume(self) -> bool:
        return self.image.is_volume

    @property
    def title(self) -> str:
        name = self.image.name
        return f"{name} page {self.page + 1}" if self.page is not None else name

    @property
    def modality(self) -> str:
        return self.image.modality.value


def targets_for_case(case: CaseRecord) -> list[LabelTarget]:
    out: list[LabelTarget] = []
    for im in case.images:
        if im.is_stack:
            out.extend(LabelTarget(im, p) for p in range(int(im.shape[0])))
        else:
            out.append(LabelTarget(im))
    return out


def target_pixels(ws: Workspace, target: LabelTarget, pixels: np.ndarray | None = None) -> np.ndarray:
    """The 2-D image shown for a target (a stack page is sliced out)."""
    a = ws.read_pixels(target.image) if pixels is None else pixels
    return a[target.page] if target.page is not None else a


def remove_stale_temporaries(path: Path, older_than_s: float = 60.0) -> int:
    """Delete temporary files an atomic write left behind when its process was killed."""
    n = 0
    if not path.parent.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    for tmp in path.parent.glob(f".{path.name}.*.tmp*"):
        try:
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                n += 1
        except OSError:
            pass
    return n


def open_editor(ws: Workspace, target: LabelTarget, history_limit: int | None = None) -> LabelEditor:
    """The target's stored labels (or an empty document) ready for editing."""
    fresh = ws.new_label_document(target.image)
    path = ws.label_path(target.image, target.page)
    remove_stale_temporaries(path)
    doc = ws.read_labels(target.image, target.page)
    if doc is None:
        doc = fresh
    else:
        if doc.image_height <= 0 or doc.image_width <= 0:
            doc.image_height, doc.image_width = fresh.image_height, fresh.image_width
        if (doc.image_height, doc.image_width) != (fresh.image_height, fresh.image_width):
            raise LabelFileError(
                path,
                f"labels are for a {doc.image_width}x{doc.image_height} image, "
                f"but {target.image.id} is {fresh.image_width}x{fresh.image_height}",
            )
    kwargs = {"history_limit": history_limit} if history_limit else {}
    return LabelEditor(doc, **kwargs)


def save_document(ws: Workspace, target: LabelTarget, doc, user: str = "system") -> Path:
    return ws.write_labels(target.image, doc, page=target.page, user=user)


def open_volume_editor(
    ws: Workspace, image: ImageRecord, legend: dict[str, int], affine: np.ndarray | None = None, history_limit: int | None = None
) -> VolumeLabelEditor:
    """The MRI label volume (or an empty one on the scan grid). ``legend`` is the class set's
    name -> id; names only the stored legend knows are kept."""
    stored = ws.read_label_volume(image)
    if affine is None:
        affine = image.meta.affine_array()
    if affine is None:
        affine = ws.read_volume(image).affine
    if stored is None:
        shape = tuple(int(s) for s in image.shape[:3])
        labels, merged = np.zeros(shape, np.uint8), dict(legend)
    else:
        labels, old = stored
        merged = dict(legend)
        for name, v in old.items():
            if name not in merged and v not in merged.values():
                merged[name] = int(v)
    remove_stale_temporaries(ws.label_volume_path(image))
    kwargs = {"history_limit": history_limit} if history_limit else {}
    return VolumeLabelEditor(labels, affine, merged, **kwargs)


def save_volume(ws: Workspace, image: ImageRecord, payload: tuple[np.ndarray, dict[str, int]], user: str = "system") -> Path:
    labels, legend = payload
    return ws.write_label_volume(image, labels, legend, user=user)
