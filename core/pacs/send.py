"""Send a case's results back to the PACS (STOW-RS), only on a user's explicit action.

:func:`plan_send` builds every object (SEG of the reviewed labels, Parametric Map of the heatmap,
SR of score / threshold / decisions / model) for the images of a case that came from a PACS,
validates each by reading it back, and says what will be sent and what cannot be (and why).
:func:`send` stores the planned objects and writes one ``pacs.send`` audit entry (server name
and URL, what was sent; never a credential).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from pydicom.dataset import Dataset

from core.domain import ImageRecord
from core.pacs import encode, stored, verify
from core.pacs.client import PacsClient
from core.pacs.errors import PacsError
from core.pacs.provenance import source_headers, source_of

if TYPE_CHECKING:
    from core.workspace.workspace import Workspace

KINDS = ("seg", "pmap", "sr")
TITLES = {"seg": "Segmentation", "pmap": "Parametric map", "sr": "Structured report"}


@dataclass
class Outgoing:
    kind: str  # seg | pmap | sr
    image: str | None  # image of the case it belongs to (None: the whole case)
    summary: str
    dataset: Dataset = field(repr=False)

    def to_json(self) -> dict:
        ds = self.dataset
        return {
            "kind": self.kind,
            "image": self.image,
            "summary": self.summary,
            "study_uid": str(ds.StudyInstanceUID),
            "series_uid": str(ds.SeriesInstanceUID),
            "sop_uid": str(ds.SOPInstanceUID),
        }


@dataclass
class SendPlan:
    case_id: str
    objects: list[Outgoing] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what is not sent and why

    def to_json(self) -> dict:
        return {"case": self.case_id, "objects": [o.to_json() for o in self.objects], "notes": self.notes}

    def lines(self) -> list[str]:
        out = [f"{TITLES[o.kind]}: {o.summary}" for o in self.objects]
        return out + [f"Not sent: {n}" for n in self.notes]


def _frames(image: ImageRecord, array: np.ndarray) -> np.ndarray:
    """Workspace pixels of one image -> (frames, rows, columns[, ...]) in source-frame order."""
    a = np.asarray(array)
    if image.is_volume:  # (X, Y, Z): slice k is a[:, :, k].T (rows = Y, columns = X)
        return np.ascontiguousarray(np.moveaxis(a, 2, 0).swapaxes(1, 2))
    return a[None]


def _colour(ws: Workspace, modality: str, name: str) -> tuple[int, int, int]:
    from core.labels.classes import workspace_class_set

    try:
        cls = workspace_class_set(ws, modality).by_name(name)
    except Exception:  # noqa: BLE001 - a workspace without a class set still sends its labels
        cls = None
    return cls.rgb() if cls is not None else (255, 0, 0)


def _label_masks(ws: Workspace, image: ImageRecord) -> tuple[np.ndarray | None, list[encode.SegmentSpec], str]:
    """(masks (frames, rows, columns, segments), segments, why none) of an image's reviewed labels."""
    if image.is_volume:
        stored_labels = ws.read_label_volume(image)
        if stored_labels is None:
            return None, [], "no label volume"
        labels, legend = stored_labels
        present = [(name, v) for name, v in sorted(legend.items(), key=lambda kv: kv[1]) if v > 0 and np.any(labels == v)]
        if not present:
            return None, [], "the label volume is empty"
        frames = _frames(image, labels)
        masks = np.stack([frames == v for _, v in present], axis=-1)
        return masks, [encode.SegmentSpec(name, _colour(ws, "mri", name)) for name, _ in present], ""
    if image.is_stack:
        return None, [], "labels of B-scan stacks are not sent yet"
    doc = ws.read_labels(image)
    if doc is None or not doc.shapes:
        return None, [], "no labels"
    names = list(dict.fromkeys(s.label for s in doc.shapes))
    per_class = [(n, doc.class_mask(n)) for n in names]
    per_class = [(n, m) for n, m in per_class if m.any()]
    if not per_class:
        return None, [], "the labels cover no pixel"
    masks = np.stack([m for _, m in per_class], axis=-1)[None]
    return masks, [encode.SegmentSpec(n, _colour(ws, image.modality.value, n)) for n, _ in per_class], ""


def _facts(case, result: stored.CaseResult | None) -> encode.ReportFacts:
    card = result.card if result else {}
    return encode.ReportFacts(
        case_id=case.id,
        score=result.score if result else None,
        threshold=result.threshold if result else None,
        model_decision=(None if result is None or result.abnormal is None else ("abnormal" if result.abnormal else "normal")),
        reviewer=case.last_reviewer if case.decision is not None else None,
        reviewer_decision=case.decision.value if case.decision is not None else None,
        comment=case.comment or "",
        method=(card.get("method") or result.model) if result else None,
        version=result.version if result else None,
        weights={str(k): str(v) for k, v in (card.get("weights") or {}).items()},
        state_sha256=str(card.get("state_sha256") or ""),
    )


