"""Confinement helpers for the workspace layer and above (see :mod:`core.io.paths`, where they
live so that readers below the workspace, such as the LabelMe reader, can use them too)."""

from core.io.paths import ID_KINDS, MAX_ID_LENGTH, MAX_PAGE, confine, inside, is_valid_id, validate_id

__all__ = ["ID_KINDS", "MAX_ID_LENGTH", "MAX_PAGE", "confine", "inside", "is_valid_id", "validate_id"]
