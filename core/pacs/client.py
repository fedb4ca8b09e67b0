"""A DICOMweb connection to one PACS: QIDO-RS search, WADO-RS retrieve, STOW-RS store.

Built on ``dicomweb_client.DICOMwebClient`` with a ``requests`` session that carries the auth
(basic or bearer) and the TLS settings (verification on unless the server entry turns it off; an
optional CA bundle). Every failure becomes a :class:`core.pacs.errors.PacsError` subclass with
one readable line that names the server and the URL but never a credential.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import requests

from core.pacs.errors import PacsAuthError, PacsConnectionError, PacsError, PacsNotFoundError
from core.pacs.query import SeriesRow, StudyQuery, StudyRow, parse_series, parse_studies
from core.settings import PacsServer

log = logging.getLogger(__name__)
RETRY_ATTEMPTS, RETRY_WAIT_MS = 3, 250
logging.getLogger("dicomweb_client").setLevel(logging.WARNING)  # its INFO lines only repeat the URL


class _BearerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer <token>`` to each request (kept out of header dicts that get logged)."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<hidden>)"


class _WildcardSession(requests.Session):
    """Sends the QIDO wildcards ``*`` and ``?`` unencoded in a URL query (both are legal there, and
    equivalent to their percent-encoding for a conforming server). dicomweb-client percent-encodes
    every filter value, which Orthanc 1.10 does not decode: ``PatientName=%2Aanna%2A`` finds nothing."""

    def request(self, method, url, *args, **kwargs):
        if isinstance(url, str) and "?" in url:
            head, _, query = url.partition("?")
            url = head + "?" + re.sub("%3[fF]", "?", re.sub("%2[aA]", "*", query))
        return super().request(method, url, *args, **kwargs)


def make_session(server: PacsServer, secret: str | None) -> requests.Session:
    """A requests session with the server's auth and TLS settings (CA bundle through dicomweb_client.session_utils)."""
    from dicomweb_client.session_utils import add_certs_to_session

    session = _WildcardSession()
    if server.auth == "basic":
        if not secret:
            raise PacsAuthError(f"PACS '{server.name}': no password stored for user '{server.username}' (set it in the PACS settings)")
        session.auth = (server.username or "", secret)
    elif server.auth == "bearer":
        if not secret:
            raise PacsAuthError(f"PACS '{server.name}': no bearer token stored (set it in the PACS settings)")
        session.auth = _BearerAuth(secret)
    session.verify = bool(server.verify_tls)
    if server.ca_bundle:
        if not Path(server.ca_bundle).expanduser().is_file():
            raise PacsConnectionError(f"PACS '{server.name}': CA bundle {server.ca_bundle} does not exist")
        add_certs_to_session(session, ca_bundle=str(Path(server.ca_bundle).expanduser()))
    return session


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("getaddrinfo failed", "host name not found"),
        ("No route to host", "no route to host"),
        ("Network is unreachable", "network unreachable"),
        ("Connection reset", "connection reset by the server"),
        ("RemoteDisconnected", "the server closed the connection"),
    ):
        if needle in text:
            return reason
    return text.splitlines()[0][:160] if text else exc.__class__.__name__