def plan_send(
    ws: Workspace, case_id: str, *, model: str | None = None, version: str | None = None, include: tuple[str, ...] = KINDS
) -> SendPlan:
    """Build and validate what would be sent for ``case_id`` (nothing is sent here). The heatmap and
    score come from ``model`` (``version``, else its active one), or the newest active result."""
    bad = [k for k in include if k not in KINDS]
    if bad:
        raise PacsError(f"unknown object kind '{bad[0]}': choose from {', '.join(KINDS)}")
    case = ws.case(case_id)
    sources = {im.name: src for im in case.images if (src := source_of(im)) is not None}
    sourced = [im for im in case.images if im.name in sources]
    if not sourced:
        raise PacsError(f"case '{case_id}' has no image retrieved from a PACS; results can only go back to the instances they refer to")
    plan = SendPlan(case_id)
    result = stored.case_result(ws, case_id, model, version)
    headers = {im.name: source_headers(ws, im) for im in sourced}
    for image in sourced:
        uids = sources[image.name].sop_uids
        if "seg" in include:
            masks, segments, why = _label_masks(ws, image)
            if masks is None:
                plan.notes.append(f"{image.name}: segmentation ({why})")
            else:
                ds = encode.segmentation(headers[image.name], masks, segments, reviewer=case.last_reviewer)
                verify.check_segmentation(ds, uids, masks, [s.label for s in segments])
                names = ", ".join(s.label for s in segments)
                plan.objects.append(
                    Outgoing("seg", image.name, f"{image.name}: {len(segments)} class(es) ({names}) on {len(uids)} frame(s)", ds)
                )
        if "pmap" in include:
            heat = stored.heatmap(ws, case_id, result, image.name) if result and image.name in result.heatmaps else None
            if heat is None or result is None:
                plan.notes.append(f"{image.name}: parametric map (no stored heatmap" + (f" of {model})" if model else ")"))
            elif tuple(heat.shape) != tuple(image.shape[: heat.ndim]) or heat.ndim != (3 if image.is_volume else 2):
                plan.notes.append(f"{image.name}: parametric map (heatmap {heat.shape} is not on the image grid {image.shape})")
            else:
                values = _frames(image, heat)
                ds = encode.parametric_map(headers[image.name], values, method=result.model, version=result.version)
                verify.check_parametric_map(ds, uids, values)
                summary = f"{image.name}: {result.model} heatmap, z-score {float(values.min()):.2f} to {float(values.max()):.2f}"
                plan.objects.append(Outgoing("pmap", image.name, summary, ds))
    if "sr" in include:
        if result is None and case.decision is None:
            plan.notes.append("structured report (no model result and no review decision)")
        else:
            primary = next((im for im in sourced if result and im.name == result.image), sourced[0])
            study = str(headers[primary.name][0].StudyInstanceUID)
            evidence = [o.dataset for o in plan.objects if str(o.dataset.StudyInstanceUID) == study]
            facts = _facts(case, result)
            ds = encode.result_report(headers[primary.name], facts, evidence=evidence)
            expected = {"case": case.id, "score": facts.score, "threshold": facts.threshold}
            expected |= {"model_decision": facts.model_decision, "reviewer_decision": facts.reviewer_decision}
            verify.check_report(ds, expected)
            parts = [f"score {facts.score:.3f}" if facts.score is not None else None]
            parts += [f"threshold {facts.threshold:.3f}" if facts.threshold is not None else None]
            parts += [f"model: {facts.model_decision}" if facts.model_decision else None]
            parts += [f"reviewer {facts.reviewer}: {facts.reviewer_decision}" if facts.reviewer_decision else None]
            parts += [f"{facts.method} {facts.version}" if facts.method else None]
            plan.objects.append(Outgoing("sr", None, ", ".join(p for p in parts if p), ds))
    if not plan.objects:
        raise PacsError(f"nothing to send for case '{case_id}': " + "; ".join(plan.notes))
    return plan


def send(ws: Workspace, client: PacsClient, plan: SendPlan, *, user: str) -> dict:
    """Store the planned objects (one STOW-RS request per study) and audit what was sent."""
    if not plan.objects:
        raise PacsError(f"nothing to send for case '{plan.case_id}'")
    by_study: dict[str, list[Outgoing]] = {}
    for o in plan.objects:
        by_study.setdefault(str(o.dataset.StudyInstanceUID), []).append(o)
    sent: list[dict] = []
    failed: list[dict] = []
    error: PacsError | None = None
    for objects in by_study.values():
        try:
            answer = client.store([o.dataset for o in objects])
        except PacsError as exc:
            error = exc
            failed.extend({"sop_uid": str(o.dataset.SOPInstanceUID), "reason": str(exc)} for o in objects)
            break
        done = set(answer["stored"])
        sent.extend(o.to_json() for o in objects if str(o.dataset.SOPInstanceUID) in done)
        failed.extend(answer["failed"])
        failed.extend(
            {"sop_uid": str(o.dataset.SOPInstanceUID), "reason": "not confirmed by the server"}
            for o in objects
            if str(o.dataset.SOPInstanceUID) not in done and all(f["sop_uid"] != str(o.dataset.SOPInstanceUID) for f in answer["failed"])
        )
    details = {"server": client.name, "url": client.server.url, "sent": sent, "failed": failed, "notes": plan.notes}
    ws.catalog.audit(user, "pacs.send", plan.case_id, details)
    if error is not None and not sent:
        raise error
    if failed:
        kinds = {str(o.dataset.SOPInstanceUID): TITLES[o.kind] for o in plan.objects}
        first = failed[0]
        raise PacsError(
            f"PACS '{client.name}' stored {len(sent)} of {len(plan.objects)} object(s); "
            f"{kinds.get(first['sop_uid'], first['sop_uid'])} failed: {first['reason']}"
        )
    return {"case": plan.case_id, "server": client.name, "sent": sent, "notes": plan.notes}
