"""MMR-style paired fundus/OCT folders (the MMRAD paper's dataset organisation):

    <root>/train/normal/<case>/fundus.png  oct.png  [scan_line.json]
    <root>/test/normal/<case>/...
    <root>/test/abnormal/<case>/fundus.png  fundus.json  oct.png  oct.json

``*.json`` beside an image is its LabelMe annotation; labels may be the symptom class ids of the
MMRAD paper's Table 1 ("1".."9" fundus, "1".."8" OCT) or the class names. ``scan_line.json`` holds
``{"scan_line": [[x0, y0], [x1, y1]], "laterality": "L"}`` in fundus pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.classes import default_set
from core.data.adapters.base import PlannedCase
from core.domain import CaseKind, ImageMeta, Modality, ScanLine, safe_id
from core.workspace.workspace import NewImage

EXT = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _image(folder: Path, stem: str) -> Path | None:
    return next((p for p in sorted(folder.glob(stem + ".*")) if p.suffix.lower() in EXT), None)


class MMR:
    name = "mmr"
    description = "MMR-style pairs: {train,test}/{normal,abnormal}/<case>/{fundus,oct}.* (+ LabelMe JSON)"

    def detect(self, src: Path) -> bool:
        for split in ("train", "test"):
            for grp in ("normal", "abnormal"):
                d = src / split / grp
                if d.is_dir() and any(_image(c, "fundus") or _image(c, "oct") for c in d.iterdir() if c.is_dir()):
                    return True
        return False

    def plan(self, src: Path, report) -> list[PlannedCase]:
        renames = {
            "fundus": {str(c.id): c.name for c in default_set("fundus").classes},
            "oct": {str(c.id): c.name for c in default_set("oct").classes},
        }
        cases: list[PlannedCase] = []
        for split in ("train", "test"):
            for grp in ("normal", "abnormal"):
                d = src / split / grp
                if not d.is_dir():
                    continue
                for folder in sorted(c for c in d.iterdir() if c.is_dir()):
                    sidecar = {}
                    if (folder / "scan_line.json").exists():
                        try:
                            sidecar = json.loads((folder / "scan_line.json").read_text())
                        except json.JSONDecodeError as exc:
                            report.warnings.append(f"{folder / 'scan_line.json'}: broken JSON ({exc.msg}); scan line ignored")
                    lat = sidecar.get("laterality") if sidecar.get("laterality") in ("L", "R") else None
                    images, labelme = [], {}
                    for role, mod in (("fundus", Modality.FUNDUS), ("oct", Modality.OCT)):
                        path = _image(folder, role)
                        if path is None:
                            continue
                        meta = ImageMeta(laterality=lat, source="MMR-style dataset")
                        if role == "oct" and "scan_line" in sidecar:
                            meta.scan_line = ScanLine.from_json(sidecar["scan_line"])
                        images.append(NewImage(role, mod, source_path=path, meta=meta))
                        if (folder / f"{role}.json").exists():
                            labelme[role] = (folder / f"{role}.json", renames[role])
                    if not images:
                        report.skipped.append({"path": str(folder), "reason": "no fundus.* or oct.* image"})
                        continue
                    roles = {im.name for im in images}
                    kind = CaseKind.PAIR if roles == {"fundus", "oct"} else CaseKind(next(iter(roles)))
                    cases.append(
                        PlannedCase(
                            safe_id(folder.name),
                            kind,
                            images,
                            split=split,
                            truth="normal" if grp == "normal" else "abnormal",
                            source=str(folder),
                            meta={"dataset": "MMR-style"},
                            labelme=labelme,
                        )
                    )
        return cases
