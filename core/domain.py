"""Domain model: cases, images and their metadata. Plain data, no I/O."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from core.errors import WorkspaceError


class CaseKind(str, Enum):
    PAIR = "fundus_oct"  # one fundus photo + one OCT B-scan (or B-scan stack)
    FUNDUS = "fundus"
    OCT = "oct"  # one B-scan or a B-scan stack
    MRI = "mri"  # one or several co-registered sequences of one brain
    SLICE = "slice"  # one 2-D grey slice of a volume (BMAD brain MRI / liver CT benchmarks)

    @property
    def display_name(self) -> str:  # not "title": that is str.title()
        return {"fundus_oct": "Fundus + OCT", "fundus": "Fundus", "oct": "OCT", "mri": "MRI", "slice": "2-D slice"}[self.value]


class Modality(str, Enum):
    FUNDUS = "fundus"
    OCT = "oct"
    MRI = "mri"
    SLICE = "slice"  # 2-D slice image (BMAD-style benchmarks); scored like a 2-D image


class ReviewStatus(str, Enum):
    UNREVIEWED = "unreviewed"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    FLAGGED = "flagged"


class Decision(str, Enum):
    NORMAL = "normal"
    ABNORMAL = "abnormal"


CASE_MODALITIES: dict[CaseKind, tuple[Modality, ...]] = {
    CaseKind.PAIR: (Modality.FUNDUS, Modality.OCT),
    CaseKind.FUNDUS: (Modality.FUNDUS,),
    CaseKind.OCT: (Modality.OCT,),
    CaseKind.MRI: (Modality.MRI,),
    CaseKind.SLICE: (Modality.SLICE,),
}

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def valid_id(text: str) -> bool:
    """Case and image names become folder and file names: letters, digits, '.', '_', '-'."""
    return isinstance(text, str) and bool(_ID_RE.fullmatch(text)) and ".." not in text


def safe_id(text: str) -> str:
    """Turn any file stem into a valid id."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-") or "case"
    cleaned = cleaned.replace("..", "_")
    return cleaned[:128]


@dataclass(frozen=True)
class ScanLine:
    """Where an OCT B-scan was acquired on the fundus, in fundus pixel coordinates (x, y).

    B-scan column 0 lies at ``start`` and the last column at ``end``.
    """

    start: tuple[float, float]
    end: tuple[float, float]

    def point_at(self, fraction: float) -> tuple[float, float]:
        t = float(np.clip(fraction, 0.0, 1.0))
        return (self.start[0] + t * (self.end[0] - self.start[0]), self.start[1] + t * (self.end[1] - self.start[1]))

    def to_json(self) -> list[list[float]]:
        return [list(map(float, self.start)), list(map(float, self.end))]

    @classmethod
    def from_json(cls, obj: Any) -> ScanLine:
        (x0, y0), (x1, y1) = obj
        return cls((float(x0), float(y0)), (float(x1), float(y1)))


ROLE_LOCALIZER = "localizer"  # ImageMeta.role of the en-face image that B-scan positions refer to


@dataclass(frozen=True)
class OctSpacingUm:
    """Micrometres between A-scans (x), between rows (axial) and between neighbouring B-scans."""

    x_um: float
    axial_um: float
    between_um: float | None = None


