import numpy as np
import pytest
import tifffile
from PIL import Image

from core.errors import CorruptFileError, EmptyFileError, InputError, UnsupportedFormatError, WrongDimensionError
from core.io.images import read_image, read_stack, write_png, write_tiff_stack

rng = np.random.default_rng(0)


def _rand(shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(0, info.max, size=shape, dtype=dtype, endpoint=True)


@pytest.mark.parametrize("shape,dtype", [((20, 30), np.uint8), ((20, 30), np.uint16), ((20, 30, 3), np.uint8), ((20, 30, 3), np.uint16)])
def test_png_round_trip_is_exact(tmp_path, shape, dtype):
    a = _rand(shape, dtype)
    write_png(tmp_path / "a.png", a)
    b = read_image(tmp_path / "a.png")
    assert b.dtype == dtype and b.shape == shape
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape,dtype", [((20, 30), np.uint8), ((20, 30), np.uint16), ((20, 30, 3), np.uint8), ((20, 30, 3), np.uint16)])
def test_tiff_reads_8_and_16_bit_grey_and_rgb(tmp_path, shape, dtype):
    a = _rand(shape, dtype)
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="rgb" if len(shape) == 3 else "minisblack")
    b = read_image(tmp_path / "a.tif")
    assert b.dtype == dtype
    np.testing.assert_array_equal(a, b)


def test_jpeg_grey_and_rgb(tmp_path):
    rgb = _rand((32, 40, 3), np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=95)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.jpeg", quality=95)
    c, g = read_image(tmp_path / "c.jpg"), read_image(tmp_path / "g.jpeg")
    assert c.shape == (32, 40, 3) and c.dtype == np.uint8
    assert g.shape == (32, 40) and g.dtype == np.uint8


def test_rgba_and_palette_become_rgb(tmp_path):
    rgba = _rand((10, 12, 4), np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgba[..., :3])
    Image.fromarray(rgba[..., :3]).convert("P").save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").shape == (10, 12, 3)


def test_multipage_tiff_stack(tmp_path):
    stack = _rand((5, 16, 24), np.uint16)
    write_tiff_stack(tmp_path / "s.tif", stack)
    out = read_stack(tmp_path / "s.tif")
    assert out.shape == (5, 16, 24) and out.dtype == np.uint16
    np.testing.assert_array_equal(out, stack)
    with pytest.raises(WrongDimensionError, match="5 pages"):
        read_image(tmp_path / "s.tif")


def test_single_image_read_as_stack(tmp_path):
    a = _rand((16, 24), np.uint8)
    write_png(tmp_path / "a.png", a)
    assert read_stack(tmp_path / "a.png").shape == (1, 16, 24)


def test_empty_file(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(EmptyFileError) as err:
        read_image(tmp_path / "e.png")
    assert "e.png" in str(err.value) and "empty" in str(err.value)


@pytest.mark.parametrize("name", ["x.png", "x.jpg", "x.tif"])
def test_garbage_is_corrupt(tmp_path, name):
    (tmp_path / name).write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(CorruptFileError) as err:
        read_image(tmp_path / name)
    assert name in str(err.value)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_corrupt(tmp_path, fmt):
    path = tmp_path / f"t.{fmt.lower()}"
    Image.fromarray(_rand((200, 200, 3), np.uint8)).save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError) as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_truncated_tiff_is_corrupt(tmp_path):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, _rand((3, 64, 64), np.uint16), photometric="minisblack")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptFileError):
        read_stack(path)


def test_wrong_suffix_and_missing_and_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UnsupportedFormatError):
        read_image(tmp_path / "notes.txt")
    with pytest.raises(CorruptFileError, match="does not exist"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(UnsupportedFormatError, match="folder"):
        read_image(tmp_path)


def test_one_pixel_image_is_wrong_dimension(tmp_path):
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "one.png")
    with pytest.raises(WrongDimensionError, match="too small"):
        read_image(tmp_path / "one.png")


def test_errors_share_a_base_with_path_and_reason(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(InputError) as err:
        read_image(tmp_path / "e.png")
    assert err.value.path == str(tmp_path / "e.png")
    assert err.value.reason
