"""BraTS NIfTI folders (2021 and 2023 naming):

    <root>/BraTS2021_00000/BraTS2021_00000_{t1,t1ce,t2,flair,seg}.nii.gz
    <root>/BraTS-GLI-00000-000/BraTS-GLI-00000-000-{t1n,t1c,t2w,t2f,seg}.nii.gz

One multi-sequence MRI case per folder; ``seg`` becomes its label volume (BraTS 1/2/4 -> 1/2/3).
Patients are split deterministically 80/20 into train/test by a hash of the case id (RASALoRE
trains on healthy and unhealthy slices of training volumes); all cases are abnormal volumes.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from core.data.adapters.base import PlannedCase
from core.domain import CaseKind, ImageMeta, Modality, safe_id
from core.workspace.workspace import NewImage

SEQ = re.compile(r"[_-](t1|t1ce|t1c|t1gd|t1n|t2|t2w|t2f|flair|seg)\.nii(\.gz)?$", re.IGNORECASE)
ALIAS = {"t1c": "t1ce", "t1gd": "t1ce", "t1n": "t1", "t2w": "t2", "t2f": "flair"}


class BraTS:
    name = "brats"
    description = "BraTS folders: <case>/<case>_{t1,t1ce,t2,flair,seg}.nii.gz"

    def _cases(self, src: Path) -> list[Path]:
        return [d for d in sorted(src.iterdir()) if d.is_dir() and any(SEQ.search(p.name) and "seg" in p.name.lower() for p in d.iterdir())]

    def detect(self, src: Path) -> bool:
        """A folder of patient folders: most sub-folders are BraTS cases and no loose scans/images on top."""
        subdirs = [d for d in src.iterdir() if d.is_dir()]
        loose = [p for p in src.iterdir() if p.is_file() and (".nii" in p.name.lower() or p.suffix.lower() in (".png", ".jpg", ".tif"))]
        cases = self._cases(src)
        return bool(cases) and not loose and len(cases) * 2 >= len(subdirs)

    def plan(self, src: Path, report) -> list[PlannedCase]:
        cases = []
        for folder in self._cases(src):
            images: list[NewImage] = []
            seg: Path | None = None
            for p in sorted(folder.iterdir()):
                m = SEQ.search(p.name)
                if not m:
                    continue
                seq = ALIAS.get(m.group(1).lower(), m.group(1).lower())
                if seq == "seg":
                    seg = p
                elif seq not in {im.name for im in images}:
                    images.append(NewImage(seq, Modality.MRI, source_path=p, meta=ImageMeta(sequence=seq, source="BraTS")))
            if not images:
                report.skipped.append({"path": str(folder), "reason": "segmentation without any MRI sequence"})
                continue
            cid = safe_id(folder.name)
            split = "train" if int(hashlib.sha256(cid.encode()).hexdigest(), 16) % 5 else "test"
            order = {"t1": 0, "t1ce": 1, "t2": 2, "flair": 3}
            images.sort(key=lambda im: order.get(im.name, 9))
            cases.append(
                PlannedCase(
                    cid,
                    CaseKind.MRI,
                    images,
                    split=split,
                    truth="abnormal",
                    source=str(folder),
                    meta={"dataset": "BraTS"},
                    label_volume=(images[0].name, seg) if seg else None,
                )
            )
        return cases
