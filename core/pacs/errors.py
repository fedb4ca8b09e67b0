"""PACS errors: one readable line each, never with a password or token in it."""

from __future__ import annotations

from core.errors import StudioError


class PacsError(StudioError):
    """The PACS answered in a way we cannot use, or an object cannot be sent."""


class PacsConnectionError(PacsError):
    """The server cannot be reached: refused, unknown host, timeout, TLS verification failed."""


class PacsAuthError(PacsError):
    """The server refused the credentials (HTTP 401) or the action (HTTP 403)."""


class PacsNotFoundError(PacsError):
    """The study, series or instance is not on the server (HTTP 404)."""


class PartialRetrieveError(PacsError):
    """Some series or instances did not arrive; what arrived is kept and the rest is named."""