@dataclass
class ImageMeta:
    laterality: str | None = None  # "L" / "R" (fundus, OCT)
    scan_line: ScanLine | None = None  # OCT B-scan position on the paired fundus
    affine: list[list[float]] | None = None  # MRI voxel -> RAS+ mm, exact float64 values
    spacing: list[float] | None = None  # voxel or pixel size in mm
    sequence: str | None = None  # MRI sequence: t1, t1ce, t2, flair, ...
    synthetic: bool = False  # generated, not acquired (synthetic OCT, lesions)
    derived_from: str | None = None  # provenance of derived images (flip, crop, ...)
    source: str | None = None  # original file or package the pixels came from
    description: str = ""
    # OCT volumes and their localizers (all optional; older workspaces have none of them)
    role: str | None = None  # "localizer": en-face image (IR/SLO or fundus) that B-scan positions refer to
    bscan_positions: list[ScanLine] | None = None  # per B-scan start/end on the image named by `localizer`
    localizer: str | None = None  # name of the image in this case the B-scan positions are drawn on
    acquired: str | None = None  # acquisition date/time, ISO 8601
    device: str | None = None  # manufacturer / model, or the device export format
    uids: dict | None = None  # DICOM study_uid, series_uid, sop_instance_uid(s), sop_class_uid
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        d["scan_line"] = self.scan_line.to_json() if self.scan_line else None
        d["bscan_positions"] = [p.to_json() for p in self.bscan_positions] if self.bscan_positions else None
        return {k: v for k, v in d.items() if v not in (None, "", {}, False) or k == "synthetic"}

    @classmethod
    def from_json(cls, obj: dict) -> ImageMeta:
        obj = dict(obj or {})
        known = {f for f in cls.__dataclass_fields__}
        extra = {k: v for k, v in obj.items() if k not in known}
        kwargs = {k: v for k, v in obj.items() if k in known}
        if kwargs.get("scan_line") is not None:
            kwargs["scan_line"] = ScanLine.from_json(kwargs["scan_line"])
        if kwargs.get("bscan_positions") is not None:
            try:
                kwargs["bscan_positions"] = [ScanLine.from_json(p) for p in kwargs["bscan_positions"]]
            except (TypeError, ValueError):  # a damaged catalog entry: keep it visible, never crash the load
                extra["invalid_bscan_positions"] = kwargs.pop("bscan_positions")
        kwargs.setdefault("extra", {})
        kwargs["extra"] = {**kwargs["extra"], **extra}
        return cls(**kwargs)

    def affine_array(self) -> np.ndarray | None:
        return None if self.affine is None else np.array(self.affine, dtype=np.float64)


@dataclass
class ImageRecord:
    id: str  # "<case_id>/<name>"
    case_id: str
    name: str  # unique inside the case: fundus, oct, t1, flair, ...
    modality: Modality
    path: str  # relative to the workspace root, '/' separated
    sha256: str  # content hash of the decoded pixels
    shape: tuple[int, ...]
    dtype: str
    meta: ImageMeta = field(default_factory=ImageMeta)

    @property
    def is_volume(self) -> bool:
        return self.modality == Modality.MRI

    @property
    def is_stack(self) -> bool:
        return self.modality == Modality.OCT and len(self.shape) >= 3 and not (len(self.shape) == 3 and self.shape[-1] == 3)

    # -- OCT volumes (a volume is a B-scan stack with geometry) ------------------------------
    @property
    def is_localizer(self) -> bool:
        """An en-face image whose role is to locate B-scans (IR/SLO or a device fundus image)."""
        return self.meta.role == ROLE_LOCALIZER

    @property
    def n_bscans(self) -> int:
        return int(self.shape[0]) if self.is_stack else (1 if self.modality == Modality.OCT else 0)

    @property
    def bscan_positions(self) -> list[ScanLine] | None:
        """Start/end of every B-scan (index = page) on the image :attr:`localizer_name`, in its pixels."""
        return self.meta.bscan_positions

    @property
    def localizer_name(self) -> str | None:
        """Name of the image in the same case that :attr:`bscan_positions` refer to."""
        return self.meta.localizer

    def scan_line_at(self, page: int | None) -> ScanLine | None:
        """The line of B-scan ``page`` on the localizer (or the single ``scan_line`` of a 2-D B-scan)."""
        positions = self.meta.bscan_positions
        if positions and page is not None and 0 <= page < len(positions):
            return positions[page]
        return self.meta.scan_line if not positions else None

    @property
    def oct_spacing_um(self) -> OctSpacingUm | None:
        """B-scan geometry in micrometres, from ``meta.spacing`` (mm, array-axis order)."""
        sp = self.meta.spacing
        if self.modality != Modality.OCT or not sp:
            return None
        if self.is_stack and len(sp) == 3:
            return OctSpacingUm(x_um=sp[2] * 1000.0, axial_um=sp[1] * 1000.0, between_um=sp[0] * 1000.0)
        if len(sp) == 2:
            return OctSpacingUm(x_um=sp[1] * 1000.0, axial_um=sp[0] * 1000.0)
        return None


