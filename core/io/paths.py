"""Confinement: ids that become file names, and paths that must stay inside the workspace.

Every entry point that turns an id (case, image, model version, run, page) or a value read from
the catalog (``images.path``) into a path goes through this module:

* :func:`validate_id` checks an id against a strict pattern per kind and returns it unchanged;
* :func:`confine` joins parts under a root and refuses the result when it leaves the root once
  symlinks are resolved (``..``, absolute parts, NUL bytes, a symlink pointing outside);
* :func:`inside` answers the same question without raising.

Both raise :class:`core.errors.UnsafePathError` (an ``InputError``: exit code 2 on the command
line) naming the offending id or path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePath

from core.errors import UnsafePathError

MAX_ID_LENGTH = 128
MAX_PAGE = 99_999

# Names that become one path component: letters and digits first, then letters, digits, '.', '_', '-'.
_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_METHOD = re.compile(r"[a-z][a-z0-9_]{0,63}")
_PAGE = re.compile(r"[0-9]{1,5}")

ID_KINDS = ("case", "image", "version", "run", "model", "class", "page")
_DESCRIPTIONS = {
    "case": "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters, no '..'",
    "image": "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters, no '..'",
    "version": "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters, no '..'",
    "run": "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters, no '..'",
    "model": "lower-case letters, digits and '_', starting with a letter, at most 64 characters",
    "class": "1 to 120 printable characters without control characters or surrounding spaces",
    "page": f"a page number from 0 to {MAX_PAGE}",
}


def _shown(text: object) -> str:
    """A printable, bounded rendering of a hostile value for an error message."""
    r = repr(text)
    return r if len(r) <= 80 else r[:77] + "..."


def validate_id(kind: str, text: object) -> str:
    """Return ``text`` when it is a valid ``kind`` id, else raise :class:`UnsafePathError`.

    ``page`` also accepts an ``int`` and returns its decimal text."""
    if kind not in _DESCRIPTIONS:
        raise ValueError(f"unknown id kind '{kind}'; use one of {', '.join(ID_KINDS)}")
    if kind == "page":
        if isinstance(text, int) and not isinstance(text, bool) and 0 <= text <= MAX_PAGE:
            return str(text)
        if isinstance(text, str) and _PAGE.fullmatch(text) is not None:
            return str(int(text))
        raise UnsafePathError(None, f"invalid page {_shown(text)}: expected {_DESCRIPTIONS['page']}")
    if not isinstance(text, str):
        raise UnsafePathError(None, f"invalid {kind} id {_shown(text)}: expected text ({_DESCRIPTIONS[kind]})")
    if kind == "class":
        ok = 0 < len(text) <= 120 and text == text.strip() and text.isprintable()
    elif kind == "model":
        ok = _METHOD.fullmatch(text) is not None
    else:
        ok = _COMPONENT.fullmatch(text) is not None and ".." not in text
    if not ok:
        raise UnsafePathError(None, f"invalid {kind} id {_shown(text)}: use {_DESCRIPTIONS[kind]}")
    return text


def is_valid_id(kind: str, text: object) -> bool:
    try:
        validate_id(kind, text)
    except UnsafePathError:
        return False
    return True


def _check_part(part: object) -> str:
    text = os.fspath(part) if isinstance(part, (str, PurePath)) else None
    if text is None:
        raise UnsafePathError(None, f"path part {_shown(part)} is not text")
    if "\x00" in text:
        raise UnsafePathError(None, f"path {_shown(text)} contains a NUL byte")
    pure = PurePath(text)
    if pure.is_absolute() or pure.drive or pure.root or text.startswith(("/", "\\")):
        raise UnsafePathError(text, "is an absolute path; only paths relative to the workspace are allowed")
    return text


def inside(root: str | Path, path: str | Path) -> bool:
    """Is ``path`` (symlinks resolved) the folder ``root`` itself or inside it?"""
    try:
        text = os.fspath(path)
        if "\x00" in text:
            return False
        resolved = Path(text).resolve()
        base = Path(root).resolve()
    except (OSError, ValueError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return False
    return resolved == base or base in resolved.parents


def confine(root: str | Path, *parts: str | Path) -> Path:
    """``root / parts`` after checking that it stays inside ``root`` once symlinks are resolved.

    Returns the joined (unresolved) path so names stay as the caller wrote them."""
    checked = [_check_part(p) for p in parts]
    candidate = Path(root).joinpath(*checked)
    if not inside(root, candidate):
        try:
            where = str(candidate.resolve())
        except (OSError, RuntimeError, ValueError):
            where = "an unresolvable location"
        raise UnsafePathError(candidate, f"resolves to {where}, which is outside {Path(root)}")
    return candidate
