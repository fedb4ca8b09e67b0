"""Listing an import source folder without trusting it.

Only regular files and real folders inside the source are returned. Everything else is skipped
with a reason for the import report: symlinks that leave the source (or point at folders, which
could loop), FIFOs, sockets and devices (opening one would block or read forever), folders named
like image files, unreadable folders, and anything past the depth and entry limits.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from core.io.images import IMAGE_SUFFIXES
from core.io.nifti import is_nifti

MAX_DEPTH = 32
MAX_ENTRIES = 200_000


@dataclass
class SourceListing:
    folders: list[Path] = field(default_factory=list)  # the source and every real folder below it
    files: dict[Path, list[Path]] = field(default_factory=dict)  # folder -> its usable files, sorted


def _looks_like_image(name: str) -> bool:
    lower = name.lower()
    return is_nifti(lower) or os.path.splitext(lower)[1] in IMAGE_SUFFIXES


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def list_source(src: Path, skipped: list[dict]) -> SourceListing:
    """Walk ``src``; usable entries go into the listing, the rest into ``skipped``."""
    root = src.resolve()
    out = SourceListing()
    stack: list[tuple[Path, int]] = [(src, 0)]
    seen = 0
    while stack:
        folder, depth = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            skipped.append({"path": str(folder), "reason": f"folder cannot be read ({exc.strerror or exc})"})
            continue
        out.folders.append(folder)
        files: list[Path] = []
        for entry in entries:
            seen += 1
            if seen > MAX_ENTRIES:
                skipped.append({"path": str(folder), "reason": f"more than {MAX_ENTRIES:,} entries in the source; the rest were not read"})
                stack.clear()
                break
            path = Path(entry.path)
            if entry.name.startswith("."):
                continue
            reason = _refusal(entry, path, root, depth)
            if reason:
                skipped.append({"path": str(path), "reason": reason})
            elif entry.is_dir(follow_symlinks=False):
                stack.append((path, depth + 1))
            else:
                files.append(path)
        out.files[folder] = files
    out.folders.sort()
    return out


def _refusal(entry: os.DirEntry, path: Path, root: Path, depth: int) -> str | None:
    try:
        if entry.is_symlink():
            target = path.resolve()
            if target != root and root not in target.parents:
                return f"symlink points outside the source folder (to {target})"
            st = path.stat()
            if stat.S_ISDIR(st.st_mode):
                return "symlink to a folder (not followed)"
        else:
            st = entry.stat(follow_symlinks=False)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        return f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
    if stat.S_ISDIR(st.st_mode):
        if depth + 1 > MAX_DEPTH:
            return f"folder nested deeper than {MAX_DEPTH} levels (not read)"
        if _looks_like_image(entry.name):
            return "a folder named like an image file (not read)"
        return None
    if not stat.S_ISREG(st.st_mode):
        return f"{_kind(st.st_mode)}, not a file"
    return None
