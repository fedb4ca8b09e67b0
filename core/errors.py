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


class UnsafePathError(InputError):
    """An id or a stored path would leave the workspace (or is not a valid id at all)."""


class TooLargeError(WrongDimensionError):
    """A file claims more pixels/voxels than the configured budget allows (or than it holds)."""


class IntegrityError(InputError):
    """A stored file is not what the catalog recorded (replaced or changed on disk)."""


class CatalogDamagedError(WorkspaceError):
    """``workspace.sqlite`` exists but is empty, unreadable or damaged."""


class LockBusyError(StudioError):
    """Another process holds a lock (database, array store, workspace) for longer than we wait."""


class DiskFullError(StudioError, OSError):
    """Not enough free space to write; nothing already stored was touched. Also an ``OSError``,
    so code that already handles failed writes keeps handling it."""
