"""What a fit learns from besides plain normals: reviewer pixel labels on fundus / OCT images
(mixed into the synthetic-anomaly methods' training when they use them)."""

from __future__ import annotations

from core.workspace.workspace import Workspace


def labelled_pages(ws: Workspace, case, *, first_per_image: bool = False):
    """(image record, page, LabelMe document) of every fundus / OCT image page of ``case`` whose
    labels hold at least one shape (page None for a single image); with ``first_per_image`` only a
    B-scan stack's first labelled page."""
    for rec in case.images:
        if rec.modality.value not in ("fundus", "oct"):
            continue
        for page in [None] if not rec.is_stack else range(rec.shape[0]):
            doc = ws.read_labels(rec, page)
            if doc is not None and doc.shapes:
                yield rec, page, doc
                if first_per_image:
                    break


def has_pixel_labels(ws: Workspace, case) -> bool:
    return next(labelled_pages(ws, case), None) is not None


def labelled_anomalies(ws: Workspace, modality: str | None = None) -> list:
    """Cases with reviewer (or ground-truth) pixel labels, for mixing real anomalies into the
    training of the synthetic-anomaly methods. Test-split cases count only once a reviewer has
    decided them (so evaluation cases are never trained on unless reviewed). Each image with a
    LabelMe document comes with its union mask; a B-scan stack gives its first labelled page.
    Returns ``core.data.anomaly_synthesis.real.LabelledCase`` objects; cases whose labels hold no
    shape are skipped."""
    from core.data.anomaly_synthesis.real import LabelledCase, LabelledImage

    out = []
    for c in ws.cases():
        if c.split == "test" and c.decision is None:
            continue
        if modality is not None and c.image(modality) is None:
            continue
        labelled = LabelledCase(c.id)
        loaded = None
        for rec, page, doc in labelled_pages(ws, c, first_per_image=True):
            loaded = loaded or ws.load_case(c)
            pixels = loaded.images[rec.name].array
            pixels = pixels[page] if page is not None else pixels
            labelled.images[rec.name] = LabelledImage(rec.name, rec.modality.value, pixels, doc.union_mask(), rec.sha256)
        if labelled.images:
            out.append(labelled)
    return out
