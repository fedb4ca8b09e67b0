"""Symptom classes of a workspace: the bundled set per modality plus the workspace's own changes.

Stored in the catalog's ``workspace_info`` under ``label_classes`` as JSON::

    {"active": {"fundus": "fundus_dr"},                      # chosen set per modality
     "added": {"fundus": [{"name": "drusen", "color": "#aabbcc"}]},   # per set, in order
     "renamed": {"oct": {"subretinal fluid": "SRF"}}}                 # per set, bundled name -> new

Ids never change: a renamed class keeps its id, an added class gets the next free id of its set.
Renaming also rewrites the labels already stored in the workspace (LabelMe files and MRI legends).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.classes import ClassSet, SymptomClass, load_catalog
from core.errors import InputError, WorkspaceError

if TYPE_CHECKING:
    from core.workspace.workspace import Workspace

INFO_KEY = "label_classes"
PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#ffe119",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#46f0f0",
    "#f032e6",
    "#bcf60c",
    "#fabebe",
    "#008080",
    "#e6beff",
    "#9a6324",
    "#fffac8",
    "#800000",
    "#aaffc3",
    "#808000",
    "#ffd8b1",
)


@dataclass
class ClassConfig:
    active: dict[str, str] = field(default_factory=dict)
    added: dict[str, list[dict]] = field(default_factory=dict)
    renamed: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"active": self.active, "added": self.added, "renamed": self.renamed}

    @classmethod
    def from_json(cls, obj: dict) -> ClassConfig:
        return cls(
            dict(obj.get("active") or {}),
            {k: list(v) for k, v in (obj.get("added") or {}).items()},
            {k: dict(v) for k, v in (obj.get("renamed") or {}).items()},
        )


def load_config(ws: Workspace) -> ClassConfig:
    text = ws.catalog.info(INFO_KEY)
    if not text:
        return ClassConfig()
    try:
        return ClassConfig.from_json(json.loads(text))
    except (json.JSONDecodeError, AttributeError, TypeError) as exc:
        raise WorkspaceError(f"{ws.root}: the workspace's class settings are unreadable ({exc})") from None


def save_config(ws: Workspace, cfg: ClassConfig, user: str = "system", action: str = "classes.change", details: dict | None = None) -> None:
    with ws.catalog.transaction():
        ws.catalog.set_info(INFO_KEY, json.dumps(cfg.to_json(), ensure_ascii=False))
        ws.catalog.audit(user, action, None, details or {})


def set_names(modality: str) -> list[str]:
    sets, _ = load_catalog()
    return [name for name, s in sets.items() if s.modality == modality]


def active_set_name(ws: Workspace, modality: str) -> str:
    sets, defaults = load_catalog()
    name = load_config(ws).active.get(modality) or defaults.get(modality, modality)
    if name not in sets:
        raise WorkspaceError(f"class set '{name}' for {modality} is not in the catalog")
    return name


def build_set(base: ClassSet, cfg: ClassConfig) -> ClassSet:
    renames = cfg.renamed.get(base.name, {})
    classes = [SymptomClass(c.id, renames.get(c.name, c.name), c.color, base.name, base.modality, c.short) for c in base.classes]
    next_id = max((c.id for c in classes), default=0) + 1
    for entry in cfg.added.get(base.name, []):
        name = renames.get(entry["name"], entry["name"])
        classes.append(SymptomClass(int(entry.get("id", next_id)), name, entry.get("color", "#ff00ff"), base.name, base.modality))
        next_id = max(next_id, classes[-1].id) + 1
    return ClassSet(base.name, base.title, base.modality, tuple(classes))


def workspace_class_set(ws: Workspace, modality: str, set_name: str | None = None) -> ClassSet:
    """The class set a workspace uses for ``modality`` (its chosen set with additions and renames)."""
    sets, _ = load_catalog()
    name = set_name or active_set_name(ws, modality)
    if name not in sets:
        raise WorkspaceError(f"unknown class set '{name}'; choose from {sorted(sets)}")
    return build_set(sets[name], load_config(ws))


def set_active_set(ws: Workspace, modality: str, set_name: str, user: str = "system") -> ClassSet:
    sets, _ = load_catalog()
    if set_name not in sets or sets[set_name].modality != modality:
        raise WorkspaceError(f"'{set_name}' is not a {modality} class set; choose from {set_names(modality)}")
    cfg = load_config(ws)
    cfg.active[modality] = set_name
    save_config(ws, cfg, user, "classes.set", {"modality": modality, "set": set_name})
    return workspace_class_set(ws, modality)


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InputError(None, "a class name cannot be empty")
    if len(name) > 120 or any(ch in name for ch in "\n\r\t"):
        raise InputError(None, f"class name '{name[:40]}' is too long or has control characters")
    return name


def next_colour(existing: list[str]) -> str:
    used = {c.lower() for c in existing}
    return next((c for c in PALETTE if c not in used), PALETTE[len(existing) % len(PALETTE)])


def add_class(ws: Workspace, modality: str, name: str, color: str | None = None, user: str = "system") -> SymptomClass:
    name = _check_name(name)
    current = workspace_class_set(ws, modality)
    if current.by_name(name) is not None:
        raise InputError(None, f"class '{name}' already exists in {current.title}")
    cfg = load_config(ws)
    new_id = max((c.id for c in current.classes), default=0) + 1
    if new_id > 255:
        raise InputError(None, f"{current.title} already has 255 classes (the most an index mask holds)")
    colour = color or next_colour([c.color for c in current.classes])
    cfg.added.setdefault(current.name, []).append({"name": name, "color": colour, "id": new_id})
    save_config(ws, cfg, user, "classes.add", {"set": current.name, "name": name, "id": new_id})
    added = workspace_class_set(ws, modality).by_name(name)
    if added is None:
        raise WorkspaceError(f"class '{name}' was saved but is not in {current.title}")
    return added


def rename_class(ws: Workspace, modality: str, old: str, new: str, user: str = "system", rewrite_labels: bool = True) -> int:
    """Rename a class of the active set; returns how many stored label files were rewritten."""
    new = _check_name(new)
    current = workspace_class_set(ws, modality)
    if current.by_name(old) is None:
        raise InputError(None, f"class '{old}' is not in {current.title}")
    if old == new:
        return 0
    if current.by_name(new) is not None:
        raise InputError(None, f"class '{new}' already exists in {current.title}")
    cfg = load_config(ws)
    renames = cfg.renamed.setdefault(current.name, {})
    original = next((k for k, v in renames.items() if v == old), old)
    if original == new:
        renames.pop(original, None)
    else:
        renames[original] = new
    save_config(ws, cfg, user, "classes.rename", {"set": current.name, "old": old, "new": new})
    return rewrite_stored_labels(ws, modality, old, new, user) if rewrite_labels else 0


def rewrite_stored_labels(ws: Workspace, modality: str, old: str, new: str, user: str = "system") -> int:
    """Apply a class rename to every stored label of ``modality`` (atomic per file)."""
    from core.io.atomic import atomic_write_json
    from core.io.labelme import read_labelme, write_labelme

    count = 0
    for case in ws.cases():
        for im in case.images:
            if im.modality.value != modality:
                continue
            folder = ws.label_dir(im)  # validated ids, confined to the workspace
            if im.is_volume:
                legend_path = ws.label_legend_path(im)
                if legend_path.exists():
                    legend = json.loads(legend_path.read_text(encoding="utf-8"))
                    if old in legend:
                        legend = {(new if k == old else k): v for k, v in legend.items()}
                        atomic_write_json(legend_path, legend)
                        count += 1
                continue
            for path in _label_files(folder, im.name):
                doc = read_labelme(path)
                hit = False
                for s in doc.shapes:
                    if s.label == old:
                        s.label, hit = new, True
                if old in doc.flags:
                    doc.flags = {(new if k == old else k): v for k, v in doc.flags.items()}
                    hit = True
                if hit:
                    write_labelme(path, doc)
                    count += 1
    if count:
        ws.catalog.audit(user, "labels.rename", None, {"modality": modality, "old": old, "new": new, "files": count})
    return count


def _label_files(folder: Path, image_name: str) -> list[Path]:
    if not folder.is_dir():
        return []
    out = []
    main = folder / f"{image_name}.json"
    if main.exists():
        out.append(main)
    out.extend(sorted(folder.glob(f"{image_name}_p[0-9][0-9][0-9].json")))
    return out


def legend_for(class_set: ClassSet, extra_labels: list[str] | None = None) -> dict[str, int]:
    """name -> id for index masks: the set's classes, then labels not in the set (ids after the set)."""
    legend = {c.name: c.id for c in class_set.classes}
    next_id = max(legend.values(), default=0) + 1
    for name in extra_labels or []:
        if name not in legend:
            legend[name] = next_id
            next_id += 1
    return legend
