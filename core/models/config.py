"""Typed settings of the methods: one frozen dataclass per method, each field with its help text,
its value in the paper (where the paper gives one) and its allowed values.

* ``SettingsClass.parse(values, method=..., modalities=...)`` is the ONE place where settings from
  the command line (``--config K=V`` strings), the Retrain dialog and saved model cards become
  typed values; a bad key or value is a :class:`core.errors.ConfigError` naming the setting.
* ``describe(cls)`` lists the fields for ``models --json`` and the Retrain dialog's table/tooltips.
* Settings are immutable; ``replace(settings, **changes)`` (dataclasses) makes a changed copy.
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import Any, ClassVar

from core.errors import ConfigError

NO_VALUE = object()  # the paper gives no value for this setting
DEVICES = ("auto", "cpu", "cuda")


def field_default(f: Field) -> Any:
    """A settings field's default (every field made by :func:`setting` has a plain one)."""
    if f.default is MISSING:
        raise ConfigError(f"setting '{f.name}' has no default value")
    return f.default


def setting(
    default: Any,
    help: str,  # noqa: A002 - the field's help text
    *,
    paper: Any = NO_VALUE,
    note: str = "",
    choices: tuple | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    advanced: bool = False,
) -> Any:
    """A settings field: ``paper`` is the paper's value (omitted where the paper gives none; ``note``
    says more, e.g. that the setting is the product's own), ``choices`` the allowed values,
    ``minimum``/``maximum`` the allowed range; ``advanced`` fields are listed last."""
    meta = {"help": help, "paper": paper, "note": note, "choices": choices, "minimum": minimum, "maximum": maximum, "advanced": advanced}
    return field(default=default, metadata=meta)


def tiles_setting(fit_note: str) -> Any:
    """The ``tiles`` field of a method with tiled, native-resolution inference (core.models.tiling);
    ``fit_note`` says what fitting with the same tiling means for this method."""
    return setting(
        1,
        "Tiles per side for native-resolution inference (1: the whole image at the network's input size; 2-4: overlapping "
        "tiles of the image, each its own input, fundus tiles outside the field of view skipped, maps stitched with "
        "blending). " + fit_note,
        minimum=1,
        maximum=4,
        note="the product's, not the paper's",
    )


def tile_overlap_setting() -> Any:
    return setting(0.25, "Overlap of neighbouring tiles, as a share of a tile's side.", minimum=0.0, maximum=0.5, advanced=True)


