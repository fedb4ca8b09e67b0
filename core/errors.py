"""Typed errors for bad input. Every message names the file and says what is wrong."""

from __future__ import annotations

from pathlib import Path


class StudioError(Exception):
    """Base class for errors that are shown to the user as one readable line."""


class InputError(StudioError):
    """A file or folder given to us cannot be used. ``path`` and ``reason`` are kept apart."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = str(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class EmptyFileError(InputError):
    """The file has no content."""


class CorruptFileError(InputError):
    """The file is truncated or its content cannot be decoded."""


class UnsupportedFormatError(InputError):
    """The file type is not one we read."""


class WrongDimensionError(InputError):
    """The file decodes, but its shape is not what this reader expects."""


class WorkspaceError(StudioError):
    """The workspace is missing, not a workspace, or an operation on it is not allowed."""


class LabelFileError(InputError):
    """A LabelMe JSON file is malformed or points outside the workspace."""


class WeightsError(StudioError):
    """A weights file is missing or does not match the expected checksum."""


class CancelledError(StudioError):
    """Work was cancelled by the user."""


class ConfigError(StudioError):
    """A method setting (``--config K=V``, the Retrain dialog, a saved card) is unknown or has a bad value."""
