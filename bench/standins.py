"""Small STAND-IN datasets in the public datasets' folder layouts, for running each reproduction's
code path end to end where the real data does not exist (offline, tests).

THEIR NUMBERS MEAN NOTHING. The images are the bundled fundus photo, synthetic OCT B-scans and the
MNI152 brain, shrunk and varied; their lesions come from :mod:`bench.lesions`. Nothing here is a
sample of IDRiD, EyeQ, BMAD, MMR or BraTS; only the folder and file naming follow theirs (as the
importer's adapters in ``core/data/adapters`` read them).
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

FUNDUS_PX = 96
OCT_PX = (64, 80)


def _write(path: Path, image: np.ndarray) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    data = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    # uncompressed TIFF: OpenCV's default LZW needs the imagecodecs package to be read back by tifffile
    params = [cv2.IMWRITE_TIFF_COMPRESSION, 1] if path.suffix.lower() in (".tif", ".tiff") else []
    if not cv2.imwrite(str(path), data, params):
        raise OSError(f"could not write {path}")
    return path


def _fundus(rng: np.random.Generator) -> np.ndarray:
    import cv2

    from core.data.synthetic import fundus as F

    img = F.random_derivation(rng).apply(F.load_retina())
    return cv2.resize(img, (FUNDUS_PX, FUNDUS_PX), interpolation=cv2.INTER_AREA)


def _bscan(rng: np.random.Generator) -> np.ndarray:
    import cv2

    from core.data.synthetic.oct import render_bscan

    return cv2.resize(render_bscan(rng).image, OCT_PX[::-1], interpolation=cv2.INTER_AREA)


def _fundus_lesion(img: np.ndarray, seed: int):
    from bench.lesions import fundus_lesion

    les = fundus_lesion(img, radius=6, contrast="strong", seed=seed)
    return les.image, les.mask


def _oct_lesion(img: np.ndarray, seed: int):
    from bench.lesions import oct_lesion

    les = oct_lesion(img, radius=5, contrast="strong", seed=seed)
    return les.image, les.mask


def idrid(root: Path, seed: int = 0) -> Path:
    """``A. Segmentation`` (lesion images with MA/HE masks) and ``B. Disease Grading`` (graded images and CSVs)."""
    rng = np.random.default_rng(seed)
    seg = root / "A. Segmentation"
    for i, (split, name) in enumerate((("a. Training Set", "IDRiD_01"), ("b. Testing Set", "IDRiD_55"))):
        img, mask = _fundus_lesion(_fundus(rng), seed + i)
        _write(seg / "1. Original Images" / split / f"{name}.jpg", img)
        folder, code = ("2. Haemorrhages", "HE") if i % 2 == 0 else ("1. Microaneurysms", "MA")
        _write(seg / "2. All Segmentation Groundtruths" / split / folder / f"{name}_{code}.tif", mask.astype(np.uint8) * 255)
    grading = root / "B. Disease Grading"
    plan = {
        "a. Training Set": [("IDRiD_001", 0), ("IDRiD_002", 0), ("IDRiD_003", 0)],
        "b. Testing Set": [("IDRiD_101", 0), ("IDRiD_102", 3)],
    }
    for split, rows in plan.items():
        for name, grade in rows:
            img = _fundus(rng)
            if grade:
                img, _ = _fundus_lesion(img, int(rng.integers(1000)))
            _write(grading / "1. Original Images" / split / f"{name}.jpg", img)
        tag = "Training" if split.startswith("a") else "Testing"
        table = grading / "2. Groundtruths" / f"{split[:2]} IDRiD_Disease Grading_{tag} Labels.csv"
        table.parent.mkdir(parents=True, exist_ok=True)
        with table.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["Image name", "Retinopathy grade", "Risk of macular edema "])
            for name, grade in rows:
                w.writerow([name, grade, 0])
    return root


def eyeq(root: Path, seed: int = 0) -> Path:
    """``Label_EyeQ_train.csv`` / ``Label_EyeQ_test.csv`` (index, image, quality, DR_grade) and the images."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, rows in (
        ("train", [("1_left", 0, 0), ("2_left", 0, 0), ("3_right", 0, 0), ("4_left", 0, 1), ("5_left", 2, 0)]),
        ("test", [("10_left", 0, 0), ("12_left", 2, 0), ("14_left", 1, 2)]),
    ):
        with (root / f"Label_EyeQ_{split}.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["", "image", "quality", "DR_grade"])
            for i, (name, grade, quality) in enumerate(rows):
                img = _fundus(rng)
                if grade:
                    img, _ = _fundus_lesion(img, int(rng.integers(1000)))
                _write(root / split / f"{name}.jpeg", img)
                w.writerow([i, f"{name}.jpeg", quality, grade])
    return root


def bmad(root: Path, seed: int = 0) -> Path:
    """``train/good``, ``valid`` and ``test`` with ``good/img`` and ``Ungood/{img,label}`` (name the
    folder after the benchmark, e.g. ``RESC`` or ``BrainMRI``: the adapter reads the modality from it)."""
    rng = np.random.default_rng(seed)
    oct_like = any(k in root.name.lower() for k in ("oct", "resc"))

    def normal():
        return _bscan(rng) if oct_like else _brain_slice(rng)

    for i in range(3):
        _write(root / "train" / "good" / f"{i:03d}.png", normal())
    for part, n_good, n_bad in (("valid", 0, 1), ("test", 1, 1)):
        for i in range(n_good):
            _write(root / part / "good" / "img" / f"{i:03d}.png", normal())
        for i in range(n_bad):
            img, mask = _oct_lesion(normal(), seed + 10 * i + len(part))
            _write(root / part / "Ungood" / "img" / f"{i:03d}.png", img)
            _write(root / part / "Ungood" / "label" / f"{i:03d}.png", mask.astype(np.uint8) * 255)
    return root


def _brain_slice(rng: np.random.Generator) -> np.ndarray:
    import cv2

    from core.data.synthetic.mri import load_mni152

    data = _mni_cache(load_mni152)
    z = int(rng.integers(data.shape[2] // 2 - 10, data.shape[2] // 2 + 10))
    sl = data[:, :, z].T[::-1]
    sl = np.clip(sl / max(float(np.percentile(sl, 99.5)), 1e-6) * 255 * rng.uniform(0.85, 1.1), 0, 255).astype(np.uint8)
    return cv2.resize(sl, (64, 64), interpolation=cv2.INTER_AREA)


_MNI: dict[str, np.ndarray] = {}


def _mni_cache(load) -> np.ndarray:
    if "data" not in _MNI:
        _MNI["data"] = np.asarray(load().data, np.float32)
    return _MNI["data"]


def mmr(root: Path, seed: int = 0) -> Path:
    """``{train,test}/{normal,abnormal}/<case>/{fundus,oct}.png`` with LabelMe ``fundus.json`` / ``oct.json``
    (labels are the MMRAD paper's symptom ids: 4 retinal hemorrhage, 7 intraretinal fluid)."""
    from core.io.labelme import LabelDocument, Shape, write_labelme

    rng = np.random.default_rng(seed)
    for split, group, n in (("train", "normal", 3), ("test", "normal", 1), ("test", "abnormal", 1)):
        for i in range(n):
            folder = root / split / group / f"{split}_{group}_{i:02d}"
            fundus, oct_ = _fundus(rng), _bscan(rng)
            if group == "abnormal":
                fundus, fmask = _fundus_lesion(fundus, seed + i)
                oct_, omask = _oct_lesion(oct_, seed + i)
                for role, img, mask, label in (("fundus", fundus, fmask, "4"), ("oct", oct_, omask, "7")):
                    doc = LabelDocument(image_path=f"{role}.png", image_height=img.shape[0], image_width=img.shape[1])
                    doc.shapes.append(Shape.from_mask(label, mask))
                    folder.mkdir(parents=True, exist_ok=True)
                    write_labelme(folder / f"{role}.json", doc)
            _write(folder / "fundus.png", fundus)
            _write(folder / "oct.png", oct_)
    return root


def brats(root: Path, seed: int = 0, n_train: int = 2, n_test: int = 1, name: str = "BraTS2021_{:05d}") -> Path:
    """``<case>/<case>_{t1,t1ce,t2,flair,seg}.nii.gz`` (seg labels 1, 2, 4), small volumes (a 12-slice slab of
    the MNI152 brain at 8 mm: every slice is encoded by LiteMedSAM when RASALoRE fits); case ids are chosen
    so the adapter's 80/20 hash split gives ``n_train`` and ``n_test`` cases."""
    import nibabel as nib

    from bench.lesions import mri_lesion
    from core.data.synthetic.mri import load_mni152

    rng = np.random.default_rng(seed)
    brain = np.ascontiguousarray(_mni_cache(load_mni152)[::8, ::8, ::8][:, :, 6:18])  # 25 x 30 x 12 voxels
    want = {"train": n_train, "test": n_test}
    k = 0
    while want["train"] or want["test"]:
        cid = name.format(k)
        k += 1
        split = "train" if int(hashlib.sha256(cid.encode()).hexdigest(), 16) % 5 else "test"  # as core/data/adapters/brats.py
        if not want[split]:
            continue
        want[split] -= 1
        les = mri_lesion(brain, radius=4, contrast="strong", seed=int(rng.integers(1 << 30)))
        seg = np.where(les.mask, 2, 0).astype(np.uint8)
        core_ = les.mask & (np.abs(les.image - les.image[les.mask].mean()) < les.image[les.mask].std())
        seg[core_] = 4
        folder = root / cid
        folder.mkdir(parents=True, exist_ok=True)
        affine = np.diag([8.0, 8.0, 8.0, 1.0])
        for seq, gain in (("t1", 0.9), ("t1ce", 1.0), ("t2", 1.2), ("flair", 1.1)):
            vol = (les.image * gain * rng.uniform(0.9, 1.1)).astype(np.float32)
            nib.save(nib.Nifti1Image(vol, affine), str(folder / f"{cid}_{seq}.nii.gz"))
        nib.save(nib.Nifti1Image(seg, affine), str(folder / f"{cid}_seg.nii.gz"))
    return root


WRITERS = {"idrid": idrid, "eyeq": eyeq, "bmad": bmad, "mmr": mmr, "brats": brats}
