"""Workspace folder: SQLite catalog, HDF5 array store, labels/ and images/."""

from core.workspace.workspace import NewImage, Workspace

__all__ = ["NewImage", "Workspace"]
