import json
import shutil

import numpy as np

from core.cli import main as cli_main
from core.io.labelme import read_labelme
from core.labels.classes import workspace_class_set
from core.labels.export import export_labels, import_labelme_folder, labelled_targets
from core.workspace import Workspace


def test_png_export_index_values_and_legend(small_demo, tmp_path):
    ws = Workspace.open(small_demo)
    out = tmp_path / "png"
    report = export_labels(ws, "png", out)
    legend = json.loads((out / "legend.json").read_text())
    two_d = [t for t in labelled_targets(ws) if not t.is_volume]
    assert len(report.written) == len(two_d) > 0
    assert any(s["reason"].startswith("MRI") for s in report.skipped)
    ids = {c["name"]: c["id"] for c in legend["modalities"]["fundus"]["classes"]}
    assert ids == {c.name: c.id for c in workspace_class_set(ws, "fundus").classes}
    from PIL import Image

    for entry in report.written:
        t = next(t for t in two_d if t.key == entry["image"])
        doc = ws.read_labels(t.image, t.page)
        index = np.asarray(Image.open(out / entry["file"]))
        assert index.shape == (doc.image_height, doc.image_width) and index.dtype == np.uint8
        mod_ids = {c["name"]: c["id"] for c in legend["modalities"][t.modality]["classes"]}
        for s in doc.shapes:
            m = s.rasterize(doc.image_height, doc.image_width)
            assert m.any() and (index[m] == mod_ids[s.label]).mean() > 0.99  # overlaps: last shape wins
        assert sorted(legend["files"][entry["file"]]["ids_present"]) == sorted(set(np.unique(index)) - {0})
    ws.close()


def test_nifti_export_keeps_the_scan_affine_and_header_exactly(small_demo, tmp_path):
    import nibabel as nib

    ws = Workspace.open(small_demo)
    out = tmp_path / "nii"
    report = export_labels(ws, "nifti", out)
    vols = [t for t in labelled_targets(ws) if t.is_volume]
    assert len(report.written) == len(vols) > 0
    for entry in report.written:
        t = next(t for t in vols if t.key == entry["image"])
        scan = nib.load(str(ws.image_path(t.image)))
        lab = nib.load(str(out / entry["file"]))
        assert lab.shape == scan.shape
        assert np.array_equal(lab.affine, scan.affine)  # bit for bit
        assert np.array_equal(lab.header.get_sform(), scan.header.get_sform())
        assert np.array_equal(lab.header.get_qform(), scan.header.get_qform())
        assert int(lab.header["sform_code"]) == int(scan.header["sform_code"])
        assert int(lab.header["qform_code"]) == int(scan.header["qform_code"])
        stored, legend = ws.read_label_volume(t.image)
        assert np.array_equal(np.asarray(lab.dataobj), stored) and stored.any()
        assert json.loads((out / "legend.json").read_text())["files"][entry["file"]]["legend"] == legend
    ws.close()


def test_labelme_export_import_round_trip(small_demo, small_demo_master, tmp_path):
    ws = Workspace.open(small_demo)
    out = tmp_path / "lm"
    report = export_labels(ws, "labelme", out)
    assert report.written
    first = out / report.written[0]["file"]
    doc = read_labelme(first)
    assert (first.parent / doc.image_path).exists() and "/" not in doc.image_path
    assert doc.extra.get("anomalyStudio")  # unknown keys preserved
    # a fresh workspace copy without labels gets them back from the folder, by layout and by pixels
    fresh_root = tmp_path / "fresh"
    shutil.copytree(small_demo_master, fresh_root, ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    shutil.rmtree(fresh_root / "labels")
    (fresh_root / "labels").mkdir()
    moved = tmp_path / "loose"
    moved.mkdir()
    # one file re-laid out flat (no case folder): must match by the pixels of its image
    loose_json = moved / "some_name.json"
    obj = json.loads(first.read_text())
    shutil.copyfile(first.parent / doc.image_path, moved / doc.image_path)
    loose_json.write_text(json.dumps(obj))
    fresh = Workspace.open(fresh_root)
    rep2 = import_labelme_folder(fresh, out)
    assert len(rep2.written) == len(report.written) and not rep2.skipped
    rep3 = import_labelme_folder(fresh, moved)
    assert len(rep3.written) == 1 and rep3.written[0]["image"] == report.written[0]["image"]
    for entry in report.written:
        t = next(t for t in labelled_targets(ws) if t.key == entry["image"])
        a, b = ws.read_labels(t.image, t.page), fresh.read_labels(t.image, t.page)
        assert [s.label for s in a.shapes] == [s.label for s in b.shapes]
        assert np.array_equal(a.union_mask(), b.union_mask())
        assert b.image_path == a.image_path  # relative, inside the workspace
    ws.close()
    fresh.close()


def test_import_refuses_image_paths_outside_the_folder(small_demo, tmp_path):
    ws = Workspace.open(small_demo)
    src = tmp_path / "evil"
    src.mkdir()
    (src / "x.json").write_text(json.dumps({"shapes": [], "imagePath": "../../etc/passwd", "imageHeight": 4, "imageWidth": 4}))
    rep = import_labelme_folder(ws, src)
    assert not rep.written and "outside" in rep.skipped[0]["reason"]
    ws.close()


def test_cli_labels_export_and_bad_input(small_demo, tmp_path, capsys):
    assert cli_main(["labels", "export", "--workspace", str(small_demo), "--format", "png", "--out", str(tmp_path / "o"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["written"] and (tmp_path / "o" / "legend.json").exists()
    assert cli_main(["labels", "export", "--workspace", str(tmp_path / "nope"), "--format", "png", "--out", str(tmp_path / "o2")]) == 2
    assert "nope" in capsys.readouterr().err
    assert cli_main(["labels", "import", str(tmp_path / "missing"), "--workspace", str(small_demo)]) == 2