@dataclass
class CaseRecord:
    id: str
    kind: CaseKind
    images: list[ImageRecord] = field(default_factory=list)
    status: ReviewStatus = ReviewStatus.UNREVIEWED
    decision: Decision | None = None
    comment: str = ""
    last_reviewer: str | None = None
    reviewed_at: str | None = None
    split: str | None = None  # "train" / "test" / None
    truth: str | None = None  # known ground truth: "normal" / "abnormal" / None
    source: str | None = None
    created: str = ""
    meta: dict = field(default_factory=dict)

    def image(self, modality: Modality | str) -> ImageRecord | None:
        """The case's first image of ``modality`` that is not a localizer (an IR/SLO image that only
        locates B-scans is not the case's fundus photo; :meth:`localizer_for` finds it)."""
        m = Modality(modality)
        return next((im for im in self.images if im.modality == m and not im.is_localizer), None)

    def require_image(self, modality: Modality | str) -> ImageRecord:
        """:meth:`image`, or a WorkspaceError when the case has no such image."""
        found = self.image(modality)
        if found is None:
            raise WorkspaceError(f"case '{self.id}' has no {Modality(modality).value} image")
        return found

    def named(self, name: str | None) -> ImageRecord | None:
        return next((im for im in self.images if im.name == name), None) if name else None

    @property
    def oct_volume(self) -> ImageRecord | None:
        """The case's OCT image that carries B-scan positions (an OCT volume), else None."""
        return next((im for im in self.images if im.modality == Modality.OCT and im.bscan_positions), None)

    @property
    def bscan_positions(self) -> list[ScanLine] | None:
        vol = self.oct_volume
        return vol.bscan_positions if vol else None

    @property
    def localizer_name(self) -> str | None:
        vol = self.oct_volume
        return vol.localizer_name if vol else None

    def localizer_for(self, image: ImageRecord) -> ImageRecord | None:
        """The image ``image``'s B-scan positions are drawn on (the localizer or the paired fundus)."""
        return self.named(image.localizer_name)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "status": self.status.value,
            "decision": self.decision.value if self.decision else None,
            "comment": self.comment,
            "last_reviewer": self.last_reviewer,
            "reviewed_at": self.reviewed_at,
            "split": self.split,
            "truth": self.truth,
            "source": self.source,
            "created": self.created,
            "meta": self.meta,
            "images": [
                {
                    "id": im.id,
                    "name": im.name,
                    "modality": im.modality.value,
                    "path": im.path,
                    "sha256": im.sha256,
                    "shape": list(im.shape),
                    "dtype": im.dtype,
                    "meta": im.meta.to_json(),
                }
                for im in self.images
            ],
        }


@dataclass
class LoadedImage:
    record: ImageRecord
    array: np.ndarray  # (H, W[, 3]) image, (N, H, W[, 3]) stack, or (X, Y, Z) volume

    @property
    def modality(self) -> Modality:
        return self.record.modality

    @property
    def sha256(self) -> str:
        return self.record.sha256


@dataclass
class LoadedCase:
    record: CaseRecord
    images: dict[str, LoadedImage]

    @property
    def id(self) -> str:
        return self.record.id

    def first(self, modality: Modality | str) -> LoadedImage | None:
        m = Modality(modality)
        return next((im for im in self.images.values() if im.modality == m), None)

    def scored(self, modality: Modality | str) -> list[LoadedImage]:
        """The images of ``modality`` a model scores: localizers (IR/SLO images that only locate
        B-scans) are not fundus photos and are left out."""
        m = Modality(modality)
        return [im for im in self.images.values() if im.modality == m and not im.record.is_localizer]

    @classmethod
    def from_arrays(cls, case_id: str = "case", **arrays: np.ndarray) -> LoadedCase:
        """Build an in-memory case (tests, benchmarks): ``from_arrays(fundus=a, oct=b)``."""
        from core.hashing import array_sha256

        images = {}
        for name, arr in arrays.items():
            modality = Modality(name.split("_")[0]) if name.split("_")[0] in {m.value for m in Modality} else Modality.MRI
            rec = ImageRecord(
                id=f"{case_id}/{name}",
                case_id=case_id,
                name=name,
                modality=modality,
                path="",
                sha256=array_sha256(arr),
                shape=tuple(arr.shape),
                dtype=str(arr.dtype),
            )
            images[name] = LoadedImage(rec, arr)
        mods = {im.modality for im in images.values()}
        kind = (
            CaseKind.PAIR
            if mods == {Modality.FUNDUS, Modality.OCT}
            else CaseKind.MRI
            if Modality.MRI in mods
            else CaseKind.OCT
            if mods == {Modality.OCT}
            else CaseKind.SLICE
            if mods == {Modality.SLICE}
            else CaseKind.FUNDUS
        )
        record = CaseRecord(id=case_id, kind=kind, images=[im.record for im in images.values()])
        return cls(record, images)
