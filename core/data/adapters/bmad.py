"""BMAD benchmark layouts (used by MIAS-SAM): Brain MRI, Liver CT, Retina OCT (RESC), ...

    <root>/train/good/*.png
    <root>/valid/good/img/*.png   <root>/valid/Ungood/img/*.png   <root>/valid/Ungood/label/*.png
    <root>/test/good/img/*.png    <root>/test/Ungood/img/*.png    <root>/test/Ungood/label/*.png
    (test/good/*.png without img/ is accepted too)

train/good -> normal training cases; valid and test -> test cases (normal or abnormal) with the
label PNG as pixel ground truth. The modality is OCT when the folder name says OCT/RESC, else a
generic 2-D slice (brain MRI, liver CT); ``--modality`` overrides it.
"""

from __future__ import annotations

from pathlib import Path

from core.data.adapters.base import PlannedCase
from core.domain import CaseKind, ImageMeta, Modality, safe_id
from core.workspace.workspace import NewImage

EXT = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXT)


class BMAD:
    name = "bmad"
    description = "BMAD layout: train/good, valid|test/{good,Ungood}/{img,label}"

    def __init__(self, modality: str | None = None):
        self.modality = modality

    def detect(self, src: Path) -> bool:
        return (src / "train" / "good").is_dir() and ((src / "test").is_dir() or (src / "valid").is_dir())

    def _modality(self, src: Path) -> Modality:
        if self.modality:
            return Modality(self.modality)
        name = src.name.lower()
        return Modality.OCT if ("oct" in name or "resc" in name) else Modality.SLICE

    def plan(self, src: Path, report) -> list[PlannedCase]:
        mod = self._modality(src)
        kind = CaseKind.OCT if mod == Modality.OCT else CaseKind.SLICE
        prefix = safe_id(src.name)[:24]
        cases: list[PlannedCase] = []

        def add(img: Path, split: str, truth: str, label: Path | None, tag: str) -> None:
            cid = safe_id(f"{prefix}-{tag}-{img.stem}")
            masks = {mod.value: [("anomaly", label)]} if label is not None else {}
            cases.append(
                PlannedCase(
                    cid,
                    kind,
                    [NewImage(mod.value, mod, source_path=img, meta=ImageMeta(source=f"BMAD {src.name}"))],
                    split=split,
                    truth=truth,
                    source=str(img),
                    meta={"dataset": "BMAD", "bmad_split": tag},
                    mask_labels=masks,
                )
            )

        for img in _images(src / "train" / "good"):
            add(img, "train", "normal", None, "train")
        for part in ("valid", "test"):
            good = src / part / "good"
            for img in _images(good / "img") or _images(good):
                add(img, "test", "normal", None, f"{part}-good")
            bad = src / part / "Ungood"
            for img in _images(bad / "img"):
                label = next(iter(sorted((bad / "label").glob(img.stem + ".*"))), None) if (bad / "label").is_dir() else None
                if label is None:
                    report.warnings.append(f"{img}: no label image in {bad / 'label'}; imported without pixel ground truth")
                add(img, "test", "abnormal", label, f"{part}-ungood")
        return cases
