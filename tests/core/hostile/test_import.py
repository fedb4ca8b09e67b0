"""Import through the command line: every bad file is refused with its name and reason on stderr,
the good ones are imported, nothing half-imported is left behind."""

from __future__ import annotations

import json
import os

import numpy as np

from core.workspace import Workspace
from tests.helpers import hostile_files as H


def _hostile_source(src, outside):
    src.mkdir()
    H.valid_png(src / "GOOD1_fundus.png", (40, 50), seed=1)
    H.valid_png(src / "GOOD2.png", (40, 50), seed=2)
    H.png_claiming(src / "BOMB_fundus.png", 20000, 20000)
    H.jpeg_claiming(src / "JBOMB.jpg", 20000, 20000)
    H.tiff_raw(src / "ZERO.tif", 32, 32, rows_per_strip=0)
    H.tiff_channels(src / "FIVE_oct.tif")
    H.tiff_inconsistent_pages(src / "PAGES_oct.tif")
    H.tiff_float(src / "NAN.tif", np.full((8, 8), np.nan))
    H.nifti_claiming(src / "brainbomb.nii.gz")
    H.nifti_claiming(src / "negdim.nii.gz", dims=[3, -5, 4, 4])
    H.dicom_series(src / "dicom_bad", ImageOrientationPatient=[1, 0, 0])
    (src / "EMPTY.png").write_bytes(b"")
    # a pair with a broken sidecar of each kind
    for name, content in (("SIDEA", b"\xff\xfe\x00 not utf-8"), ("SIDEB", H.deep_json(100000).encode()), ("SIDEC", b'{"split": {"x": 1}}')):
        H.valid_png(src / f"{name}_fundus.png", (40, 50), seed=3)
        (src / f"{name}.json").write_bytes(content)
    # filesystem oddities
    secret = outside / "secret.png"
    H.valid_png(secret, (40, 50), seed=9)
    (src / "LEAK.png").symlink_to(secret)
    (src / "LEAKDIR").symlink_to(outside)
    os.mkfifo(src / "PIPE.png")
    (src / "FOLDER.png").mkdir()
    H.valid_png(src / "FOLDER.png" / "inner.png", (40, 50))
    return src


def test_import_refuses_each_bad_file_and_imports_the_rest(tmp_path, cli):
    outside = tmp_path / "outside"
    outside.mkdir()
    src = _hostile_source(tmp_path / "src", outside)
    ws_root = tmp_path / "ws"
    rc, out, err = cli("import", src, "-w", ws_root)
    assert rc == 0, err
    ws = Workspace.open(ws_root)
    assert set(ws.case_ids()) == {"GOOD1", "GOOD2"}, (out, err)
    for name, words in [
        ("BOMB_fundus.png", "compression"),
        ("JBOMB.jpg", "compression"),
        ("ZERO.tif", "truncated"),
        ("FIVE_oct.tif", "5 samples"),
        ("PAGES_oct.tif", "inconsistent"),
        ("NAN.tif", "NaN"),
        ("brainbomb.nii.gz", "budget"),
        ("negdim.nii.gz", "positive"),
        ("dicom_bad", "ImageOrientationPatient"),
        ("EMPTY.png", "empty"),
        ("SIDEA.json", "UTF-8"),
        ("SIDEB.json", "nested"),
        ("SIDEC.json", "split"),
        ("LEAK.png", "outside the source"),
        ("LEAKDIR", "outside the source"),
        ("PIPE.png", "FIFO"),
        ("FOLDER.png", "folder named like an image"),
    ]:
        line = next((ln for ln in err.splitlines() if name in ln and ln.startswith("  - ")), None)
        assert line is not None and words.lower() in line.lower(), f"{name}: {line!r}\n{err}"
    assert " - " not in out and "budget" not in out  # refusals go to stderr, the summary to stdout
    assert "\r" not in err and "\033[" not in err  # stderr is not a terminal here
    # nothing half-imported: only the two good cases have folders
    assert sorted(p.name for p in (ws_root / "images").iterdir()) == ["GOOD1", "GOOD2"]
    assert not any((ws_root / "labels").iterdir())


def test_import_with_only_bad_files_exits_2_naming_them(tmp_path, cli):
    src = tmp_path / "src"
    src.mkdir()
    H.png_claiming(src / "only_bomb.png", 20000, 20000)
    rc, out, err = cli("import", src, "-w", tmp_path / "ws", "--json")
    assert rc == 2
    report = json.loads(out)
    assert report["skipped"][0]["path"].endswith("only_bomb.png") and "compression" in report["skipped"][0]["reason"]
    assert not (tmp_path / "ws" / "images").exists() or not any((tmp_path / "ws" / "images").iterdir())


def test_a_failing_image_removes_the_files_of_its_case(tmp_path):
    from core.domain import CaseKind, Modality
    from core.workspace import NewImage

    src = tmp_path / "src"
    src.mkdir()
    good = H.valid_png(src / "good.png", (40, 50))
    bad = H.png_claiming(src / "bad.png", 20000, 20000)
    ws = Workspace.create(tmp_path / "ws")
    try:
        ws.add_case(
            "P1", CaseKind.PAIR, [NewImage("fundus", Modality.FUNDUS, source_path=good), NewImage("oct", Modality.OCT, source_path=bad)]
        )
    except Exception as exc:  # noqa: BLE001 - checked below
        assert "bad.png" in str(exc)
    assert not (tmp_path / "ws" / "images" / "P1").exists() and not ws.has_case("P1")


def test_labelme_next_to_an_image_with_a_hostile_image_path_is_a_warning(tmp_path, cli):
    src = tmp_path / "src"
    src.mkdir()
    H.valid_png(src / "CASE_fundus.png", (64, 64))
    H.labelme_doc(src / "CASE_fundus.json", image_path="../../../etc/passwd\x00.png", shapes=[{"label": "x", "points": [[0, 0], [1, 1]]}])
    rc, out, err = cli("import", src, "-w", tmp_path / "ws")
    assert rc == 0
    assert "CASE" in err and "labels not imported" in err
