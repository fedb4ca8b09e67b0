"""IDRiD (Indian Diabetic Retinopathy Image Dataset), as distributed:

    <root>/A. Segmentation/1. Original Images/a. Training Set/IDRiD_01.jpg     (b. Testing Set/...)
    <root>/A. Segmentation/2. All Segmentation Groundtruths/a. Training Set/
            1. Microaneurysms/IDRiD_01_MA.tif  2. Haemorrhages/..._HE.tif
            3. Hard Exudates/..._EX.tif        4. Soft Exudates/..._SE.tif   (5. Optic Disc ignored)
    <root>/B. Disease Grading/1. Original Images/a. Training Set/IDRiD_001.jpg
    <root>/B. Disease Grading/2. Groundtruths/a. IDRiD_Disease Grading_Training Labels.csv
            (columns: Image name, Retinopathy grade, Risk of macular edema)

Segmentation images are lesion cases (test split) with per-lesion masks in the IDRiD class set;
grading images of retinopathy grade 0 and macular-edema risk 0 are normals (training set -> train,
testing set -> test), other graded images are abnormal test cases without pixel labels.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from core.data.adapters.base import PlannedCase
from core.domain import CaseKind, ImageMeta, Modality
from core.workspace.workspace import NewImage

LESIONS = {"MA": "microaneurysms", "HE": "haemorrhages", "EX": "hard exudates", "SE": "soft exudates"}
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


def _find(root: Path, pattern: str) -> Path | None:
    rx = re.compile(pattern, re.IGNORECASE)
    for p in sorted(root.iterdir()) if root.is_dir() else []:
        if rx.search(p.name):
            return p
    return None


class IDRiD:
    name = "idrid"
    description = "IDRiD segmentation set (+ disease-grading normals)"

    def detect(self, src: Path) -> bool:
        return _find(src, r"^A\.\s*Segmentation") is not None or _find(src, r"^B\.\s*Disease Grading") is not None

    def plan(self, src: Path, report) -> list[PlannedCase]:
        cases: list[PlannedCase] = []
        seg = _find(src, r"^A\.\s*Segmentation")
        if seg is not None:
            originals = _find(seg, r"Original Images")
            truths = _find(seg, r"Groundtruths")
            for split_dir in sorted(originals.iterdir()) if originals else []:
                if not split_dir.is_dir():
                    continue
                gt_split = _find(truths, re.escape(split_dir.name.split(".", 1)[-1].strip())) if truths else None
                for img in sorted(p for p in split_dir.iterdir() if p.suffix.lower() in IMAGE_EXT):
                    masks = []
                    for code, label in LESIONS.items():
                        folder = next(
                            (
                                d
                                for d in (gt_split.iterdir() if gt_split else [])
                                if d.is_dir() and label.split()[0][:5].lower() in d.name.lower()
                            ),
                            None,
                        )
                        cand = list(folder.glob(f"{img.stem}_{code}.*")) if folder else []
                        if cand:
                            masks.append((label, cand[0]))
                    cases.append(
                        PlannedCase(
                            case_id=img.stem,
                            kind=CaseKind.FUNDUS,
                            images=[NewImage("fundus", Modality.FUNDUS, source_path=img, meta=ImageMeta(source="IDRiD segmentation set"))],
                            split="test",
                            truth="abnormal",
                            source=str(img),
                            meta={"dataset": "IDRiD", "class_set": "fundus_dr"},
                            mask_labels={"fundus": masks} if masks else {},
                        )
                    )
        grading = _find(src, r"^B\.\s*Disease Grading")
        if grading is not None:
            originals = _find(grading, r"Original Images")
            truths = _find(grading, r"Groundtruths")
            grades: dict[str, tuple[int, int]] = {}
            for csv_path in sorted(truths.glob("*.csv")) if truths else []:
                with csv_path.open(newline="", encoding="utf-8-sig") as fh:
                    for row in csv.DictReader(fh):
                        name = (row.get("Image name") or "").strip()
                        try:
                            grades[name] = (
                                int(row.get("Retinopathy grade", "")),
                                int(row.get("Risk of macular edema ", row.get("Risk of macular edema", "0")) or 0),
                            )
                        except ValueError:
                            report.warnings.append(f"{csv_path.name}: unreadable grade for '{name}'")
            for split_dir in sorted(originals.iterdir()) if originals else []:
                if not split_dir.is_dir():
                    continue
                split = "train" if "train" in split_dir.name.lower() else "test"
                for img in sorted(p for p in split_dir.iterdir() if p.suffix.lower() in IMAGE_EXT):
                    if img.stem not in grades:
                        report.skipped.append({"path": str(img), "reason": "no grade in the IDRiD grading CSV"})
                        continue
                    dr, dme = grades[img.stem]
                    normal = dr == 0 and dme == 0
                    cases.append(
                        PlannedCase(
                            case_id=img.stem,
                            kind=CaseKind.FUNDUS,
                            images=[
                                NewImage("fundus", Modality.FUNDUS, source_path=img, meta=ImageMeta(source="IDRiD disease grading set"))
                            ],
                            split=split if normal else "test",
                            truth="normal" if normal else "abnormal",
                            source=str(img),
                            meta={"dataset": "IDRiD", "retinopathy_grade": dr, "macular_edema_risk": dme},
                        )
                    )
        return cases
