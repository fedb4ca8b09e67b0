import json

import numpy as np
import pytest

from core.cli import main
from core.domain import CaseKind, ImageMeta, Modality, ScanLine
from core.hashing import array_sha256
from core.workspace import Workspace
from tests.helpers.clinic_files import bscans, positions, smooth_rgb, write_heyex_xml, write_photo, write_vol, write_volume_dcm


def _import(src, ws, capsys):
    rc = main(["import", str(src), "--workspace", str(ws), "--json"])
    return rc, json.loads(capsys.readouterr().out)


def _check_exact(ws: Workspace, rec):
    """What the workspace reads back is exactly what was hashed at import."""
    pixels = ws.read_pixels(rec)
    assert array_sha256(pixels) == rec.sha256 and tuple(pixels.shape) == tuple(rec.shape)
    return pixels


def test_op_opt_and_vol_make_three_cases(tmp_path, capsys):
    src = tmp_path / "clinic"
    src.mkdir()
    write_photo(src / "photo.dcm", smooth_rgb(), laterality="R", study="1.2.3.100")  # other eye, other study
    write_volume_dcm(src / "macula.dcm", "1.2.3.99", laterality="L", study="1.2.3.200")  # its localizer is not here
    vol = write_vol(src / "spectralis.vol", n=5, laterality="L")
    rc, report = _import(src, tmp_path / "ws", capsys)
    assert rc == 0 and not report["skipped"]
    ws = Workspace.open(tmp_path / "ws")
    cases = {c.id: c for c in ws.cases()}
    assert set(cases) == {"photo", "macula", "spectralis"}
    assert cases["photo"].kind == CaseKind.FUNDUS and [im.name for im in cases["photo"].images] == ["fundus"]
    assert cases["macula"].kind == CaseKind.OCT and cases["macula"].bscan_positions is None
    assert cases["macula"].image("oct").meta.extra["unanchored_positions"] == positions(5).tolist()
    assert any("not in the folder" in w for w in report["warnings"])
    np.testing.assert_array_equal(_check_exact(ws, cases["macula"].image("oct")), bscans(5, seed=3))

    spec = cases["spectralis"]
    assert spec.kind == CaseKind.OCT and [im.name for im in spec.images] == ["oct", "localizer"]
    oct_rec, loc = spec.image(Modality.OCT), spec.named("localizer")
    assert oct_rec.is_stack and oct_rec.n_bscans == 5 and loc.is_localizer and loc.modality == Modality.FUNDUS
    np.testing.assert_array_equal(_check_exact(ws, oct_rec), vol.bscans)
    np.testing.assert_array_equal(_check_exact(ws, loc), vol.localizer)
    assert spec.localizer_name == "localizer" and spec.localizer_for(oct_rec) is not None
    got = np.array([[line.start, line.end] for line in spec.bscan_positions])
    np.testing.assert_allclose(got, vol.positions, atol=1e-9)
    assert oct_rec.scan_line_at(4) == spec.bscan_positions[4] and oct_rec.scan_line_at(9) is None
    sp = oct_rec.oct_spacing_um
    assert sp.x_um == pytest.approx(11.5) and sp.axial_um == pytest.approx(3.87) and sp.between_um == pytest.approx(120.0)
    assert oct_rec.meta.laterality == "L" and oct_rec.meta.acquired == "2024-05-06T10:11:12"
    assert oct_rec.meta.extra["source_sha256"] and oct_rec.meta.source.endswith("spectralis.vol")
    photo = cases["photo"].image("fundus")
    assert photo.meta.uids["study_uid"] == "1.2.3.100" and photo.meta.uids["sop_instance_uid"]
    np.testing.assert_array_equal(_check_exact(ws, photo), smooth_rgb())


def test_op_and_opt_of_one_eye_and_study_are_one_case(tmp_path, capsys):
    src = tmp_path / "study"
    src.mkdir()
    uid, _ = write_photo(src / "fundus.dcm", smooth_rgb(), laterality="L", study="1.2.3.7", compression="jpeg")
    write_volume_dcm(src / "oct.dcm", uid, laterality="L", study="1.2.3.7", compression="j2k")
    write_vol(src / "other.vol", n=3)
    rc, report = _import(src, tmp_path / "ws", capsys)
    assert rc == 0 and sorted(e["case"] for e in report["imported"]) == ["oct", "other"]
    ws = Workspace.open(tmp_path / "ws")
    pair = ws.case("oct")
    assert pair.kind == CaseKind.PAIR and [im.name for im in pair.images] == ["fundus", "oct"]
    assert pair.localizer_name == "fundus" and pair.localizer_for(pair.image("oct")).name == "fundus"
    uids = pair.image("oct").meta.uids
    assert uids["study_uid"] == "1.2.3.7" and uids["localizer_uid"] == uid and uids["series_uid"] and uids["sop_instance_uid"]
    assert pair.image("fundus").meta.uids["sop_instance_uid"] == uid
    np.testing.assert_allclose([[ln.start, ln.end] for ln in pair.bscan_positions], positions(5), atol=1e-6)
    np.testing.assert_array_equal(_check_exact(ws, pair.image("oct")), bscans(5, seed=3))


