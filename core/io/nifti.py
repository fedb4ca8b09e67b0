"""NIfTI-1/2 reading and writing (.nii, .nii.gz). Affine and orientation are kept exactly."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from core.errors import CorruptFileError, EmptyFileError, UnsupportedFormatError, WrongDimensionError
from core.io.atomic import atomic_path
from core.io.volume import Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def read_nifti(path: str | Path, *, volume_index: int | None = None, dtype=np.float32) -> Volume:
    """Read a 3-D NIfTI volume. A 4-D file is refused unless it has one volume or ``volume_index``
    picks one. Voxel order is the file's own; the affine is the file's best affine (sform, else qform)."""
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    path = Path(path)
    if not path.exists():
        raise CorruptFileError(path, "file does not exist")
    if path.is_dir():
        raise UnsupportedFormatError(path, "is a folder, expected a .nii or .nii.gz file")
    if not is_nifti(path):
        raise UnsupportedFormatError(path, "expected a .nii or .nii.gz file")
    if path.stat().st_size == 0:
        raise EmptyFileError(path, "file is empty (0 bytes)")
    try:
        img = nib.load(str(path))
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise UnsupportedFormatError(path, f"not a NIfTI image ({type(img).__name__})")
        shape = img.shape
        if len(shape) < 3:
            raise WrongDimensionError(path, f"{len(shape)}-D image of shape {shape}; expected a 3-D volume")
        if len(shape) > 4 or (len(shape) == 4 and shape[3] > 1 and volume_index is None):
            extra = f"{shape[3]} volumes" if len(shape) == 4 else f"shape {shape}"
            raise WrongDimensionError(path, f"{len(shape)}-D image with {extra}; expected a single 3-D volume")
        if len(shape) == 4:
            index = volume_index or 0
            if not 0 <= index < shape[3]:
                raise WrongDimensionError(path, f"volume index {index} out of range 0..{shape[3] - 1}")
            data = np.asanyarray(img.dataobj[..., index])
        else:
            data = np.asanyarray(img.dataobj)
        if min(data.shape) < 1 or data.size == 0:
            raise WrongDimensionError(path, f"volume of shape {data.shape} has no voxels")
        data = np.asarray(data, dtype=dtype)
    except (ImageFileError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CorruptFileError(path, f"cannot read NIfTI: {exc}") from exc
    except (OSError, ValueError) as exc:
        msg = str(exc)
        if "Expected" in msg and "bytes" in msg or "truncated" in msg.lower() or "end of" in msg.lower():
            msg = f"data is truncated ({msg})"
        raise CorruptFileError(path, f"cannot read NIfTI: {msg}") from exc
    if not np.all(np.isfinite(img.affine)):
        raise CorruptFileError(path, "affine contains NaN or infinite values")
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    return Volume(data=data, affine=np.array(img.affine, dtype=np.float64), spacing=zooms, header=img.header.copy())


def write_nifti(path: str | Path, data: np.ndarray, affine: np.ndarray, header=None, dtype=None) -> None:
    """Write a volume atomically. With ``header`` (the source scan's) the sform and qform, their codes
    and the voxel sizes are copied unchanged, so the output lies exactly on the source grid."""
    import nibabel as nib

    arr = np.asarray(data)
    if dtype is not None:
        arr = arr.astype(dtype)
    if header is not None:
        hdr = header.copy()
        hdr.set_data_dtype(arr.dtype)
        hdr.set_data_shape(arr.shape)
        hdr["scl_slope"] = np.nan
        hdr["scl_inter"] = np.nan
        cls = nib.Nifti2Image if isinstance(hdr, nib.Nifti2Header) else nib.Nifti1Image
        img = cls(arr, None, header=hdr)
    else:
        img = nib.Nifti1Image(arr, np.asarray(affine, dtype=np.float64))
        img.set_sform(np.asarray(affine, dtype=np.float64), 2)
        img.set_qform(np.asarray(affine, dtype=np.float64), 2)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
