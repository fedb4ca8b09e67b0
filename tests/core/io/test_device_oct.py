import struct

import numpy as np
import pytest

from core.errors import CorruptFileError, InputError, UnsupportedFormatError
from core.io.clinic import clinic_format, read_clinic_file
from core.io.limits import TooLargeError
from tests.helpers.clinic_files import (
    SPACING,
    bscans,
    smooth_rgb,
    write_bioptigen,
    write_heyex_xml,
    write_optovue,
    write_topcon_fda,
    write_topcon_fds,
    write_vol,
)

# .vol header offsets (HSF-OCT-103, as eyepy's vol_format lays it out)
N_BSCANS_AT, SIZE_X_AT = 16, 12


def test_heidelberg_vol_exact_round_trip(tmp_path):
    src = write_vol(tmp_path / "scan.vol", n=6, laterality="R")
    assert (tmp_path / "scan.vol").read_bytes().startswith(b"HSF-OCT-103")
    vol = read_clinic_file(tmp_path / "scan.vol")
    assert clinic_format(tmp_path / "scan.vol") == ".vol"
    np.testing.assert_array_equal(vol.bscans, src.bscans)  # values, count and order (pixel [i, 0, 0] == i)
    np.testing.assert_array_equal(vol.localizer, src.localizer)
    np.testing.assert_allclose(vol.positions, src.positions, rtol=0, atol=1e-9)
    assert vol.laterality == "R" and vol.acquired == "2024-05-06T10:11:12"
    assert vol.spacing.x_um == pytest.approx(SPACING.x_um) and vol.spacing.axial_um == pytest.approx(SPACING.axial_um)
    assert vol.spacing.between_um == pytest.approx(SPACING.between_um) and vol.localizer_spacing_um == pytest.approx((11.25, 11.25))
    assert vol.source_format == "Heidelberg Spectralis .vol" and not vol.warnings


def test_vol_read_by_eyepy_itself_matches(tmp_path):
    """The file is a .vol as eyepy reads it: its own reader gives the same B-scans and positions in mm."""
    from eyepy.io import HeVolReader

    src = write_vol(tmp_path / "scan.vol", n=4)
    ev = HeVolReader(tmp_path / "scan.vol").volume
    np.testing.assert_array_equal(ev.data, src.bscans)
    start = ev.meta["bscan_meta"][2]["start_pos"]
    assert start == pytest.approx(tuple(src.positions[2, 0] * 11.25 / 1000.0))
    assert ev.meta["laterality"] == "OS"


def _patch(path, offset, value):
    data = bytearray(path.read_bytes())
    data[offset : offset + 4] = struct.pack("<I", value)
    path.write_bytes(bytes(data))


def test_truncated_and_hostile_vol_files_are_refused(tmp_path, monkeypatch):
    write_vol(tmp_path / "scan.vol", n=3)
    data = (tmp_path / "scan.vol").read_bytes()
    (tmp_path / "cut.vol").write_bytes(data[:-100])
    with pytest.raises(CorruptFileError, match="truncated"):
        read_clinic_file(tmp_path / "cut.vol")
    (tmp_path / "head.vol").write_bytes(data[:1000])
    with pytest.raises(CorruptFileError, match="truncated"):
        read_clinic_file(tmp_path / "head.vol")
    (tmp_path / "many.vol").write_bytes(data)
    _patch(tmp_path / "many.vol", N_BSCANS_AT, 60000)
    _patch(tmp_path / "many.vol", SIZE_X_AT, 60000)
    with pytest.raises(TooLargeError):
        read_clinic_file(tmp_path / "many.vol")
    (tmp_path / "zero.vol").write_bytes(data)
    _patch(tmp_path / "zero.vol", N_BSCANS_AT, 0)
    with pytest.raises(InputError, match="number of B-scans"):
        read_clinic_file(tmp_path / "zero.vol")
    (tmp_path / "junk.vol").write_bytes(b"\x01" * 5000)
    with pytest.raises(InputError):
        read_clinic_file(tmp_path / "junk.vol")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UnsupportedFormatError):
        read_clinic_file(tmp_path / "notes.txt")


def test_heyex_xml_export_through_eyepy(tmp_path):
    src = write_heyex_xml(tmp_path / "export", n=4)
    assert clinic_format(tmp_path / "export" / "export.xml") == ".xml"
    vol = read_clinic_file(tmp_path / "export" / "export.xml")
    np.testing.assert_array_equal(vol.bscans, src.bscans)
    np.testing.assert_array_equal(vol.localizer, src.localizer)
    np.testing.assert_allclose(vol.positions, src.positions, atol=1e-6)
    assert vol.laterality == "R" and vol.spacing.x_um == pytest.approx(11.5) and vol.spacing.between_um == pytest.approx(73.125)
    assert vol.source_format == "Heidelberg HEYEX XML"


def test_heyex_xml_naming_a_file_outside_its_folder_is_refused(tmp_path):
    (tmp_path / "secret.png").write_bytes(b"\x89PNG")
    write_heyex_xml(tmp_path / "export", n=2, image_ref={"b1.png": "../secret.png"})
    with pytest.raises(CorruptFileError, match="not a file name in the export folder"):
        read_clinic_file(tmp_path / "export" / "export.xml")
    write_heyex_xml(tmp_path / "gone", n=2)
    (tmp_path / "gone" / "b1.png").unlink()
    with pytest.raises(CorruptFileError, match="missing"):
        read_clinic_file(tmp_path / "gone" / "export.xml")


