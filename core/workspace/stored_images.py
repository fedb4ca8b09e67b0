"""Image files inside the workspace: copying them in at import, and checking on every load that
the file is still the one that was imported.

At import the catalog records the SHA-256 of the decoded pixels and, in the image meta
(``extra["stored_file"]``), the file's size and ``mtime_ns``. A load compares size and mtime
first (one ``stat``); only when they changed are the pixels hashed again. A different hash is an
:class:`IntegrityError` naming the file; the same hash (a copied or touched workspace) is
accepted and the new size/mtime remembered.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.domain import ImageRecord, Modality
from core.errors import IntegrityError, StudioError, WorkspaceError
from core.hashing import array_sha256
from core.io.atomic import atomic_path
from core.io.images import write_png, write_tiff_stack
from core.io.loader import read_for_modality
from core.io.nifti import write_nifti
from core.io.volume import Volume
from core.workspace.paths import confine, validate_id

if TYPE_CHECKING:
    from core.workspace.workspace import Workspace

log = logging.getLogger(__name__)
STAMP_KEY = "stored_file"


def file_stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def store_image(ws: Workspace, case_id: str, im, written: list[Path]) -> ImageRecord:
    """Copy or write one :class:`NewImage` into ``images/<case>/`` and describe it. Every file
    written is appended to ``written`` so a failed import can remove it again."""
    validate_id("case", case_id)
    validate_id("image", im.name)
    meta = im.meta
    if im.source_path is not None:
        src = Path(im.source_path)
        loaded = read_for_modality(src, im.modality)  # validates before copying
        if isinstance(loaded, Volume) and src.is_dir():  # DICOM series -> NIfTI in scan space
            rel = f"images/{case_id}/{im.name}.nii.gz"
            target = confine(ws.root, rel)
            written.append(target)
            write_nifti(target, loaded.data, loaded.affine)
            meta.extra.setdefault("dicom", {k: v for k, v in loaded.meta.items() if k != "warnings"})
        else:
            ext = ".nii.gz" if src.name.lower().endswith(".nii.gz") else src.suffix.lower()
            rel = f"images/{case_id}/{im.name}{ext}"
            target = confine(ws.root, rel)
            written.append(target)
            with atomic_path(target) as tmp:
                shutil.copyfile(src, tmp)
        meta.source = meta.source or str(src)
    elif im.volume is not None:
        loaded = im.volume
        rel = f"images/{case_id}/{im.name}.nii.gz"
        target = confine(ws.root, rel)
        written.append(target)
        write_nifti(target, loaded.data, loaded.affine, header=loaded.header)
    elif im.array is not None:
        loaded = np.ascontiguousarray(im.array)
        if loaded.ndim == 3 and loaded.shape[-1] != 3 or loaded.ndim == 4:
            rel = f"images/{case_id}/{im.name}.tif"
            target = confine(ws.root, rel)
            written.append(target)
            write_tiff_stack(target, loaded)
        else:
            rel = f"images/{case_id}/{im.name}.png"
            target = confine(ws.root, rel)
            written.append(target)
            write_png(target, loaded)
    else:
        raise WorkspaceError(f"image '{im.name}' of case '{case_id}' has no pixels and no source file")
    if isinstance(loaded, Volume):
        meta.affine = [[float(v) for v in row] for row in loaded.affine]
        meta.spacing = [float(s) for s in loaded.spacing]
        pixels = loaded.data
        if loaded.meta.get("warnings"):
            meta.extra["read_warnings"] = list(loaded.meta["warnings"])
    else:
        pixels = loaded
    # Hash what will be read back from disk, so cache keys match later loads exactly.
    if im.source_path is None:
        read_back = read_for_modality(target, im.modality)
        pixels = read_back.data if isinstance(read_back, Volume) else read_back
    meta.extra[STAMP_KEY] = file_stamp(target)
    return ImageRecord(
        id=f"{case_id}/{im.name}",
        case_id=case_id,
        name=im.name,
        modality=Modality(im.modality),
        path=rel,
        sha256=array_sha256(pixels),
        shape=tuple(int(s) for s in pixels.shape),
        dtype=str(pixels.dtype),
        meta=meta,
    )


def remove_written(ws: Workspace, case_id: str, written: list[Path], folder_existed: bool) -> None:
    """Undo a failed :func:`store_image` series: the files, and the case folder if we made it."""
    for path in written:
        try:
            path.unlink()
        except OSError:
            pass
    folder = ws.root / "images" / case_id
    if not folder_existed and folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def load_verified(ws: Workspace, image: ImageRecord, known: dict[str, dict]) -> np.ndarray | Volume:
    """Read an image file after checking it is still the imported one (see the module doc).

    ``known`` maps image ids to stamps already verified in this session."""
    path = ws.image_path(image)
    try:
        stamp = file_stamp(path)
    except FileNotFoundError:
        raise IntegrityError(path, f"the image file of {image.id} is missing from the workspace") from None
    except OSError as exc:
        raise IntegrityError(path, f"the image file of {image.id} cannot be read ({exc.strerror or exc})") from None
    loaded = read_for_modality(path, image.modality)
    after = file_stamp(path)  # a replacement while we read is hashed like any change
    if after == stamp and (stamp == image.meta.extra.get(STAMP_KEY) or stamp == known.get(image.id)):
        return loaded
    stamp = after
    pixels = loaded.data if isinstance(loaded, Volume) else loaded
    if array_sha256(pixels) != image.sha256:
        raise IntegrityError(
            path,
            f"the file of {image.id} was replaced or changed after import (its pixels no longer match the catalog's SHA-256); "
            "restore the original file or import the case again",
        )
    known[image.id] = stamp
    _remember_stamp(ws, image, stamp)
    return loaded


def _remember_stamp(ws: Workspace, image: ImageRecord, stamp: dict) -> None:
    """Store the verified size/mtime so the next session need not hash again (best effort)."""
    image.meta.extra[STAMP_KEY] = stamp
    try:
        ws.record_file_stamp(image, stamp)
    except (StudioError, OSError) as exc:
        log.info("could not record the verified stamp of %s: %s", image.id, exc)
    except Exception as exc:  # noqa: BLE001 - sqlite3 errors (read-only media): verified in memory is enough
        log.info("could not record the verified stamp of %s: %s", image.id, exc)
