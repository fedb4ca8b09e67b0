"""NIfTI-1/2 reading and writing (.nii, .nii.gz). Affine and orientation are kept exactly."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from core.errors import CorruptFileError, EmptyFileError, InputError, TooLargeError, UnsupportedFormatError, WrongDimensionError
from core.io.atomic import atomic_path
from core.io.limits import DEFLATE_MAX_RATIO, check_pixel_budget
from core.io.volume import Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def _check_header(path: Path, img) -> tuple[int, ...]:
    """Validate what the header claims before any voxel is read: dimensions, data type, the voxel
    budget and (for .nii) that the data fits in the file."""
    hdr = img.header
    try:
        shape = tuple(int(d) for d in hdr.get_data_shape())
        dtype = np.dtype(hdr.get_data_dtype())
    except Exception as exc:  # noqa: BLE001 - nibabel raises HeaderDataError, TypeError, ... for nonsense headers
        raise CorruptFileError(path, f"NIfTI header is invalid ({exc})") from None
    if not shape or any(d <= 0 for d in shape):
        raise CorruptFileError(path, f"NIfTI header claims dimensions {shape}; every dimension must be positive")
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise UnsupportedFormatError(path, f"voxel type {dtype} is not supported (expected integers or real floats)")
    n = int(np.prod(shape, dtype=np.float64)) if np.prod(shape, dtype=np.float64) < 2**62 else 2**62
    gz = str(path).lower().endswith(".gz")
    offset = 0 if gz else int(getattr(hdr, "get_data_offset", lambda: 0)() or 0)
    if gz:
        check_pixel_budget(path, n, dtype.itemsize, max_ratio=DEFLATE_MAX_RATIO, what="voxels")
    else:
        check_pixel_budget(path, n, dtype.itemsize, stored_raw=True, offset=offset, what="voxels")
    return shape


def _check_values(path: Path, data: np.ndarray, warnings: list[str]) -> np.ndarray:
    """NaN voxels (common outside a brain mask) become 0 with a warning; infinite ones are refused."""
    if not np.issubdtype(data.dtype, np.floating):
        return data
    finite = np.isfinite(data)
    if finite.all():
        return data
    if np.isinf(data).any():
        raise CorruptFileError(path, f"{int(np.isinf(data).sum()):,} voxel value(s) are infinite")
    n = int(data.size - np.count_nonzero(finite))
    data = np.where(finite, data, 0).astype(data.dtype, copy=False)
    warnings.append(f"{n:,} NaN voxel(s) set to 0")
    return data


def read_nifti(path: str | Path, *, volume_index: int | None = None, dtype=np.float32) -> Volume:
    """Read a 3-D NIfTI volume. A 4-D file is refused unless it has one volume or ``volume_index``
    picks one. Voxel order is the file's own; the affine is the file's best affine (sform, else qform).
    The header is checked against the voxel budget and the file size before any data is read."""
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    path = Path(path)
    if not path.exists():
        raise CorruptFileError(path, "file does not exist")
    if path.is_dir():
        raise UnsupportedFormatError(path, "is a folder, expected a .nii or .nii.gz file")
    if not path.is_file():
        raise UnsupportedFormatError(path, "is not a regular file (a FIFO, socket or device)")
    if not is_nifti(path):
        raise UnsupportedFormatError(path, "expected a .nii or .nii.gz file")
    if path.stat().st_size == 0:
        raise EmptyFileError(path, "file is empty (0 bytes)")
    notes: list[str] = []
    try:
        img = nib.load(str(path))
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise UnsupportedFormatError(path, f"not a NIfTI image ({type(img).__name__})")
        shape = _check_header(path, img)
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
        data = _check_values(path, np.asarray(data, dtype=dtype), notes)
        affine = np.array(img.affine, dtype=np.float64)
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    except InputError:
        raise
    except (ImageFileError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CorruptFileError(path, f"cannot read NIfTI: {exc}") from exc
    except MemoryError:
        raise TooLargeError(path, "volume is too large to read in the available memory") from None
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types (HeaderDataError, OverflowError, ...) for damaged files
        msg = str(exc) or exc.__class__.__name__
        if "Expected" in msg and "bytes" in msg or "truncated" in msg.lower() or "end of" in msg.lower():
            msg = f"data is truncated ({msg})"
        raise CorruptFileError(path, f"cannot read NIfTI: {msg}") from exc
    if not np.all(np.isfinite(affine)):
        raise CorruptFileError(path, "affine contains NaN or infinite values")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise CorruptFileError(path, "affine is singular (the voxel axes do not span 3-D space)")
    if not all(np.isfinite(z) and z > 0 for z in zooms):
        raise CorruptFileError(path, f"voxel sizes {zooms} are not positive finite millimetres")
    return Volume(data=data, affine=affine, spacing=zooms, header=img.header.copy(), meta={"warnings": notes} if notes else {})


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
