"""Where an image of the workspace came from in DICOM, so results can go back referencing it.

At import from a PACS each image gets ``meta.extra["dicom_source"]``: study, series, SOP class
and SOP Instance UIDs (in the image's own frame order: slice ``k`` of an MRI volume is
``sop_uids[k]``), the frame of reference and the server. A header-only copy of every source
instance (pixel data removed) is kept under ``W/pacs/sources/<case>/<image>/`` because highdicom
needs the source datasets (patient, study, geometry) to write a SEG, a parametric map or an SR
that references them. The SOP index over all images is what duplicate detection uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.domain import ImageRecord
from core.io.atomic import atomic_path
from core.pacs.errors import PacsError
from core.workspace.catalog import now_iso

if TYPE_CHECKING:
    from core.workspace.workspace import Workspace

SOURCE_KEY = "dicom_source"
SOURCES_DIR = ("pacs", "sources")
BULK_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData", "EncapsulatedDocument")
LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class DicomSource:
    study_uid: str
    series_uid: str
    sop_class_uid: str
    modality: str
    sop_uids: list[str]  # frame order of the workspace image
    frame_of_reference_uid: str | None = None
    server: str | None = None
    retrieved: str = ""
    headers: list[str] = field(default_factory=list)  # header copies, relative to the workspace

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> DicomSource:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in obj.items() if k in names})


def source_of(image: ImageRecord) -> DicomSource | None:
    obj = image.meta.extra.get(SOURCE_KEY)
    if not isinstance(obj, dict):
        return None
    try:
        return DicomSource.from_json(obj)
    except TypeError:
        return None


def sop_index(ws: Workspace) -> dict[str, str]:
    """SOP Instance UID -> case id of every image with a recorded DICOM source."""
    out: dict[str, str] = {}
    for case in ws.cases():
        for image in case.images:
            src = source_of(image)
            if src is not None:
                for uid in src.sop_uids:
                    out.setdefault(uid, case.id)
    return out


def _volume_order(image: ImageRecord, datasets: list) -> list:
    """Sort single-frame slices into the volume's k order through its affine (voxel -> RAS)."""
    affine = image.meta.affine_array()
    if affine is None or len(image.shape) != 3:
        raise PacsError(f"{image.id}: a volume without an affine cannot be matched to its DICOM slices")
    to_voxel = np.linalg.inv(LPS_FROM_RAS @ affine)
    x, y, z = image.shape
    if len(datasets) != z:
        raise PacsError(f"{image.id}: {len(datasets)} DICOM slices for a volume of {z} slices")
    placed: dict[int, object] = {}
    for ds in datasets:
        if (int(ds.Rows), int(ds.Columns)) != (y, x):
            raise PacsError(f"{image.id}: slice {ds.SOPInstanceUID} is {ds.Columns}x{ds.Rows}, the volume {x}x{y}")
        ijk = to_voxel @ np.array([*map(float, ds.ImagePositionPatient), 1.0])
        k = int(round(ijk[2]))
        if abs(ijk[0]) > 0.01 or abs(ijk[1]) > 0.01 or abs(ijk[2] - k) > 0.01 or not 0 <= k < z or k in placed:
            raise PacsError(f"{image.id}: slice {ds.SOPInstanceUID} does not lie on a slice of the imported volume")
        placed[k] = ds
    return [placed[k] for k in range(z)]


def _frame_order(image: ImageRecord, datasets: list) -> list:
    if image.is_volume:
        return _volume_order(image, datasets)
    if len(datasets) != 1:
        raise PacsError(f"{image.id}: a 2-D image from {len(datasets)} DICOM instances")
    ds = datasets[0]
    h, w = image.shape[:2] if not image.is_stack else image.shape[1:3]
    if (int(ds.Rows), int(ds.Columns)) != (int(h), int(w)):
        raise PacsError(f"{image.id}: DICOM instance is {ds.Columns}x{ds.Rows}, the image {w}x{h}")
    return datasets


def header_only(ds):
    """A copy of ``ds`` without bulk pixel data (what highdicom needs of a source image)."""
    import copy

    out = copy.deepcopy(ds)
    for keyword in BULK_KEYWORDS:
        if keyword in out:
            delattr(out, keyword)
    return out


def record_source(ws: Workspace, image: ImageRecord, datasets: list, *, server: str | None, user: str = "system") -> DicomSource:
    """Keep header copies of ``datasets`` (the instances ``image`` was made from) and write the
    source record into the image's meta. Raises PacsError when they do not match the image."""
    import pydicom

    ordered = _frame_order(image, list(datasets))
    ds0 = ordered[0]
    for ds in ordered:
        if str(ds.SeriesInstanceUID) != str(ds0.SeriesInstanceUID):
            raise PacsError(f"{image.id}: source instances come from more than one series")
    folder = ws.root.joinpath(*SOURCES_DIR, image.case_id, image.name)
    if not folder.resolve().is_relative_to(ws.root.resolve()):
        raise PacsError(f"{image.id}: header folder lies outside the workspace")
    rels = []
    for k, ds in enumerate(ordered):
        path = folder / f"{k:04d}.dcm"
        with atomic_path(path) as tmp:
            pydicom.dcmwrite(tmp, header_only(ds), enforce_file_format=True)
        rels.append(path.relative_to(ws.root).as_posix())
    source = DicomSource(
        study_uid=str(ds0.StudyInstanceUID),
        series_uid=str(ds0.SeriesInstanceUID),
        sop_class_uid=str(ds0.SOPClassUID),
        modality=str(getattr(ds0, "Modality", "")),
        sop_uids=[str(ds.SOPInstanceUID) for ds in ordered],
        frame_of_reference_uid=str(ds0.FrameOfReferenceUID) if "FrameOfReferenceUID" in ds0 else None,
        server=server,
        retrieved=now_iso(),
        headers=rels,
    )
    meta = image.meta
    meta.extra[SOURCE_KEY] = source.to_json()
    ws.update_image_meta(image, meta, user=user)
    return source


def source_headers(ws: Workspace, image: ImageRecord) -> list:
    """The header copies of ``image``'s source instances in frame order (checked against the record)."""
    import pydicom

    source = source_of(image)
    if source is None:
        raise PacsError(f"{image.id} has no DICOM source: only images retrieved from a PACS can be sent back")
    root = ws.root.resolve()
    out = []
    for rel, uid in zip(source.headers, source.sop_uids, strict=False):
        path = (ws.root / rel).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise PacsError(f"{image.id}: source header {rel} is missing from the workspace")
        if path.stat().st_size > 16 * 1024 * 1024:
            raise PacsError(f"{path}: a source header over 16 MB is not a header copy")
        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types for damaged files
            raise PacsError(f"{path}: unreadable DICOM header copy ({exc})") from None
        if str(ds.SOPInstanceUID) != uid:
            raise PacsError(f"{path}: holds instance {ds.SOPInstanceUID}, expected {uid}")
        out.append(ds)
    if len(out) != len(source.sop_uids):
        raise PacsError(f"{image.id}: {len(out)} header copies for {len(source.sop_uids)} source instances")
    return out
