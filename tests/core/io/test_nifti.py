import gzip

import nibabel as nib
import numpy as np
import pytest

from core.errors import CorruptFileError, EmptyFileError, UnsupportedFormatError, WrongDimensionError
from core.io.nifti import read_nifti, write_nifti
from tests.helpers.files import nibabel_example4d


def _lps_image(path, shape=(12, 14, 10)):
    """A non-RAS, oblique volume with distinct sform and qform."""
    data = np.arange(np.prod(shape), dtype=np.int16).reshape(shape)
    a = np.array([[-0.9, 0.05, 0.0, 91.3], [0.04, -1.1, 0.02, 120.7], [0.0, 0.03, 2.5, -71.1], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, a)
    img.set_sform(a, code=2)
    img.set_qform(a, code=1)
    nib.save(img, str(path))
    return data, a


@pytest.mark.parametrize("name", ["v.nii", "v.nii.gz"])
def test_read_keeps_voxel_order_and_affine(tmp_path, name):
    data, a = _lps_image(tmp_path / name)
    vol = read_nifti(tmp_path / name)
    np.testing.assert_array_equal(vol.data, data)
    assert vol.affine.tobytes() == nib.load(str(tmp_path / name)).affine.tobytes()
    assert vol.orientation() == "LPS"
    assert vol.spacing == pytest.approx(tuple(np.sqrt((a[:3, :3] ** 2).sum(0))), rel=1e-5)


def test_label_written_on_source_grid_is_byte_exact(tmp_path):
    _lps_image(tmp_path / "scan.nii.gz")
    vol = read_nifti(tmp_path / "scan.nii.gz")
    labels = (vol.data > 500).astype(np.uint8)
    write_nifti(tmp_path / "lab.nii.gz", labels, vol.affine, header=vol.header)
    src, out = nib.load(str(tmp_path / "scan.nii.gz")), nib.load(str(tmp_path / "lab.nii.gz"))
    assert out.affine.tobytes() == src.affine.tobytes()
    assert out.header.get_sform().tobytes() == src.header.get_sform().tobytes()
    assert out.header.get_qform().tobytes() == src.header.get_qform().tobytes()
    assert int(out.header["sform_code"]) == 2 and int(out.header["qform_code"]) == 1
    np.testing.assert_array_equal(np.asanyarray(out.dataobj), labels)
    assert out.get_data_dtype() == np.uint8


def test_four_d_is_refused_unless_a_volume_is_chosen():
    path = nibabel_example4d()
    with pytest.raises(WrongDimensionError) as err:
        read_nifti(path)
    assert "example4d" in str(err.value) and "4-D" in str(err.value)
    vol = read_nifti(path, volume_index=1)
    assert vol.data.ndim == 3


def test_two_d_is_wrong_dimension(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((8, 9), np.float32), np.eye(4)), str(tmp_path / "flat.nii"))
    with pytest.raises(WrongDimensionError, match="2-D"):
        read_nifti(tmp_path / "flat.nii")


def test_truncated_and_corrupt_and_empty(tmp_path):
    _lps_image(tmp_path / "v.nii.gz", shape=(40, 40, 40))
    data = (tmp_path / "v.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError) as err:
        read_nifti(tmp_path / "cut.nii.gz")
    assert "cut.nii.gz" in str(err.value)
    raw = gzip.decompress(data)
    (tmp_path / "cut.nii").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptFileError):
        read_nifti(tmp_path / "cut.nii")
    (tmp_path / "junk.nii").write_bytes(b"x" * 400)
    with pytest.raises(CorruptFileError):
        read_nifti(tmp_path / "junk.nii")
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(EmptyFileError):
        read_nifti(tmp_path / "empty.nii.gz")


def test_wrong_type(tmp_path):
    (tmp_path / "a.png").write_bytes(b"png?")
    with pytest.raises(UnsupportedFormatError):
        read_nifti(tmp_path / "a.png")
