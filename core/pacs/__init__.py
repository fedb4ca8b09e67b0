"""PACS over DICOMweb: query (QIDO-RS), retrieve (WADO-RS) into the workspace through the same
readers as local files, and send results back (STOW-RS) as DICOM SEG, Parametric Map and SR.

Modules: ``client`` (one server), ``query`` (filters and rows), ``retrieve`` (fetch + import +
duplicate detection), ``provenance`` (DICOM source of each image), ``encode`` / ``verify``
(highdicom objects and their read-back checks), ``send`` (plan, store, audit), ``stored`` (the
workspace results a send reads), ``credentials`` (passwords and tokens, never in settings.json).
Qt-free; the GUI (app/dialogs/pacs.py) and the CLI (core/cli_pacs.py) share all of it.
"""

from __future__ import annotations

from core.pacs.errors import PacsAuthError, PacsConnectionError, PacsError, PacsNotFoundError, PartialRetrieveError

__all__ = ["PacsAuthError", "PacsConnectionError", "PacsError", "PacsNotFoundError", "PartialRetrieveError", "connect"]


def connect(server):
    """A :class:`core.pacs.client.PacsClient` for a settings entry, with its stored secret."""
    from core.pacs.client import PacsClient
    from core.pacs.credentials import get_secret

    return PacsClient(server, get_secret(server.name) if server.auth != "none" else None)
