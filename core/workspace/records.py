"""Catalog rows to domain records (plain data; no file access)."""

from __future__ import annotations

import json

from core.domain import CaseKind, CaseRecord, Decision, ImageMeta, ImageRecord, Modality, ReviewStatus


def count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def image_from_row(r) -> ImageRecord:
    return ImageRecord(
        id=r["id"],
        case_id=r["case_id"],
        name=r["name"],
        modality=Modality(r["modality"]),
        path=r["path"],
        sha256=r["sha256"],
        shape=tuple(json.loads(r["shape"])),
        dtype=r["dtype"],
        meta=ImageMeta.from_json(json.loads(r["meta"])),
    )


def case_from_row(r, images: list[ImageRecord]) -> CaseRecord:
    return CaseRecord(
        id=r["id"],
        kind=CaseKind(r["kind"]),
        images=images,
        status=ReviewStatus(r["status"]),
        decision=Decision(r["decision"]) if r["decision"] else None,
        comment=r["comment"] or "",
        last_reviewer=r["last_reviewer"],
        reviewed_at=r["reviewed_at"],
        split=r["split"],
        truth=r["truth"],
        source=r["source"],
        created=r["created"],
        meta=json.loads(r["meta"] or "{}"),
    )
