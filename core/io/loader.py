"""Read any supported file for a given modality; one entry point for import and the workspace."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.domain import Modality
from core.errors import UnsupportedFormatError
from core.io.images import IMAGE_SUFFIXES, TIFF_SUFFIXES, read_image, read_stack
from core.io.nifti import is_nifti, read_nifti
from core.io.volume import Volume


def read_for_modality(path: str | Path, modality: Modality | str) -> np.ndarray | Volume:
    """Fundus: 2-D image. OCT: 2-D B-scan, or (N, H, W) stack from a multi-page TIFF.
    MRI: :class:`Volume` from NIfTI or a DICOM series folder."""
    path = Path(path)
    modality = Modality(modality)
    if modality == Modality.MRI:
        if path.is_dir():
            from core.io.dicom import read_dicom_series

            return read_dicom_series(path)
        if is_nifti(path):
            return read_nifti(path)
        raise UnsupportedFormatError(path, "an MRI volume must be a .nii/.nii.gz file or a DICOM folder")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UnsupportedFormatError(path, f"'{suffix or 'no extension'}' is not an image type we read")
    if modality == Modality.OCT and suffix in TIFF_SUFFIXES:
        stack = read_stack(path)
        return stack[0] if stack.shape[0] == 1 else stack
    return read_image(path)
