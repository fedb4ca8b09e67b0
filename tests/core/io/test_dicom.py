import numpy as np
import pytest

from core.errors import CorruptFileError, EmptyFileError, WrongDimensionError
from core.io.dicom import read_dicom_series
from tests.helpers.files import copy_to, make_dicom_series, pydicom_mr_small


def test_single_file_series(tmp_path):
    copy_to(pydicom_mr_small(), tmp_path / "s" / "a.dcm")
    vol = read_dicom_series(tmp_path / "s")
    assert vol.shape == (64, 64, 1)
    assert vol.spacing[:2] == pytest.approx((0.3125, 0.3125))


def test_series_is_sorted_by_position_and_affine_matches_geometry(tmp_path):
    import pydicom

    folder = make_dicom_series(tmp_path / "series", n=4, spacing=2.5)
    vol = read_dicom_series(folder)
    assert vol.shape == (64, 64, 4)
    base = pydicom.dcmread(pydicom_mr_small()).pixel_array.astype(np.float32)
    for k in range(4):  # slice k was written with +10*k, files in shuffled order
        np.testing.assert_array_equal(vol.data[:, :, k], (base + 10 * k).T)
    ds = pydicom.dcmread(pydicom_mr_small())
    ipp = np.array(ds.ImagePositionPatient, float)
    # voxel (0, 0, 0) is the first slice's ImagePositionPatient, converted LPS -> RAS
    np.testing.assert_allclose(vol.affine[:3, 3], ipp * [-1, -1, 1])
    assert np.linalg.norm(vol.affine[:3, 2]) == pytest.approx(2.5)
    assert vol.spacing[2] == pytest.approx(2.5)


def test_empty_folder_and_corrupt_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyFileError):
        read_dicom_series(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.dcm").write_bytes(b"\x00" * 50)
    with pytest.raises(CorruptFileError) as err:
        read_dicom_series(tmp_path / "bad")
    assert "x.dcm" in str(err.value)


def test_truncated_pixel_data(tmp_path):
    src = copy_to(pydicom_mr_small(), tmp_path / "t" / "a.dcm")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) - 3000])
    with pytest.raises(CorruptFileError):
        read_dicom_series(tmp_path / "t")


def test_two_series_in_one_folder(tmp_path):
    make_dicom_series(tmp_path / "mix", n=2)
    make_dicom_series(tmp_path / "mix" / "other", n=2)
    with pytest.raises(WrongDimensionError, match="2 DICOM series"):
        read_dicom_series(tmp_path / "mix")
