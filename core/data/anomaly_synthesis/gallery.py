"""A contact sheet of synthetic samples (image with the mask outlined) written as one PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.data.anomaly_synthesis.common import as_hwc_uint8


def outlined(image: np.ndarray, mask: np.ndarray, colour=(0, 255, 255), tile: int = 256) -> np.ndarray:
    """RGB tile of ``tile`` px (longest side) with the mask's outline drawn on the image."""
    import cv2

    rgb, _ = as_hwc_uint8(image)
    h, w = rgb.shape[:2]
    s = tile / max(h, w)
    size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    m = cv2.resize(np.asarray(mask, np.uint8), size, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.ascontiguousarray(small)
    cv2.drawContours(out, contours, -1, colour, 1)
    canvas = np.zeros((tile, tile, 3), np.uint8)
    canvas[: out.shape[0], : out.shape[1]] = out
    return canvas


def gallery(rows: Sequence[Sequence[tuple[np.ndarray, np.ndarray, str]]], tile: int = 256) -> np.ndarray:
    """Rows of (image, mask, caption) -> one RGB sheet."""
    import cv2

    ncol = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (tile + 18), ncol * (tile + 4), 3), 24, np.uint8)
    for i, row in enumerate(rows):
        for j, (image, mask, caption) in enumerate(row):
            y, x = i * (tile + 18), j * (tile + 4)
            sheet[y : y + tile, x : x + tile] = outlined(image, mask, tile=tile)
            cv2.putText(sheet, caption[:38], (x + 2, y + tile + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (230, 230, 230), 1, cv2.LINE_AA)
    return sheet


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    import cv2

    from core.io.atomic import atomic_write_bytes

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    atomic_write_bytes(path, buf.tobytes())
    return path
