"""EyeQ-style image-level label CSVs:

    <root>/Label_EyeQ_train.csv   (columns: image, quality, DR_grade; an unnamed index column is fine)
    <root>/Label_EyeQ_test.csv
    <root>/<any sub-folders>/<image files named in the CSV>

Also accepted: any CSV with columns ``image`` and ``label`` (normal/abnormal or 0/1) and an
optional ``split``. EyeQ quality 2 ("reject") images are skipped with the reason; DR grade 0 is
normal, 1-4 abnormal. The split comes from a ``split`` column, else from the CSV name
(train/test), else test.
"""

from __future__ import annotations

import csv
from pathlib import Path

from core.data.adapters.base import PlannedCase
from core.domain import CaseKind, ImageMeta, Modality, safe_id
from core.workspace.workspace import NewImage

EXT = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


def _csvs(src: Path) -> list[Path]:
    out = []
    for p in sorted(src.glob("*.csv")):
        with p.open(newline="", encoding="utf-8-sig") as fh:
            header = [h.strip().lower() for h in next(csv.reader(fh), [])]
        if "image" in header and ("dr_grade" in header or "label" in header):
            out.append(p)
    return out


class EyeQ:
    name = "eyeq"
    description = "EyeQ-style CSV: image, quality, DR_grade (or image, label[, split])"

    def detect(self, src: Path) -> bool:
        return bool(_csvs(src))

    def plan(self, src: Path, report) -> list[PlannedCase]:
        files = {p.name: p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in EXT}
        cases: list[PlannedCase] = []
        for table in _csvs(src):
            default_split = "train" if "train" in table.name.lower() else "test"
            with table.open(newline="", encoding="utf-8-sig") as fh:
                for row in csv.DictReader(fh):
                    row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                    name = row.get("image", "")
                    path = files.get(name) or files.get(Path(name).name)
                    if path is None:
                        report.skipped.append({"path": f"{table.name}:{name}", "reason": "image file not found under the folder"})
                        continue
                    if row.get("quality") == "2":
                        report.skipped.append({"path": str(path), "reason": "EyeQ quality 'reject'"})
                        continue
                    if "dr_grade" in row:
                        try:
                            grade = int(float(row["dr_grade"]))
                        except ValueError:
                            report.skipped.append({"path": str(path), "reason": f"unreadable DR_grade '{row['dr_grade']}'"})
                            continue
                        truth = "normal" if grade == 0 else "abnormal"
                        meta = {"dataset": "EyeQ", "dr_grade": grade, "quality": row.get("quality")}
                    else:
                        lab = row.get("label", "").lower()
                        if lab not in ("normal", "abnormal", "0", "1"):
                            report.skipped.append({"path": str(path), "reason": f"unreadable label '{row.get('label')}'"})
                            continue
                        truth = "normal" if lab in ("normal", "0") else "abnormal"
                        meta = {"dataset": table.stem}
                    split = row.get("split") or default_split
                    if truth == "abnormal":
                        split = "test"  # abnormal images never train an anomaly model
                    cases.append(
                        PlannedCase(
                            safe_id(path.stem),
                            CaseKind.FUNDUS,
                            [NewImage("fundus", Modality.FUNDUS, source_path=path, meta=ImageMeta(source=table.name))],
                            split=split,
                            truth=truth,
                            source=str(path),
                            meta=meta,
                        )
                    )
        return cases
