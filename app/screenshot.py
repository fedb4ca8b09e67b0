"""Save a rendering of a window as a PNG (atomic write): ``gui --screenshot``, ``--smoke``, tests."""

from __future__ import annotations

from pathlib import Path

from core.errors import StudioError


def save_screenshot(window, path: Path) -> None:
    from core.io.atomic import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    pixmap = window.grab()
    with atomic_path(path) as tmp:
        if not pixmap.save(str(tmp), "PNG"):
            raise StudioError(f"{path}: could not write the screenshot")
