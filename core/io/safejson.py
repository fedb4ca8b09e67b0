"""Reading JSON from untrusted files: bounded size, UTF-8 only, bounded nesting, no NaN literals.

Every failure is an ``InputError`` (or the subclass the caller names) with the file and the reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.io.limits import check_file_size

MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64


def _refuse_constant(name: str):
    raise ValueError(f"'{name}' is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large for a number")
    return value


def parse_json_text(text: str, path: str | Path | None = None, *, error: type[InputError] = InputError, max_depth: int = MAX_DEPTH):
    try:
        obj = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise error(path, f"broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise error(path, "JSON is nested too deeply") from None
    except ValueError as exc:  # NaN / Infinity literals
        raise error(path, f"broken JSON: {exc}") from None
    depth = json_depth(obj)
    if depth > max_depth:
        raise error(path, f"JSON is nested {depth} levels deep; at most {max_depth} are allowed")
    return obj


def read_json(path: str | Path, *, error: type[InputError] = InputError, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH):
    """Parse a JSON file; refuse files over ``max_bytes``, non-UTF-8 text and deep nesting."""
    path = Path(path)
    try:
        if not path.is_file():
            raise error(path, "is not a regular file" if path.exists() else "file does not exist")
        check_file_size(path, max_bytes, "JSON file")
        data = path.read_bytes()
    except InputError as exc:
        if isinstance(exc, error):
            raise
        raise error(path, exc.reason) from None
    except OSError as exc:
        raise error(path, f"cannot read: {exc.strerror or exc}") from None
    if not data.strip():
        raise error(path, "file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(path, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    return parse_json_text(text, path, error=error, max_depth=max_depth)


def json_depth(obj) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), computed without recursion."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest
