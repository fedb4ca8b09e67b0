import numpy as np
import pytest

from core.errors import CorruptFileError, InputError, UnsupportedFormatError
from core.io.clinic import clinic_format, read_clinic_file
from core.io.limits import TooLargeError
from core.io.ophthalmic import OctVolume, OphthalmicPhoto
from tests.helpers.clinic_files import SPACING, bscans, positions, smooth_rgb, write_photo, write_volume_dcm


def test_op_rgb_exact_round_trip(tmp_path):
    rgb = smooth_rgb()
    uid, _ = write_photo(tmp_path / "op.dcm", rgb, laterality="R")
    photo = read_clinic_file(tmp_path / "op.dcm")
    assert isinstance(photo, OphthalmicPhoto) and clinic_format(tmp_path / "op.dcm") == "op"
    np.testing.assert_array_equal(photo.pixels, rgb)
    assert photo.laterality == "R" and photo.acquired == "2024-05-06T10:00:00" and photo.spacing_um == pytest.approx((7.5, 8.0))
    assert photo.uids["sop_instance_uid"] == uid and photo.uids["study_uid"] == "1.2.3.4" and photo.photometric == "RGB"
    assert photo.device == "ACME Fundus 1"


def test_op_jpeg_baseline_ybr_full_422_decodes_to_rgb(tmp_path):
    rgb = smooth_rgb()
    write_photo(tmp_path / "op.dcm", rgb, compression="jpeg")
    photo = read_clinic_file(tmp_path / "op.dcm")
    assert photo.photometric == "YBR_FULL_422" and photo.pixels.shape == rgb.shape and photo.pixels.dtype == np.uint8
    err = np.abs(photo.pixels.astype(int) - rgb.astype(int))
    assert err.mean() < 3 and np.percentile(err, 99) < 12  # lossy, but the same picture in RGB order


def test_op_monochrome2_16bit_jpeg2000_is_exact(tmp_path):
    grey = (np.arange(64 * 80, dtype=np.uint32).reshape(64, 80) * 13 % 65536).astype(np.uint16)
    write_photo(tmp_path / "op16.dcm", grey, compression="j2k")
    photo = read_clinic_file(tmp_path / "op16.dcm")
    assert photo.pixels.dtype == np.uint16 and photo.photometric == "MONOCHROME2"
    np.testing.assert_array_equal(photo.pixels, grey)


def test_op_ybr_full_and_monochrome1_come_back_as_rgb_and_monochrome2(tmp_path):
    import pydicom
    from pydicom.pixels import convert_color_space

    rgb = smooth_rgb()
    write_photo(tmp_path / "op.dcm", rgb)
    ds = pydicom.dcmread(tmp_path / "op.dcm")
    ds.PixelData = convert_color_space(rgb, "RGB", "YBR_FULL").tobytes()
    ds.PhotometricInterpretation = "YBR_FULL"
    ds.save_as(tmp_path / "ybr.dcm")
    photo = read_clinic_file(tmp_path / "ybr.dcm")
    assert photo.photometric == "YBR_FULL" and np.abs(photo.pixels.astype(int) - rgb).max() <= 2
    grey = rgb[..., 1].copy()
    write_photo(tmp_path / "grey.dcm", grey)
    ds = pydicom.dcmread(tmp_path / "grey.dcm")
    ds.PixelData = (255 - grey).tobytes()
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(tmp_path / "mono1.dcm")
    np.testing.assert_array_equal(read_clinic_file(tmp_path / "mono1.dcm").pixels, grey)


@pytest.mark.parametrize("compression", [None, "j2k"])
def test_opt_volume_round_trip_with_positions(tmp_path, compression):
    write_volume_dcm(tmp_path / "opt.dcm", "1.2.3.9", n=6, laterality="R", compression=compression)
    vol = read_clinic_file(tmp_path / "opt.dcm")
    assert isinstance(vol, OctVolume) and clinic_format(tmp_path / "opt.dcm") == "opt"
    np.testing.assert_array_equal(vol.bscans, bscans(6, seed=3))  # count, order and values
    np.testing.assert_allclose(vol.positions, positions(6), atol=1e-6)
    assert vol.spacing.x_um == pytest.approx(SPACING.x_um) and vol.spacing.axial_um == pytest.approx(SPACING.axial_um)
    assert vol.spacing.between_um == pytest.approx(SPACING.between_um)
    assert vol.laterality == "R" and vol.uids["localizer_uid"] == "1.2.3.9" and vol.acquired == "2024-05-06T10:05:00"
    assert vol.localizer is None and not vol.warnings


def test_opt_bad_reference_coordinates_drop_positions_with_a_warning(tmp_path):
    import pydicom

    write_volume_dcm(tmp_path / "opt.dcm", "1.2.3.9", n=3)
    ds = pydicom.dcmread(tmp_path / "opt.dcm")
    ds.PerFrameFunctionalGroupsSequence[1].OphthalmicFrameLocationSequence[0].ReferenceCoordinates = [1.0, 2.0, 3.0]
    ds.save_as(tmp_path / "opt.dcm")
    vol = read_clinic_file(tmp_path / "opt.dcm")
    assert vol.positions is None and "frame 2" in vol.warnings[0]


def test_truncated_opt_is_refused_before_decoding(tmp_path):
    write_volume_dcm(tmp_path / "opt.dcm", None, n=4)
    data = (tmp_path / "opt.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 4000])
    with pytest.raises(CorruptFileError, match="truncated") as exc:
        read_clinic_file(tmp_path / "cut.dcm")
    assert exc.value.path == str(tmp_path / "cut.dcm")


def test_huge_claimed_size_is_refused_against_the_budget(tmp_path, monkeypatch):
    import pydicom

    write_volume_dcm(tmp_path / "opt.dcm", None, n=2)
    ds = pydicom.dcmread(tmp_path / "opt.dcm")
    ds.NumberOfFrames = 60000
    ds.Rows = ds.Columns = 60000
    ds.save_as(tmp_path / "bomb.dcm")
    with pytest.raises(TooLargeError, match="budget"):
        read_clinic_file(tmp_path / "bomb.dcm")
    monkeypatch.setenv("ANOMALY_STUDIO_PIXEL_BUDGET", "1000")
    with pytest.raises(TooLargeError):
        read_clinic_file(tmp_path / "opt.dcm")


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "abc"])
def test_nonsense_dimensions_are_refused(tmp_path, value):
    import pydicom

    write_photo(tmp_path / "op.dcm", smooth_rgb())
    ds = pydicom.dcmread(tmp_path / "op.dcm")
    if value == "0":
        ds.Rows = 0
    else:  # a header that says something that is not a row count
        ds["Rows"].VR = "LO"
        ds.Rows = value
    ds.save_as(tmp_path / "bad.dcm")
    with pytest.raises(InputError):
        read_clinic_file(tmp_path / "bad.dcm")


def test_non_ophthalmic_and_garbage_dicom(tmp_path):
    from pydicom.data import get_testdata_file

    mr = get_testdata_file("MR_small.dcm")
    assert clinic_format(mr) is None
    with pytest.raises(UnsupportedFormatError, match="not an ophthalmic photo"):
        read_clinic_file(mr)
    (tmp_path / "junk.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 40)
    with pytest.raises(CorruptFileError) as exc:
        read_clinic_file(tmp_path / "junk.dcm")
    assert str(tmp_path / "junk.dcm") in str(exc.value)
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_clinic_file(tmp_path / "empty.dcm")