class PacsClient:
    """One server. Create with the server entry and its secret (core.pacs.credentials.get_secret)."""

    def __init__(self, server: PacsServer, secret: str | None = None):
        from dicomweb_client import DICOMwebClient

        self.server = server
        self._session = make_session(server, secret)
        self._dw = DICOMwebClient(server.url.rstrip("/"), session=self._session, timeout=float(server.timeout_s))
        # dicomweb-client retries every failed request 5 times with 2-32 s pauses (half a minute
        # before "unreachable" reaches the user); 3 attempts with 0.5 s and 1 s pauses instead.
        self._dw.set_http_retry_params(retry=True, max_attempts=RETRY_ATTEMPTS, wait_exponential_multiplier=RETRY_WAIT_MS)

    def __repr__(self) -> str:
        return f"PacsClient({self.server.name!r}, {self.server.url!r})"

    @property
    def name(self) -> str:
        return self.server.name

    def close(self) -> None:
        self._session.close()

    # -- errors ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _answer(self, what: str) -> Iterator[None]:
        where = f"PACS '{self.server.name}' at {self.server.url}"
        try:
            yield
        except requests.exceptions.SSLError as exc:
            raise PacsConnectionError(
                f"{where}: TLS certificate verification failed while trying to {what} ({_short_reason(exc)}); "
                "give the server's CA bundle in the PACS settings"
            ) from None
        except requests.exceptions.Timeout:
            raise PacsConnectionError(f"{where}: no answer within {self.server.timeout_s:g} s while trying to {what}") from None
        except requests.exceptions.ConnectionError as exc:
            raise PacsConnectionError(f"{where} is unreachable ({_short_reason(exc)}) while trying to {what}") from None
        except requests.exceptions.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else 0
            if code == 401:
                raise PacsAuthError(
                    f"{where} refused the credentials (HTTP 401) while trying to {what}; check the user name and password or token"
                ) from None
            if code == 403:
                raise PacsAuthError(f"{where}: this account may not {what} (HTTP 403 Forbidden)") from None
            if code == 404:
                raise PacsNotFoundError(f"{where}: cannot {what}: not found on the server (HTTP 404)") from None
            reason = exc.response.reason if exc.response is not None else ""
            raise PacsError(f"{where}: cannot {what}: HTTP {code} {reason}".rstrip()) from None
        except requests.exceptions.RequestException as exc:
            raise PacsError(f"{where}: cannot {what}: {_short_reason(exc)}") from None
        except (ValueError, TypeError, KeyError, EOFError) as exc:
            raise PacsError(f"{where}: unexpected answer while trying to {what}: {str(exc)[:200]}") from None

    # -- QIDO-RS ----------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise a PacsError unless the server answers a QIDO-RS search with these credentials."""
        with self._answer("search for studies"):
            self._dw.search_for_studies(limit=1)

    def search_studies(self, query: StudyQuery | None = None) -> list[StudyRow]:
        """Studies matching ``query`` (one QIDO-RS request per modality asked for, merged)."""
        query = query or StudyQuery()
        found: dict[str, StudyRow] = {}
        for filters in query.qido_filters():
            with self._answer("search for studies"):
                rows = self._dw.search_for_studies(
                    search_filters=filters, fields=list(query.FIELDS), limit=query.limit, fuzzymatching=query.fuzzy or None
                )
            for row in parse_studies(rows):
                if query.matches(row):
                    found.setdefault(row.study_uid, row)
        return sorted(found.values(), key=lambda r: (r.study_date, r.study_time), reverse=True)[: query.limit]

    def search_series(self, study_uid: str) -> list[SeriesRow]:
        with self._answer(f"list the series of study {study_uid}"):
            rows = self._dw.search_for_series(study_uid, fields=list(SeriesRow.FIELDS))
        return sorted(parse_series(rows, study_uid), key=lambda s: (s.number if s.number is not None else 10**9, s.series_uid))

    def search_instances(self, study_uid: str, series_uid: str) -> list[str]:
        """SOP Instance UIDs of a series, in instance-number order."""
        import pydicom

        with self._answer(f"list the instances of series {series_uid}"):
            rows = self._dw.search_for_instances(study_uid, series_uid, fields=["InstanceNumber"], get_remaining=True)
        items = []
        for obj in rows:
            ds = pydicom.Dataset.from_json(obj)
            sop = str(ds.get("SOPInstanceUID", "") or "")
            if sop:
                number = ds.get("InstanceNumber")
                items.append((int(number) if number not in (None, "") else 10**9, sop))
        return [sop for _, sop in sorted(items)]

    # -- WADO-RS ----------------------------------------------------------------------------------
    def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str):
        """One instance as a pydicom Dataset (the server's own transfer syntax)."""
        with self._answer(f"retrieve instance {sop_uid}"):
            ds = self._dw.retrieve_instance(study_uid, series_uid, sop_uid, media_types=(("application/dicom", "*"),))
        if str(getattr(ds, "SOPInstanceUID", "")) != sop_uid:
            raise PacsError(f"PACS '{self.server.name}' returned another instance than {sop_uid}")
        return ds

    # -- STOW-RS ----------------------------------------------------------------------------------
    def store(self, datasets: Sequence) -> dict:
        """Store ``datasets`` (one study). Returns {"stored": [uids], "failed": [{"sop_uid", "reason"}]}."""
        if not datasets:
            return {"stored": [], "failed": []}
        study = str(datasets[0].StudyInstanceUID)
        with self._answer(f"store {len(datasets)} object(s) in study {study}"):
            answer = self._dw.store_instances(list(datasets), study_instance_uid=study)
        stored = [str(item.ReferencedSOPInstanceUID) for item in answer.get("ReferencedSOPSequence", []) or []]
        failed = [
            {"sop_uid": str(item.get("ReferencedSOPInstanceUID", "")), "reason": f"failure reason {item.get('FailureReason', '?')}"}
            for item in answer.get("FailedSOPSequence", []) or []
        ]
        return {"stored": stored, "failed": failed}
