"""Label files of a workspace: one LabelMe JSON per 2-D image (or B-scan page) and one label
volume (+ legend) per MRI image, under ``labels/<case>/``. Every path is built from validated
ids and confined to the workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.domain import ImageRecord
from core.errors import WorkspaceError
from core.io.atomic import atomic_write_json
from core.io.labelme import LabelDocument, read_labelme, write_labelme
from core.io.safejson import read_json
from core.workspace.paths import confine, validate_id

if TYPE_CHECKING:
    from core.io.volume import Volume
    from core.workspace.catalog import Catalog


class LabelFilesMixin:
    """Label storage of :class:`core.workspace.Workspace` (``root`` and ``catalog`` come from it)."""

    root: Path  # these three come from the Workspace this mixes into
    catalog: Catalog
    read_volume: Callable[[ImageRecord], Volume]

    def label_dir(self, image: ImageRecord) -> Path:
        return confine(self.root, "labels", validate_id("case", image.case_id))

    def label_path(self, image: ImageRecord, page: int | None = None) -> Path:
        suffix = f"_p{int(validate_id('page', page)):03d}" if page is not None else ""
        return confine(self.root, "labels", validate_id("case", image.case_id), f"{validate_id('image', image.name)}{suffix}.json")

    def label_volume_path(self, image: ImageRecord) -> Path:
        return confine(self.root, "labels", validate_id("case", image.case_id), f"{validate_id('image', image.name)}.labels.nii.gz")

    def label_legend_path(self, image: ImageRecord) -> Path:
        path = self.label_volume_path(image)
        return path.with_name(path.name.replace(".nii.gz", ".legend.json"))

    def read_labels(self, image: ImageRecord, page: int | None = None) -> LabelDocument | None:
        path = self.label_path(image, page)
        return read_labelme(path) if path.exists() else None

    def new_label_document(self, image: ImageRecord) -> LabelDocument:
        h, w = image.shape[-3:-1] if image.shape[-1] == 3 and len(image.shape) >= 3 else image.shape[-2:]
        rel = Path("..", "..", *Path(image.path).parts).as_posix()
        return LabelDocument(image_path=rel, image_height=int(h), image_width=int(w))

    def write_labels(self, image: ImageRecord, doc: LabelDocument, page: int | None = None, user: str = "system") -> Path:
        path = self.label_path(image, page)
        write_labelme(path, doc)
        self.catalog.audit(user, "labels.save", image.case_id, {"image": image.id, "shapes": len(doc.shapes), "page": page})
        return path

    def write_label_volume(self, image: ImageRecord, labels: np.ndarray, legend: dict[str, int], user: str = "system") -> Path:
        from core.io.nifti import write_nifti

        vol = self.read_volume(image)
        if labels.shape != vol.shape:
            raise WorkspaceError(f"label volume shape {labels.shape} does not match scan {vol.shape}")
        path = self.label_volume_path(image)
        write_nifti(path, labels.astype(np.uint8), vol.affine, header=vol.header)
        atomic_write_json(self.label_legend_path(image), legend)
        self.catalog.audit(user, "labels.save", image.case_id, {"image": image.id, "volume": True})
        return path

    def read_label_volume(self, image: ImageRecord) -> tuple[np.ndarray, dict[str, int]] | None:
        from core.io.nifti import read_nifti

        path = self.label_volume_path(image)
        if not path.exists():
            return None
        vol = read_nifti(path, dtype=np.uint8)
        legend_path = self.label_legend_path(image)
        legend = read_json(legend_path) if legend_path.exists() else {}
        if not isinstance(legend, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in legend.items()):
            raise WorkspaceError(f"{legend_path}: the label legend must map class names to integer ids")
        return vol.data, legend