@dataclass(frozen=True)
class BaseSettings:
    """Settings every method understands."""

    image_size: int = setting(256, "Side of the square image the network sees, in pixels.", minimum=16, maximum=4096)
    device: str = setting("auto", "Where the model runs: auto (CUDA when available, else CPU), cpu, cuda or cuda:N.")
    seed: int = setting(0, "Random seed of the calibration split, coreset sampling and training.")
    modality: str = setting(
        "", "Which images the model learns from and scores: fundus, oct, mri or slice (default: the method's first modality)."
    )
    calibration_holdout: float = setting(
        0.25,
        "Share of the normal images held out of fitting to calibrate scores (z-scores against held-out normals).",
        note="the product's calibration, not part of the paper",
        minimum=0.0,
        maximum=0.9,
    )
    threshold: float = setting(
        3.0,
        "Case threshold on the calibrated score: standard deviations above the held-out normals.",
        note="the product's operating point, not part of the paper",
    )
    contour_rule: str = setting(
        "auto",
        "How the heatmap contour's level is set from the calibration normals: pixels (the 99.9th percentile of their "
        "pixels), images (the 95th percentile of each normal's highest value: about one normal image in 20 shows a "
        "contour) or auto (images when the model is tiled, pixels otherwise: with tiles the maps are finer and the pixel "
        "percentile fell below the normals' own peaks, so most normal photos showed a contour).",
        note="the product's operating point, not part of the paper",
        choices=("auto", "pixels", "images"),
    )

    def resolved_contour_rule(self) -> str:
        """``pixels`` or ``images``: what ``auto`` means for these settings."""
        if self.contour_rule != "auto":
            return self.contour_rule
        return "images" if int(getattr(self, "tiles", 1)) > 1 else "pixels"

    METHOD: ClassVar[str] = ""  # the method these settings belong to (set by each method's class)

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_range(self.METHOD, f, getattr(self, f.name))
        if not (self.device in DEVICES or self.device.startswith("cuda:")):
            raise ConfigError(f"{self.METHOD}: setting 'device' must be auto, cpu, cuda or cuda:N, not '{self.device}'")
        self.validate()

    def validate(self) -> None:
        """Checks across fields (subclasses); raise :class:`ConfigError`."""

    @classmethod
    def derive(cls, values: dict[str, Any], given: set[str]) -> dict[str, Any]:
        """Hook: fill settings that follow from others (e.g. an encoder's input size) unless given."""
        return values

    # -- parsing -------------------------------------------------------------------------------
    @classmethod
    def parse(cls, values: Mapping[str, Any] | None = None, *, modalities: tuple[str, ...], strict: bool = True) -> BaseSettings:
        """Typed settings from ``values`` (strings or values) over the defaults. ``strict``: unknown
        keys are an error (user input); a saved card from an older version drops them instead."""
        method = cls.METHOD
        values = dict(values or {})
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown and strict:
            raise ConfigError(f"{method}: unknown config setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        out: dict[str, Any] = {}
        for name, f in known.items():
            if name in values:
                out[name] = coerce(values[name], hints[name], method, name)
            else:
                out[name] = field_default(f)
        out = cls.derive(out, {k for k in values if k in known})
        if not out["modality"]:
            out["modality"] = modalities[0]
        if out["modality"] not in modalities:
            raise ConfigError(f"{method} scores {', '.join(modalities)} images, not '{out['modality']}'")
        return cls(**out)

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def changes(self) -> dict[str, Any]:
        """Settings that differ from the defaults (what a user chose)."""
        defaults = {f.name: field_default(f) for f in fields(self)}
        return {k: v for k, v in self.to_json().items() if (list(defaults[k]) if isinstance(defaults[k], tuple) else defaults[k]) != v}


def describe(cls: type[BaseSettings]) -> list[dict[str, Any]]:
    """Each setting: name, type, default, help, the paper's value (None where it gives none) and a
    note, choices, range (``models --json``, the Retrain dialog)."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in fields(cls):
        m = f.metadata
        paper = m.get("paper", NO_VALUE)
        rows.append(
            {
                "name": f.name,
                "type": _type_name(hints[f.name]),
                "default": _jsonable(f.default),
                "help": m.get("help", ""),
                "paper": None if paper is NO_VALUE else _jsonable(paper),
                "note": m.get("note", ""),
                "choices": list(m["choices"]) if m.get("choices") else None,
                "minimum": m.get("minimum"),
                "maximum": m.get("maximum"),
                "advanced": bool(m.get("advanced")),
            }
        )
    return rows


def tooltip(row: dict[str, Any]) -> str:
    """A setting's help, allowed values, default and paper value as one tooltip."""
    parts = [row["help"]]
    if row["choices"]:
        parts.append("Allowed: " + ", ".join(str(c) for c in row["choices"]) + ".")
    lo, hi = row["minimum"], row["maximum"]
    if lo is not None and hi is not None:
        parts.append(f"Range {lo:g} to {hi:g}.")
    elif lo is not None:
        parts.append(f"At least {lo:g}.")
    elif hi is not None:
        parts.append(f"At most {hi:g}.")
    parts.append(f"Default: {json.dumps(row['default'])}.")
    paper = "not given" if row["paper"] is None else json.dumps(row["paper"])
    parts.append(f"Paper: {paper}" + (f" ({row['note']})." if row["note"] else "."))
    return " ".join(parts)


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def coerce(value: Any, kind: Any, method: str, name: str) -> Any:
    """A setting from a string (command line, dialog) or a JSON value (card) as the field's type."""
    origin = typing.get_origin(kind)
    try:
        if kind is bool:
            return _bool(value)
        if kind is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return int(value) if isinstance(value, int) else int(str(value).strip())
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            v = float(value)
            if not math.isfinite(v):
                raise ValueError
            return v
        if kind is str:
            if isinstance(value, (list, tuple)):
                return ",".join(str(v) for v in value)
            if not isinstance(value, (str, int, float)):
                raise ValueError
            return str(value).strip()
        if origin is tuple:
            item = typing.get_args(kind)[0]
            if isinstance(value, str):
                text = value.strip()
                items = json.loads(text) if text.startswith("[") else [s for s in text.split(",") if s.strip()]
            else:
                items = list(value)
            return tuple(coerce(v, item, method, name) for v in items)
    except ConfigError:
        raise
    except (ValueError, TypeError, json.JSONDecodeError):
        pass
    raise ConfigError(f"{method}: setting '{name}' expects {_type_name(kind)}, got {value!r}")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) is tuple:
        return f"list of {_type_name(typing.get_args(kind)[0])}"
    return {bool: "true/false", int: "an integer", float: "a number", str: "text"}.get(kind, str(kind))


def _check_range(method: str, f: Field, value: Any) -> None:
    m = f.metadata
    choices, lo, hi = m.get("choices"), m.get("minimum"), m.get("maximum")
    if choices and value not in choices:
        raise ConfigError(f"{method}: setting '{f.name}' must be one of {', '.join(map(str, choices))}, not {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if lo is not None and value < lo:
            raise ConfigError(f"{method}: setting '{f.name}' must be at least {lo:g}, got {value:g}")
        if hi is not None and value > hi:
            raise ConfigError(f"{method}: setting '{f.name}' must be at most {hi:g}, got {value:g}")


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["k=v", ...]`` from ``--config`` into a dict of strings (typed later by ``parse``)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--config '{item}': expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out
