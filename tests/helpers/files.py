"""Small files for reader tests, written on the fly."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np


def nibabel_example4d() -> Path:
    import nibabel

    return Path(nibabel.__file__).parent / "tests" / "data" / "example4d.nii.gz"


def pydicom_mr_small() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("MR_small.dcm"))


def make_dicom_series(folder: Path, n: int = 3, spacing: float = 2.5, series_uid: str | None = None) -> Path:
    """Write an n-slice series derived from pydicom's MR_small, files in shuffled order."""
    import pydicom
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(pydicom_mr_small())
    uid = series_uid or generate_uid()
    iop = np.array(base.ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    origin = np.array(base.ImagePositionPatient, float)
    for k in [2, 0, 1][:n] + list(range(3, n)):
        ds = copy.deepcopy(base)
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [float(v) for v in origin + normal * spacing * k]
        arr = ds.pixel_array.copy()
        arr[:] = arr + k * 10
        ds.PixelData = arr.tobytes()
        ds.save_as(folder / f"slice_{(k * 7) % n:03d}_{k}.dcm")
    return folder


def copy_to(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst
