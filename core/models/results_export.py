"""Stored results as files: one float32 heatmap per image at input resolution and ``scores.csv``
(the ``predict --export DIR`` of the command line)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import InputError
from core.io.atomic import atomic_path, atomic_write_text
from core.models import store

if TYPE_CHECKING:
    from core.workspace.results import StoredResult
    from core.workspace.workspace import Workspace

COLUMNS = ["case", "image", "score", "raw_score", "threshold", "abnormal", "model", "version", "heatmap", "mask"]


def export_results(ws: Workspace, results: Iterable[StoredResult], folder: Path) -> None:
    """One float32 heatmap per image at input resolution + scores.csv (atomic writes): ``.npy`` for
    2-D images; for MRI volumes a NIfTI on the scan's own grid with its header (affine, qform/sform
    codes, voxel sizes), plus the mask as a uint8 NIfTI when the method segments."""
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for r in results:
        records = {im.name: im for im in ws.case(r.case_id).images}
        for image_name, entry in r.images.items():
            heat, mask = store.result_arrays(ws, r, image_name, required=True)
            rec = records.get(image_name)
            mask_name = ""
            if rec is not None and rec.is_volume:
                fname = f"{r.case_id}__{image_name}.nii.gz"
                mask_name = f"{r.case_id}__{image_name}_mask.nii.gz" if mask is not None else ""
                _write_volume(ws.image_path(rec), folder, fname, heat, mask_name, mask)
            else:
                fname = f"{r.case_id}__{image_name}.npy"
                with atomic_path(folder / fname) as tmp:
                    with open(tmp, "wb") as fh:
                        np.save(fh, np.asarray(heat, np.float32))
            score = r.score if entry.score is None else entry.score
            w.writerow(
                [
                    r.case_id,
                    image_name,
                    repr(float(score)),
                    "" if entry.raw_score is None else repr(float(entry.raw_score)),
                    r.threshold,
                    "" if r.threshold is None else int(score >= r.threshold),
                    r.model,
                    r.version,
                    fname,
                    mask_name,
                ]
            )
    atomic_write_text(folder / "scores.csv", buf.getvalue())


def _write_volume(source: Path, folder: Path, fname: str, heat: np.ndarray, mask_name: str, mask: np.ndarray | None) -> None:
    """The heatmap (and mask) as NIfTI on the source scan's grid, with its header."""
    import nibabel as nib
    from nibabel.spatialimages import SpatialHeader

    from core.io.nifti import write_nifti

    header = nib.load(str(source)).header  # header only: the data is not read
    if not isinstance(header, SpatialHeader):
        raise InputError(source, "not a volume file with a spatial header: cannot place its heatmap on the scan's grid")
    affine = header.get_best_affine()
    write_nifti(folder / fname, np.asarray(heat, np.float32), affine, header=header)
    if mask is not None:
        write_nifti(folder / mask_name, np.asarray(mask, np.uint8), affine, header=header)