def test_zeiss_cube_through_oct_converter(tmp_path):
    rows, cols, slices = 1024, 16, 4
    rng = np.random.default_rng(2)
    cube = rng.integers(0, 256, (rows, cols, slices), dtype=np.uint8)
    name = "P1234_Macular Cube 16x4_05-06-2024_10-11-12_OD_sn1_cube_z.img"
    (tmp_path / name).write_bytes(cube.ravel(order="F").tobytes())  # oct-converter's IMG layout
    vol = read_clinic_file(tmp_path / name)
    assert vol.bscans.shape == (slices, rows, cols) and vol.laterality == "R" and vol.positions is None
    np.testing.assert_array_equal(vol.bscans[2], cube[:, :, 2])
    assert vol.source_format == "Zeiss Cirrus .img" and vol.acquired == "2024-05-06T10:11:12"
    (tmp_path / "P1_Macular Cube 16x4_x.img").write_bytes(b"\0" * 1000)
    with pytest.raises(CorruptFileError, match="do not match"):
        read_clinic_file(tmp_path / "P1_Macular Cube 16x4_x.img")


def test_bioptigen_oct_through_oct_converter(tmp_path):
    b = bscans(3, 32, 40, dtype=np.uint16)
    write_bioptigen(tmp_path / "scan_OS.oct", b)
    assert clinic_format(tmp_path / "scan_OS.oct") == ".oct"
    vol = read_clinic_file(tmp_path / "scan_OS.oct")
    np.testing.assert_array_equal(vol.bscans, b)
    assert vol.laterality == "L" and vol.acquired == "2024-05-06T10:11:12" and vol.source_format == "Bioptigen/Optovue .oct"
    write_bioptigen(tmp_path / "cut.oct", b, truncate=500)  # oct-converter alone would return a half-filled volume
    with pytest.raises(CorruptFileError):
        read_clinic_file(tmp_path / "cut.oct")


def test_optovue_oct_through_oct_converter(tmp_path):
    b = bscans(3, 32, 40).astype(np.float32) / 7.0
    write_optovue(tmp_path / "scan.OCT", b, eye="OS")
    vol = read_clinic_file(tmp_path / "scan.OCT")
    np.testing.assert_array_equal(vol.bscans, b)
    assert vol.bscans.dtype == np.float32 and vol.laterality == "L" and vol.spacing.x_um is None


def test_oct_converter_readers_import_without_opencv_python():
    """oct-converter is installed without its opencv-python requirement: cv2 is the headless build."""
    from importlib import metadata

    import cv2
    from oct_converter.readers import BOCT, FDS, IMG, POCT  # noqa: F401

    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("opencv-python")
    assert metadata.distribution("opencv-python-headless") is not None and cv2.imread is not None
    assert metadata.version("oct-converter") == "0.6.2"


def test_topcon_fds_through_oct_converter(tmp_path):
    b = bscans(4, 40, 48, dtype=np.uint16)
    write_topcon_fds(tmp_path / "scan.fds", b, eye=1)
    assert clinic_format(tmp_path / "scan.fds") == ".fds"
    vol = read_clinic_file(tmp_path / "scan.fds")
    np.testing.assert_array_equal(vol.bscans, b)
    assert vol.bscans.dtype == np.uint16 and vol.laterality == "L" and vol.acquired == "2024-05-06T10:11:12"
    assert vol.spacing.x_um == pytest.approx(6000 / 48) and vol.spacing.between_um == pytest.approx(1500) and vol.spacing.axial_um == 2.6
    data = (tmp_path / "scan.fds").read_bytes()
    (tmp_path / "cut.fds").write_bytes(data[:400])
    with pytest.raises(CorruptFileError, match="truncated"):
        read_clinic_file(tmp_path / "cut.fds")


def test_topcon_fda_through_eyepy(tmp_path, capsys):
    b = bscans(4, 40, 48)
    decoded = write_topcon_fda(tmp_path / "scan.fda", b, smooth_rgb(80, 90), box=(20, 10, 70, 50))
    assert clinic_format(tmp_path / "scan.fda") == ".fda"
    vol = read_clinic_file(tmp_path / "scan.fda")
    np.testing.assert_array_equal(vol.bscans, np.stack(decoded))  # exactly what the JPEG decoder gives
    assert vol.localizer.shape == (80, 90, 3) and np.abs(vol.localizer.astype(int) - smooth_rgb(80, 90)).mean() < 3
    assert vol.laterality == "R" and vol.acquired == "2024-05-06T10:11:12" and vol.spacing.axial_um == pytest.approx(2.6)
    np.testing.assert_allclose(vol.positions[0], [[20, 10], [70, 10]], atol=1e-6)
    np.testing.assert_allclose(vol.positions[3], [[20, 49], [70, 49]], atol=1e-6)
    assert capsys.readouterr().out == ""  # oct-converter's prints never reach stdout (the CLI's JSON)


def test_topcon_file_without_oct_chunk_is_refused(tmp_path):
    (tmp_path / "scan.fds").write_bytes(b"FOCTFDS" + struct.pack("<II", 1, 1) + b"\x00")
    with pytest.raises(CorruptFileError, match="no OCT data chunk"):
        read_clinic_file(tmp_path / "scan.fds")
