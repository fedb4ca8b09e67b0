"""Each dataset adapter on a tiny fixture in its exact folder layout."""

import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from core.data.importer import import_folder
from core.domain import CaseKind, Modality
from core.workspace import Workspace

rng = np.random.default_rng(0)


def rgb(path, h=40, w=48):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def mask(path, h=40, w=48, box=(5, 5, 15, 20), value=255, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros((h, w), np.uint8)
    y0, x0, y1, x1 = box
    m[y0:y1, x0:x1] = value
    Image.fromarray(m).save(path)


@pytest.fixture
def ws(tmp_path):
    return Workspace.create(tmp_path / "ws")


def test_idrid(tmp_path, ws):
    root = tmp_path / "IDRiD"
    seg = root / "A. Segmentation"
    rgb(seg / "1. Original Images" / "a. Training Set" / "IDRiD_01.jpg")
    gt = seg / "2. All Segmentation Groundtruths" / "a. Training Set"
    mask(gt / "1. Microaneurysms" / "IDRiD_01_MA.tif", box=(1, 1, 3, 3))
    mask(gt / "2. Haemorrhages" / "IDRiD_01_HE.tif", box=(10, 10, 20, 30))
    mask(gt / "5. Optic Disc" / "IDRiD_01_OD.tif")
    grading = root / "B. Disease Grading"
    for n in ("IDRiD_001", "IDRiD_002", "IDRiD_003"):
        rgb(grading / "1. Original Images" / "a. Training Set" / f"{n}.jpg")
    csv_dir = grading / "2. Groundtruths"
    csv_dir.mkdir(parents=True)
    (csv_dir / "a. IDRiD_Disease Grading_Training Labels.csv").write_text(
        "Image name,Retinopathy grade,Risk of macular edema \nIDRiD_001,0,0\nIDRiD_002,3,1\n"
    )
    rep = import_folder(ws, root)
    assert rep.layout == "idrid"
    c = ws.case("IDRiD_01")
    assert c.truth == "abnormal" and c.split == "test"
    doc = ws.read_labels(c.image("fundus"))
    assert sorted(s.label for s in doc.shapes) == ["haemorrhages", "microaneurysms"]  # optic disc ignored
    assert doc.class_mask("haemorrhages")[15, 20] and doc.class_mask("haemorrhages").sum() == 200
    assert ws.case("IDRiD_001").truth == "normal" and ws.case("IDRiD_001").split == "train"
    assert ws.case("IDRiD_002").truth == "abnormal" and ws.case("IDRiD_002").split == "test"
    assert any("IDRiD_003" in s["path"] and "no grade" in s["reason"] for s in rep.skipped)


def test_bmad_resc(tmp_path, ws):
    root = tmp_path / "RESC"
    rgb(root / "train" / "good" / "000.png")
    rgb(root / "test" / "good" / "img" / "010.png")
    rgb(root / "test" / "Ungood" / "img" / "020.png")
    mask(root / "test" / "Ungood" / "label" / "020.png")
    rgb(root / "valid" / "Ungood" / "img" / "030.png")
    rep = import_folder(ws, root)
    assert rep.layout == "bmad"
    cases = {c.id: c for c in ws.cases()}
    assert len(cases) == 4 and all(c.kind == CaseKind.OCT for c in cases.values())
    bad = cases["RESC-test-ungood-020"]
    assert bad.truth == "abnormal" and ws.read_labels(bad.image("oct")).union_mask().sum() == 150
    assert cases["RESC-train-000"].split == "train" and cases["RESC-train-000"].truth == "normal"
    assert any("no label image" in w for w in rep.warnings)


def test_bmad_brain_becomes_slices(tmp_path, ws):
    root = tmp_path / "BrainMRI"
    rgb(root / "train" / "good" / "a.png")
    rgb(root / "test" / "good" / "b.png")
    import_folder(ws, root)
    assert {c.kind for c in ws.cases()} == {CaseKind.SLICE}
    assert ws.cases()[0].images[0].modality == Modality.SLICE


def test_mmr_pairs_with_numeric_symptom_ids(tmp_path, ws):
    root = tmp_path / "MMR"
    n = root / "train" / "normal" / "N001"
    rgb(n / "fundus.png", 60, 60)
    rgb(n / "oct.png", 30, 50)
    (n / "scan_line.json").write_text(json.dumps({"scan_line": [[5, 30], [55, 30]], "laterality": "R"}))
    a = root / "test" / "abnormal" / "A001"
    rgb(a / "fundus.png", 60, 60)
    rgb(a / "oct.png", 30, 50)
    for role, lab, (h, w) in (("fundus", "4", (60, 60)), ("oct", "3", (30, 50))):
        (a / f"{role}.json").write_text(
            json.dumps(
                {
                    "shapes": [{"label": lab, "points": [[1, 1], [9, 1], [5, 8]], "shape_type": "polygon"}],
                    "imagePath": f"{role}.png",
                    "imageHeight": h,
                    "imageWidth": w,
                }
            )
        )
    rep = import_folder(ws, root)
    assert rep.layout == "mmr"
    normal, abnormal = ws.case("N001"), ws.case("A001")
    assert normal.kind == CaseKind.PAIR and normal.split == "train" and normal.image("oct").meta.scan_line is not None
    assert abnormal.truth == "abnormal"
    assert ws.read_labels(abnormal.image("fundus")).shapes[0].label == "retinal hemorrhage"
    assert ws.read_labels(abnormal.image("oct")).shapes[0].label == "subretinal fluid"


def test_eyeq_csv(tmp_path, ws):
    root = tmp_path / "EyeQ"
    for n in ("1_left.jpeg", "2_right.jpeg", "3_left.jpeg"):
        rgb(root / "images" / n)
    (root / "Label_EyeQ_train.csv").write_text(
        ",image,quality,DR_grade\n0,1_left.jpeg,0,0\n1,2_right.jpeg,1,2\n2,3_left.jpeg,2,0\n3,9.jpeg,0,0\n"
    )
    rep = import_folder(ws, root)
    assert rep.layout == "eyeq"
    assert ws.case("1_left").truth == "normal" and ws.case("1_left").split == "train"
    assert ws.case("2_right").truth == "abnormal" and ws.case("2_right").split == "test"
    reasons = {s["path"].split("/")[-1]: s["reason"] for s in rep.skipped}
    assert "reject" in reasons["3_left.jpeg"] and "not found" in reasons["Label_EyeQ_train.csv:9.jpeg"]


def test_brats_folders(tmp_path, ws):
    root = tmp_path / "BraTS"
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    for cid in ("BraTS2021_00001", "BraTS-GLI-00002-000"):
        d = root / cid
        d.mkdir(parents=True)
        sep = "_" if cid.startswith("BraTS2021") else "-"
        names = ("t1", "t1ce", "flair") if sep == "_" else ("t1n", "t1c", "t2f")
        for seq in names:
            nib.save(nib.Nifti1Image(rng.random((8, 9, 7)).astype(np.float32), aff), str(d / f"{cid}{sep}{seq}.nii.gz"))
        seg = np.zeros((8, 9, 7), np.uint8)
        seg[2:4, 2:4, 2:4] = 4
        nib.save(nib.Nifti1Image(seg, aff), str(d / f"{cid}{sep}seg.nii.gz"))
    rep = import_folder(ws, root)
    assert rep.layout == "brats"
    a, b = ws.case("BraTS2021_00001"), ws.case("BraTS-GLI-00002-000")
    assert [im.name for im in a.images] == ["t1", "t1ce", "flair"] and [im.name for im in b.images] == ["t1", "t1ce", "flair"]
    labels, legend = ws.read_label_volume(a.images[0])
    assert labels[3, 3, 3] == 3 and a.truth == "abnormal" and a.split in ("train", "test")
