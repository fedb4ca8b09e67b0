"""Symptom-class catalog: the bundled sets in resources/ plus classes a workspace adds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.resources import resource


@dataclass(frozen=True)
class SymptomClass:
    id: int
    name: str
    color: str  # '#rrggbb'
    set_name: str
    modality: str
    short: str = ""

    def rgb(self) -> tuple[int, int, int]:
        c = self.color.lstrip("#")
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


@dataclass(frozen=True)
class ClassSet:
    name: str
    title: str
    modality: str
    classes: tuple[SymptomClass, ...]

    def by_name(self, name: str) -> SymptomClass | None:
        return next((c for c in self.classes if c.name == name), None)

    def ids(self) -> dict[str, int]:
        return {c.name: c.id for c in self.classes}


def _parse(obj: dict, path: Path) -> dict[str, ClassSet]:
    sets = {}
    try:
        for set_name, s in obj["sets"].items():
            classes = tuple(
                SymptomClass(int(c["id"]), str(c["name"]), str(c.get("color", "#ff0000")), set_name, s["modality"], c.get("short", ""))
                for c in s["classes"]
            )
            ids = [c.id for c in classes]
            if len(set(ids)) != len(ids) or min(ids, default=1) < 1:
                raise InputError(path, f"class set '{set_name}' has duplicate or non-positive ids")
            sets[set_name] = ClassSet(set_name, s.get("title", set_name), s["modality"], classes)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(path, f"malformed class catalog ({exc})") from None
    return sets


def load_catalog(path: str | Path | None = None) -> tuple[dict[str, ClassSet], dict[str, str]]:
    """Return (sets by name, default set name per modality)."""
    p = Path(path) if path else resource("symptom_classes.json")
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(p, f"broken JSON at line {exc.lineno}: {exc.msg}") from None
    return _parse(obj, p), dict(obj.get("defaults", {}))


def default_set(modality: str, extra: dict | None = None) -> ClassSet:
    sets, defaults = load_catalog()
    base = sets[defaults.get(modality, modality)]
    if not extra:
        return base
    added = [c for c in extra.get(modality, []) if base.by_name(c["name"]) is None]
    next_id = max((c.id for c in base.classes), default=0) + 1
    more = tuple(SymptomClass(next_id + i, c["name"], c.get("color", "#ff00ff"), base.name, modality) for i, c in enumerate(added))
    return ClassSet(base.name, base.title, modality, base.classes + more)
