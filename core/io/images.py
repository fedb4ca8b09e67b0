"""2-D image readers and writers: PNG, JPEG, TIFF (8/16-bit, grey/RGB) and multi-page TIFF stacks.

Arrays come back as ``(H, W)`` for grey, ``(H, W, 3)`` for colour (alpha dropped) and
``(N, H, W)`` / ``(N, H, W, 3)`` for stacks. 8-bit data stays ``uint8``, 16-bit stays ``uint16``.
"""

from __future__ import annotations

import stat
import struct
import warnings
from pathlib import Path

import numpy as np

from core.errors import CorruptFileError, EmptyFileError, InputError, TooLargeError, UnsupportedFormatError, WrongDimensionError
from core.io.atomic import atomic_path
from core.io.limits import DEFLATE_MAX_RATIO, ENV_MAX_PIXELS, check_pixel_budget, max_pixels

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
TIFF_SUFFIXES = {".tif", ".tiff"}


# Float pixels beyond this would overflow float32 once squared (distances, variances): refused.
MAX_FLOAT_MAGNITUDE = 1e18


def _check_file(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CorruptFileError(path, "file does not exist") from None
    except (OSError, ValueError) as exc:
        raise CorruptFileError(path, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UnsupportedFormatError(path, "is a folder, expected an image file")
    if not stat.S_ISREG(st.st_mode):
        raise UnsupportedFormatError(path, "is not a regular file (a FIFO, socket or device)")
    if st.st_size == 0:
        raise EmptyFileError(path, "file is empty (0 bytes)")


def check_finite(path: Path, array: np.ndarray) -> None:
    """Refuse float pixels that are NaN, infinite or too large to compute with."""
    if not np.issubdtype(array.dtype, np.floating) or array.size == 0:
        return
    if not np.isfinite(array).all():
        n = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise CorruptFileError(path, f"{n:,} pixel value(s) are NaN or infinite")
    peak = float(np.max(np.abs(array)))
    if peak > MAX_FLOAT_MAGNITUDE:
        raise CorruptFileError(path, f"pixel values up to {peak:.3g} are implausibly large (limit {MAX_FLOAT_MAGNITUDE:.0e})")


def _normalise_channels(path: Path, array: np.ndarray) -> np.ndarray:
    """Grey stays 2-D; RGBA loses alpha; single-channel 3-D becomes 2-D."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    if array.ndim == 3 and array.shape[-1] == 2:  # grey + alpha
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise WrongDimensionError(path, f"unexpected image shape {array.shape}; expected grey (H, W) or RGB (H, W, 3)")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype not in (np.uint8, np.uint16):
        if np.issubdtype(array.dtype, np.integer) and array.min() >= 0 and array.max() <= 65535:
            array = array.astype(np.uint16)
        elif np.issubdtype(array.dtype, np.floating):
            check_finite(path, array)
            array = array.astype(np.float32)
        else:
            raise UnsupportedFormatError(path, f"pixel type {array.dtype} is not supported")
    if min(array.shape[:2]) < 2:
        raise WrongDimensionError(path, f"image is {array.shape[1]}x{array.shape[0]} pixels; too small to use")
    return np.ascontiguousarray(array)


def _png_is_16bit_colour(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(33)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    bit_depth, colour_type = struct.unpack(">BB", head[24:26])
    return bit_depth == 16 and colour_type in (2, 6)


_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I": 4, "F": 4}


def _check_pil_budget(path: Path, im) -> None:
    width, height = im.size
    bands = len(im.getbands())
    frames = int(getattr(im, "n_frames", 1) or 1)
    check_pixel_budget(path, width * height * bands, _MODE_BYTES.get(im.mode, 1), max_ratio=DEFLATE_MAX_RATIO)
    if frames > 1 and width * height * bands * frames > max_pixels():
        raise TooLargeError(path, f"holds {frames} frames of {width}x{height}; more than the pixel budget")


def _read_with_pil(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    im: Image.Image  # the opened file, then its conversion
    try:
        with warnings.catch_warnings():
            # our own budget (checked below, from the header) decides; PIL's bomb warning is not an error
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels():
                Image.MAX_IMAGE_PIXELS = max_pixels()  # only ever raised to our budget (other PIL users share it)
            with Image.open(path) as im:
                _check_pil_budget(path, im)
                im.load()  # forces full decode: truncated data raises here
                if im.mode == "P":
                    im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                    im = im.convert("RGB")
                elif im.mode == "1":
                    im = im.convert("L")
                elif im.mode == "I":
                    arr = np.asarray(im)
                    return arr.astype(np.uint16) if arr.min() >= 0 and arr.max() <= 65535 else arr
                return np.asarray(im)
    except InputError:
        raise
    except UnidentifiedImageError as exc:
        raise CorruptFileError(path, "not a readable image (unknown or damaged format)") from exc
    except Image.DecompressionBombError as exc:
        raise TooLargeError(path, f"refused as a decompression bomb ({exc}); raise {ENV_MAX_PIXELS} if this file is genuine") from None
    except MemoryError:
        raise TooLargeError(path, "image is too large to decode in the available memory") from None
    except Exception as exc:  # noqa: BLE001 - PIL raises many types (struct.error, ZeroDivisionError, ...) for damaged files
        msg = str(exc) or exc.__class__.__name__
        if "truncated" in msg.lower():
            msg = "image data is truncated"
        raise CorruptFileError(path, f"cannot decode image: {msg}") from exc


def _read_png16_colour(path: Path) -> np.ndarray:
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise CorruptFileError(path, "cannot decode 16-bit colour PNG")
    return arr[..., 2::-1] if arr.shape[-1] in (3, 4) else arr


def _read_tiff(path: Path) -> tuple[np.ndarray, str]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise CorruptFileError(path, "TIFF holds no image data")
            if len(tif.series) > 1:
                shapes = ", ".join(f"{tuple(s.shape)} {s.dtype}" for s in tif.series[:4])
                raise WrongDimensionError(
                    path, f"TIFF pages are inconsistent ({len(tif.series)} series: {shapes}); refusing rather than reading a part"
                )
            series = tif.series[0]
            axes = series.axes
            itemsize = np.dtype(series.dtype).itemsize if series.dtype is not None else 1
            raw = int(getattr(tif.pages[0], "compression", 1) or 1) == 1  # uncompressed strips must fit in the file
            n = int(np.prod(series.shape, dtype=np.float64))
            check_pixel_budget(path, n, itemsize, stored_raw=raw, max_ratio=None if raw else 4 * DEFLATE_MAX_RATIO)
            array = series.asarray()
    except InputError:
        raise
    except MemoryError:
        raise TooLargeError(path, "TIFF is too large to decode in the available memory") from None
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types (ZeroDivisionError, RuntimeError, ...) on bad headers
        raise CorruptFileError(path, f"cannot decode TIFF: {exc or exc.__class__.__name__}") from exc
    if array is None or array.size == 0:
        raise CorruptFileError(path, "TIFF holds no pixel data")
    return array, axes


def read_image(path: str | Path) -> np.ndarray:
    """Read one 2-D image. A multi-page TIFF is refused here: use :func:`read_stack`."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UnsupportedFormatError(
            path, f"'{suffix or 'no extension'}' is not an image type we read ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    if suffix in TIFF_SUFFIXES:
        array, axes = _read_tiff(path)
        array = _squeeze_tiff(path, array, axes)
        if array.ndim == 4 or (array.ndim == 3 and array.shape[-1] not in (1, 2, 3, 4)):
            raise WrongDimensionError(path, f"TIFF holds {array.shape[0]} pages; open it as a B-scan stack")
        return _normalise_channels(path, array)
    array = _read_with_pil(path)
    if suffix == ".png" and _png_is_16bit_colour(path):
        array = _read_png16_colour(path)
    return _normalise_channels(path, array)


def _squeeze_tiff(path: Path, array: np.ndarray, axes: str) -> np.ndarray:
    """Reduce tifffile's axes to (N?, H, W, S?). Colour channels must be 1-4 samples per pixel; a
    channel axis (C) or more samples are not pages of a B-scan stack."""
    if "S" in axes and array.shape[axes.index("S")] not in (1, 2, 3, 4):
        raise WrongDimensionError(path, f"TIFF has {array.shape[axes.index('S')]} samples per pixel; expected grey, RGB or RGBA")
    if "C" in axes and array.shape[axes.index("C")] > 1:
        raise WrongDimensionError(
            path, f"TIFF has {array.shape[axes.index('C')]} channels (axes {axes}); an OCT stack holds one grey or RGB image per page"
        )
    keep = []
    for i, ax in enumerate(axes):
        if ax in "YXS":
            keep.append(i)
        elif array.shape[i] == 1:
            continue
        else:
            keep.append(i)
    array = array.reshape([array.shape[i] for i in keep]) if len(keep) != array.ndim else array
    kept_axes = "".join(axes[i] for i in keep)
    # Multiple non-spatial axes (e.g. time and depth) are flattened into one page axis.
    spatial = sum(1 for a in kept_axes if a in "YXS")
    if array.ndim - spatial > 1:
        array = array.reshape((-1,) + array.shape[array.ndim - spatial :])
    if "S" in kept_axes and kept_axes.index("S") != len(kept_axes) - 1:
        raise WrongDimensionError(path, f"planar-configured TIFF with axes {axes} is not supported")
    return array


def read_stack(path: str | Path) -> np.ndarray:
    """Read a B-scan stack: a multi-page TIFF (or a single image, returned as a 1-page stack)."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix not in TIFF_SUFFIXES:
        return read_image(path)[None]
    array, axes = _read_tiff(path)
    array = _squeeze_tiff(path, array, axes)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3 and "S" in axes):
        array = array[None]
    if array.ndim == 4 and array.shape[-1] == 4:
        array = array[..., :3]
    if array.ndim not in (3, 4):
        raise WrongDimensionError(path, f"unexpected stack shape {array.shape}")
    pages = [_normalise_channels(path, page) for page in array]
    return np.stack(pages)


def write_png(path: str | Path, array: np.ndarray, compress_level: int = 3) -> None:
    """Write an 8/16-bit grey or 8-bit RGB PNG atomically."""
    from PIL import Image

    a = np.ascontiguousarray(array)
    if a.ndim == 3 and a.shape[-1] == 3 and a.dtype == np.uint16:
        import cv2

        ok, buf = cv2.imencode(".png", a[..., ::-1])
        if not ok:
            raise OSError(f"{path}: PNG encoding failed")
        with atomic_path(path) as tmp:
            tmp.write_bytes(buf.tobytes())
        return
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    im = Image.fromarray(a)
    with atomic_path(path) as tmp:
        im.save(tmp, format="PNG", compress_level=compress_level)


def write_tiff_stack(path: str | Path, stack: np.ndarray) -> None:
    import tifffile

    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, np.ascontiguousarray(stack), photometric="rgb" if stack.ndim == 4 else "minisblack")


def to_display_rgb(array: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Map any grey/RGB array to uint8 RGB for thumbnails and models that want 8-bit colour."""
    a = np.asarray(array)
    if a.dtype == np.uint8 and low is None and high is None:
        out = a
    else:
        af = a.astype(np.float32)
        lo = float(np.min(af)) if low is None else low
        hi = float(np.max(af)) if high is None else high
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        out = np.clip((af - lo) * scale, 0, 255).astype(np.uint8)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=-1)
    return out