def test_referenced_localizer_and_colour_photo_are_both_kept(tmp_path, capsys):
    src = tmp_path / "study"
    src.mkdir()
    ir_uid, _ = write_photo(src / "ir.dcm", smooth_rgb()[..., 1], laterality="R", study="9.9")
    write_photo(src / "colour.dcm", smooth_rgb(), laterality="R", study="9.9")
    write_photo(src / "fellow.dcm", smooth_rgb(), laterality="L", study="9.9")
    write_volume_dcm(src / "vol.dcm", ir_uid, laterality="R", study="9.9")
    rc, report = _import(src, tmp_path / "ws", capsys)
    ws = Workspace.open(tmp_path / "ws")
    case = ws.case("vol")
    assert [im.name for im in case.images] == ["fundus", "localizer", "oct"] and case.kind == CaseKind.PAIR
    assert case.image("fundus").shape[-1] == 3 and case.named("localizer").is_localizer
    assert case.localizer_name == "localizer"
    assert {c.id for c in ws.cases()} == {"vol", "fellow"}  # the other eye's photo is a case of its own


def test_bad_files_are_listed_and_never_stop_the_others(tmp_path, capsys):
    src = tmp_path / "mixed"
    src.mkdir()
    write_vol(src / "good.vol", n=3)
    data = (src / "good.vol").read_bytes()
    (src / "cut.vol").write_bytes(data[:3000])
    write_volume_dcm(src / "opt.dcm", None, n=3)
    (src / "cut.dcm").write_bytes((src / "opt.dcm").read_bytes()[:-2000])
    rc, report = _import(src, tmp_path / "ws", capsys)
    assert rc == 0 and sorted(e["case"] for e in report["imported"]) == ["good", "opt"]
    reasons = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"cut.vol", "cut.dcm"} and all("truncated" in r for r in reasons.values())
    assert not (tmp_path / "ws" / "images" / "cut").exists()


def test_only_hostile_files_exit_2_with_the_file_named(tmp_path, capsys):
    src = tmp_path / "hostile"
    src.mkdir()
    write_vol(src / "scan.vol", n=2)
    data = bytearray((src / "scan.vol").read_bytes())
    data[16:20] = (60000).to_bytes(4, "little")  # 60,000 B-scans claimed
    data[12:16] = (60000).to_bytes(4, "little")
    (src / "scan.vol").write_bytes(bytes(data))
    rc = main(["import", str(src), "--workspace", str(tmp_path / "ws")])
    out = capsys.readouterr()
    assert rc == 2 and "scan.vol" in out.out + out.err and "budget" in out.out + out.err


def test_heyex_xml_export_folder_is_one_volume_case_not_loose_images(tmp_path, capsys):
    src = tmp_path / "src"
    vol = write_heyex_xml(src / "patient7" / "exam", n=3)
    rc, report = _import(src, tmp_path / "ws", capsys)
    assert rc == 0 and [e["case"] for e in report["imported"]] == ["export"] and not report["skipped"]
    ws = Workspace.open(tmp_path / "ws")
    case = ws.case("export")
    assert [im.name for im in case.images] == ["oct", "localizer"] and case.localizer_name == "localizer"
    np.testing.assert_array_equal(_check_exact(ws, case.image("oct")), vol.bscans)


def test_image_meta_json_round_trip_and_old_workspaces():
    lines = [ScanLine((1.0, 2.0), (3.0, 4.5)), ScanLine((1.0, 5.0), (3.0, 7.5))]
    meta = ImageMeta(laterality="R", bscan_positions=lines, localizer="localizer", acquired="2024-01-01T00:00:00", uids={"study_uid": "1"})
    back = ImageMeta.from_json(json.loads(json.dumps(meta.to_json())))
    assert back.bscan_positions == lines and back.localizer == "localizer" and back.uids == {"study_uid": "1"}
    old = ImageMeta.from_json({"laterality": "L", "scan_line": [[0, 1], [2, 3]], "synthetic": True, "vendor_key": 5})
    assert old.bscan_positions is None and old.role is None and old.extra == {"vendor_key": 5} and old.scan_line.end == (2.0, 3.0)
    damaged = ImageMeta.from_json({"bscan_positions": [[1, 2], "x"]})
    assert damaged.bscan_positions is None and damaged.extra["invalid_bscan_positions"] == [[1, 2], "x"]
