"""QIDO-RS search filters and the study / series rows the product shows.

Filters are validated before they go to the server (dates, modality codes, no DICOM wildcard
or multi-value characters smuggled into names): bad input is an ``InputError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from core.errors import InputError

KNOWN_MODALITIES = ("OP", "OPT", "MR")  # what the product reads; any DICOM modality code may be searched
# Series that hold no images (results, reports, presentation states): listed, never retrieved for import
NON_IMAGE_MODALITIES = frozenset({"SEG", "SR", "KO", "PR", "RTSTRUCT", "REG", "DOC", "FID", "PLAN", "RWV", "AU", "ECG"})
_MODALITY_RE = re.compile(r"^[A-Z0-9]{1,16}$")
_BAD_TEXT = re.compile(r"[\\\x00-\x1f]")


def _parse_date(text: str | date | None, what: str) -> str | None:
    if text in (None, ""):
        return None
    if isinstance(text, date):
        return text.strftime("%Y%m%d")
    raw = str(text).strip()
    digits = raw.replace("-", "")
    if not re.fullmatch(r"\d{8}", digits):
        raise InputError(None, f"{what} '{raw}' is not a date: use YYYY-MM-DD")
    try:
        date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise InputError(None, f"{what} '{raw}' is not a valid date") from None
    return digits


def _clean_text(text: str, what: str) -> str:
    text = (text or "").strip()
    if _BAD_TEXT.search(text) or len(text) > 64:
        raise InputError(None, f"{what} must be plain text of at most 64 characters without '\\'")
    return text


_SAFE_PATTERN = re.compile(r"[^A-Za-z0-9._*?-]")


def server_pattern(text: str, *, substring: bool) -> str:
    """A QIDO match value the server sees with no percent-encoding: every character outside
    letters, digits, '.', '_', '-' and the wildcards becomes '?' (any one character). Orthanc 1.10
    does not decode percent-encoded query arguments, and '*' / '?' may appear raw in a URL query;
    :meth:`StudyQuery.matches` then checks the exact text on the rows that come back."""
    if substring and not any(c in text for c in "*?"):
        text = f"*{text}*"
    return _SAFE_PATTERN.sub("?", text)


def local_match(pattern: str, value: str, *, substring: bool) -> bool:
    """Case-insensitive DICOM-style match ('*' any run, '?' one character); '^' counts as a space."""
    pattern, value = pattern.replace("^", " ").strip(), value.replace("^", " ").strip()
    if substring and not any(c in pattern for c in "*?"):
        return pattern.casefold() in value.casefold()
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None


@dataclass(frozen=True)
class StudyQuery:
    """Study search: patient id (exact, or with ``*`` / ``?`` wildcards), patient name and study
    description (matched anywhere in the text unless wildcards are given, case-insensitively),
    study date range, modalities. The server narrows with the same values (see
    :func:`server_pattern`); :meth:`matches` gives the exact answer on the rows it returns."""

    FIELDS = ("StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", "StudyTime")

    patient_id: str = ""
    patient_name: str = ""
    date_from: str | date | None = None
    date_to: str | date | None = None
    modalities: tuple[str, ...] = ()
    description: str = ""
    limit: int = 200
    fuzzy: bool = False

    def _texts(self) -> tuple[str, str, str]:
        return (
            _clean_text(self.patient_id, "patient id"),
            _clean_text(self.patient_name, "patient name"),
            _clean_text(self.description, "description"),
        )

    def qido_filters(self) -> list[dict[str, str]]:
        """One filter dict per modality (QIDO matches one ModalitiesInStudy value at a time)."""
        base: dict[str, str] = {}
        pid, name, desc = self._texts()
        if pid:
            base["PatientID"] = server_pattern(pid, substring=False)
        if name:
            base["PatientName"] = server_pattern(name, substring=True)
        if desc:
            base["StudyDescription"] = server_pattern(desc, substring=True)
        start, end = _parse_date(self.date_from, "from date"), _parse_date(self.date_to, "to date")
        if start and end and start > end:
            raise InputError(None, f"the from date {start} lies after the to date {end}")
        if start or end:
            base["StudyDate"] = f"{start or ''}-{end or ''}"
        if not isinstance(self.limit, int) or not 1 <= self.limit <= 10_000:
            raise InputError(None, "limit must be between 1 and 10000")
        mods = []
        for m in self.modalities:
            code = str(m).strip().upper()
            if not _MODALITY_RE.match(code):
                raise InputError(None, f"'{m}' is not a DICOM modality code (OP, OPT, MR, ...)")
            if code not in mods:
                mods.append(code)
        return [dict(base, ModalitiesInStudy=m) for m in mods] or [base]

    def matches(self, row: StudyRow) -> bool:
        """The exact text conditions, checked on a row the server returned."""
        pid, name, desc = self._texts()
        return (
            (not pid or local_match(pid, row.patient_id, substring=False))
            and (not name or local_match(name, row.patient_name, substring=True))
            and (not desc or local_match(desc, row.description, substring=True))
        )


def _text(ds, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value)


def _int(ds, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class StudyRow:
    study_uid: str
    patient_id: str
    patient_name: str
    study_date: str  # YYYYMMDD or ""
    study_time: str
    description: str
    accession: str
    modalities: tuple[str, ...] = ()
    series: int | None = None
    instances: int | None = None

    @property
    def date_text(self) -> str:
        d = self.study_date
        return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 else d

    def to_json(self) -> dict:
        return {
            "study_uid": self.study_uid,
            "patient_id": self.patient_id,
            "patient_name": self.patient_name,
            "study_date": self.date_text,
            "description": self.description,
            "accession": self.accession,
            "modalities": list(self.modalities),
            "series": self.series,
            "instances": self.instances,
        }


@dataclass(frozen=True)
class SeriesRow:
    FIELDS = ("SeriesDescription", "NumberOfSeriesRelatedInstances", "SeriesNumber", "Modality")

    study_uid: str
    series_uid: str
    modality: str
    number: int | None
    description: str
    instances: int | None = None

    def to_json(self) -> dict:
        return {
            "series_uid": self.series_uid,
            "modality": self.modality,
            "number": self.number,
            "description": self.description,
            "instances": self.instances,
        }


def parse_studies(rows: list[dict]) -> list[StudyRow]:
    import pydicom

    out = []
    for obj in rows:
        ds = pydicom.Dataset.from_json(obj)
        uid = _text(ds, "StudyInstanceUID")
        if not uid:
            continue
        mods = ds.get("ModalitiesInStudy") or []
        mods = [mods] if isinstance(mods, str) else list(mods)
        out.append(
            StudyRow(
                study_uid=uid,
                patient_id=_text(ds, "PatientID"),
                patient_name=_text(ds, "PatientName").replace("^", " ").strip(),
                study_date=_text(ds, "StudyDate"),
                study_time=_text(ds, "StudyTime"),
                description=_text(ds, "StudyDescription"),
                accession=_text(ds, "AccessionNumber"),
                modalities=tuple(str(m) for m in mods if m),
                series=_int(ds, "NumberOfStudyRelatedSeries"),
                instances=_int(ds, "NumberOfStudyRelatedInstances"),
            )
        )
    return out


def parse_series(rows: list[dict], study_uid: str) -> list[SeriesRow]:
    import pydicom

    out = []
    for obj in rows:
        ds = pydicom.Dataset.from_json(obj)
        uid = _text(ds, "SeriesInstanceUID")
        if uid:
            out.append(
                SeriesRow(
                    study_uid=study_uid,
                    series_uid=uid,
                    modality=_text(ds, "Modality"),
                    number=_int(ds, "SeriesNumber"),
                    description=_text(ds, "SeriesDescription"),
                    instances=_int(ds, "NumberOfSeriesRelatedInstances"),
                )
            )
    return out
