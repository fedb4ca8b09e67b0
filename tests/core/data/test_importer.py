import json

import nibabel as nib
import numpy as np
import tifffile
from PIL import Image

from core.data.importer import import_folder
from core.domain import CaseKind, ScanLine
from core.workspace import Workspace
from tests.helpers.files import make_dicom_series


def _write_layout(src):
    rng = np.random.default_rng(0)
    src.mkdir()
    Image.fromarray(rng.integers(0, 255, (60, 60, 3), dtype=np.uint8)).save(src / "P001_fundus.png")
    Image.fromarray(rng.integers(0, 255, (40, 50), dtype=np.uint8)).save(src / "P001_oct.png")
    (src / "P001.json").write_text(json.dumps({"scan_line": [[5, 30], [55, 30]], "laterality": "R", "split": "test"}))
    (src / "P001_fundus.json").write_text(
        json.dumps(
            {
                "version": "5.4.1",
                "flags": {},
                "imagePath": "P001_fundus.png",
                "imageData": None,
                "imageHeight": 60,
                "imageWidth": 60,
                "shapes": [{"label": "retinal hemorrhage", "points": [[1, 1], [10, 1], [5, 9]], "shape_type": "polygon"}],
            }
        )
    )
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(src / "loose photo.jpg")
    tifffile.imwrite(src / "volume_scan.tif", rng.integers(0, 65535, (4, 30, 40), dtype=np.uint16), photometric="minisblack")
    sub = src / "brats"
    sub.mkdir()
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    for seq in ("t1", "flair"):
        nib.save(nib.Nifti1Image(rng.random((10, 12, 8)).astype(np.float32), aff), str(sub / f"BraTS_001_{seq}.nii.gz"))
    seg = np.zeros((10, 12, 8), np.uint8)
    seg[2:4, 2:4, 2:4] = 4
    seg[5, 5, 5] = 1
    nib.save(nib.Nifti1Image(seg, aff), str(sub / "BraTS_001_seg.nii.gz"))
    make_dicom_series(src / "dicom_head", n=3)
    (src / "readme.txt").write_text("notes")
    (src / "broken_fundus.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")


def test_import_all_layouts_and_report(tmp_path):
    src = tmp_path / "src"
    _write_layout(src)
    ws = Workspace.create(tmp_path / "w")
    report = import_folder(ws, src)
    got = {e["case"]: e for e in report.imported}
    assert set(got) == {"P001", "loose_photo", "volume_scan", "BraTS_001", "dicom_head"}
    assert got["P001"]["kind"] == "fundus_oct" and got["P001"]["labels"] == ["fundus"]
    assert got["volume_scan"]["kind"] == "oct"
    assert got["BraTS_001"]["images"] == ["flair", "t1"] and got["BraTS_001"]["labels"] == ["seg"]
    reasons = {p["path"].split("/")[-1]: p["reason"] for p in report.skipped}
    assert "not an image" in reasons["readme.txt"]
    assert "broken_fundus.png" in reasons and "not a readable image" in reasons["broken_fundus.png"]

    pair = ws.case("P001")
    assert pair.image("oct").meta.scan_line == ScanLine((5.0, 30.0), (55.0, 30.0))
    assert pair.image("fundus").meta.laterality == "R" and pair.split == "test"
    assert ws.read_labels(pair.image("fundus")).shapes[0].label == "retinal hemorrhage"
    stack = ws.load_case("volume_scan").images["oct"].array
    assert stack.shape == (4, 30, 40) and stack.dtype == np.uint16
    brats = ws.case("BraTS_001")
    assert brats.kind == CaseKind.MRI
    labels, legend = ws.read_label_volume(brats.images[0])
    assert labels[3, 3, 3] == 3 and labels[5, 5, 5] == 1 and legend["enhancing tumour"] == 3
    dicom = ws.case("dicom_head")
    assert dicom.images[0].shape == (64, 64, 3)
    assert ws.image_path(dicom.images[0]).name.endswith(".nii.gz")

    # importing again skips existing cases with a reason, imports nothing twice
    again = import_folder(ws, src)
    assert not again.imported
    assert any("already exists" in s["reason"] for s in again.skipped)


def test_nifti_import_is_byte_exact(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    aff = np.array([[0.0, 0.0, 1.2, -50.5], [-0.9, 0.0, 0.0, 80.25], [0.0, 1.1, 0.0, -20.125], [0, 0, 0, 1]])
    img = nib.Nifti1Image(np.arange(6 * 7 * 5, dtype=np.int16).reshape(6, 7, 5), aff)
    nib.save(img, str(src / "head.nii.gz"))
    ws = Workspace.create(tmp_path / "w")
    import_folder(ws, src)
    rec = ws.case("head").images[0]
    assert ws.image_path(rec).read_bytes() == (src / "head.nii.gz").read_bytes()
    assert np.array(rec.meta.affine).tobytes() == nib.load(str(src / "head.nii.gz")).affine.tobytes()
    ws.write_label_volume(rec, np.ones((6, 7, 5), np.uint8), {"x": 1})
    out = nib.load(str(ws.label_volume_path(rec)))
    assert out.affine.tobytes() == nib.load(str(src / "head.nii.gz")).affine.tobytes()
