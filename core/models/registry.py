"""Method registry: name -> "module:Class", imported only when used (torch loads lazily)."""

from __future__ import annotations

import importlib
from typing import Any

from core.errors import ConfigError

METHODS: dict[str, str] = {
    "patchcore": "core.models.patchcore.model:PatchCore",
    "resad": "core.models.resad.model:ReSAD",
    "mias_sam": "core.models.mias_sam.model:MiasSam",
    "resynthdetect": "core.models.resynthdetect.model:ReSynthDetect",
    "mmrad": "core.models.mmrad.model:MMRAD",
    "rasalore": "core.models.rasalore.model:Rasalore",
}


def register(name: str, target: str) -> None:
    METHODS[name] = target


def model_class(name: str):
    try:
        target = METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown model '{name}'; available: {', '.join(sorted(METHODS))}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def create_model(name: str, **config: Any):
    return model_class(name)(**config)


def list_models() -> list[dict]:
    """Registered methods with their capabilities and settings (name, type, default, help, the
    paper's value) generated from the settings dataclasses; no weights are loaded."""
    from core.models.config import describe

    out = []
    for name in sorted(METHODS):
        cls = model_class(name)
        settings = describe(cls.Settings)
        out.append(
            {
                "name": name,
                "title": cls.title,
                "paper": cls.paper,
                "modalities": list(cls.modalities),
                "trained": cls.capabilities.trained,
                "capabilities": cls.capabilities.to_json(),
                "default_config": {row["name"]: row["default"] for row in settings},
                "settings": settings,
                "deviations": list(cls.deviations),
                "faithful_config": dict(cls.faithful_config),
            }
        )
    return out
