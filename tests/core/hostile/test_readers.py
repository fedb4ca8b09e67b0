"""Readers refuse hostile files with an InputError naming the file; they never allocate what a
header claims and never crash."""

from __future__ import annotations

import json
import resource

import numpy as np
import pytest

from core.errors import InputError, TooLargeError
from core.io.loader import read_for_modality
from tests.helpers import hostile_files as H

# name -> (generator(folder) -> path, modality, words expected in the reason)
CASES = {
    "png 20000x20000": (lambda d: H.png_claiming(d / "bomb.png", 20000, 20000), "fundus", "compression"),
    "png 30000x30000 (over the budget)": (lambda d: H.png_claiming(d / "bomb30.png", 30000, 30000), "fundus", "budget"),
    "png claims more than deflate yields": (lambda d: H.png_claiming(d / "ratio.png", 4000, 4000), "fundus", "compression"),
    "jpeg 20000x20000": (lambda d: H.jpeg_claiming(d / "bomb.jpg", 20000, 20000), "fundus", "compression"),
    "bmp 20000x20000": (lambda d: H.bmp_claiming(d / "bomb.bmp", 20000, 20000), "fundus", "budget"),
    "tiff 20000x20000": (lambda d: H.tiff_raw(d / "bomb.tif", 20000, 20000), "fundus", "truncated"),
    "tiff rows-per-strip 0, short data": (lambda d: H.tiff_raw(d / "rps.tif", 32, 32, rows_per_strip=0), "fundus", "truncated"),
    "tiff width 0": (lambda d: H.tiff_raw(d / "w0.tif", 0, 32), "fundus", "pixels"),
    "tiff 5 samples as OCT": (lambda d: H.tiff_channels(d / "five.tif"), "oct", "5 samples"),
    "tiff inconsistent pages": (lambda d: H.tiff_inconsistent_pages(d / "pages.tif"), "oct", "inconsistent"),
    "tiff NaN": (lambda d: H.tiff_float(d / "nan.tif", np.full((8, 8), np.nan)), "fundus", "NaN"),
    "tiff inf": (lambda d: H.tiff_float(d / "inf.tif", np.full((8, 8), np.inf)), "fundus", "infinite"),
    "tiff 3e30": (lambda d: H.tiff_float(d / "big.tif", np.full((8, 8), 3e30)), "fundus", "implausibly large"),
    "truncated png": (lambda d: H.truncated_copy(H.valid_png(d / "v.png", (256, 256)), d / "cut.png", 0.3), "fundus", "truncated"),
    "random bytes .jpg": (
        lambda d: (d / "noise.jpg").write_bytes(np.random.default_rng(1).bytes(999)) and d / "noise.jpg",
        "fundus",
        "image",
    ),
    "nii.gz claiming 2000^3": (lambda d: H.nifti_claiming(d / "bomb.nii.gz"), "mri", "budget"),
    "nii.gz claiming 300^3 from 153 bytes": (lambda d: H.nifti_claiming(d / "small.nii.gz", shape=(300, 300, 300)), "mri", "compression"),
    "nii negative dim": (lambda d: H.nifti_claiming(d / "neg.nii.gz", dims=[3, -5, 4, 4]), "mri", "positive"),
    "nii datatype 9999": (lambda d: H.nifti_claiming(d / "dt.nii.gz", shape=(4, 4, 4), datatype=9999, payload=bytes(256)), "mri", "9999"),
    "nii complex": (
        lambda d: H.nifti_claiming(d / "cx.nii.gz", shape=(4, 4, 4), datatype=32, bitpix=64, payload=bytes(512)),
        "mri",
        "complex",
    ),
    "nii truncated raw": (lambda d: H.nifti_claiming(d / "tr.nii", shape=(64, 64, 64), payload=bytes(100)), "mri", "truncated"),
    "nii NaN affine": (lambda d: H.nifti_claiming(d / "aff.nii.gz", shape=(4, 4, 4), payload=bytes(256), nan_affine=True), "mri", "affine"),
    "nii inf voxels": (lambda d: H.nifti_values(d / "inf.nii.gz", np.full((4, 4, 4), np.inf, np.float32)), "mri", "infinite"),
    "dicom orientation of 3 values": (
        lambda d: H.dicom_series(d / "iop3", ImageOrientationPatient=[1, 0, 0]),
        "mri",
        "ImageOrientationPatient",
    ),
    "dicom orientation zero vectors": (lambda d: H.dicom_series(d / "iop0", ImageOrientationPatient=[0] * 6), "mri", "perpendicular"),
    "dicom orientation text": (
        lambda d: H.dicom_series(d / "iops", ImageOrientationPatient=["1.11", "0", "0", "0", "1", "0"], patch={b"1.11": b"x\x00y!"}),
        "mri",
        "ImageOrientationPatient",
    ),
    "dicom rescale text": (lambda d: H.dicom_series(d / "rs", RescaleSlope="7.77", patch={b"7.77": b"abc "}), "mri", "RescaleSlope"),
    "dicom rescale nan": (lambda d: H.dicom_series(d / "rn", RescaleSlope="7.77", patch={b"7.77": b"nan "}), "mri", "RescaleSlope"),
    "dicom rescale 1e38": (lambda d: H.dicom_series(d / "rb", RescaleSlope=1e38), "mri", "float32"),
    "dicom pixel spacing 0": (lambda d: H.dicom_series(d / "ps", PixelSpacing=[0, 0]), "mri", "PixelSpacing"),
    "dicom pixel spacing 1 value": (lambda d: H.dicom_series(d / "ps1", PixelSpacing=["1"]), "mri", "PixelSpacing"),
    "dicom 60000x60000": (lambda d: H.dicom_series(d / "rows", Rows=60000, Columns=60000), "mri", "budget"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_reader_refuses_with_file_and_reason(tmp_path, name):
    make, modality, words = CASES[name]
    path = make(tmp_path)
    with pytest.raises(InputError) as err:
        read_for_modality(path, modality)
    assert err.value.path is not None and path.name in err.value.path or str(path) in err.value.path, err.value
    assert words.lower() in err.value.reason.lower(), err.value.reason


def test_bombs_are_refused_before_allocation(tmp_path):
    """Each bomb claims hundreds of MB to GB; refusing them all must not grow this process."""
    paths = [
        (H.png_claiming(tmp_path / "a.png", 20000, 20000), "fundus"),
        (H.nifti_claiming(tmp_path / "b.nii.gz"), "mri"),
        (H.nifti_claiming(tmp_path / "c.nii.gz", shape=(600, 600, 600)), "mri"),
        (H.tiff_raw(tmp_path / "d.tif", 15000, 15000), "fundus"),
        (H.jpeg_claiming(tmp_path / "e.jpg", 12000, 12000), "fundus"),
    ]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for path, modality in paths:
        with pytest.raises(InputError):  # over the budget, beyond what compression yields, or truncated
            read_for_modality(path, modality)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 50, f"refusing bombs grew the peak RSS by {grown_mb:.0f} MB"


def test_budget_is_configurable(tmp_path, monkeypatch):
    path = H.valid_png(tmp_path / "ok.png", (64, 64))
    assert read_for_modality(path, "fundus").shape == (64, 64)
    monkeypatch.setenv("ANOMALY_STUDIO_MAX_PIXELS", "1000")  # the alias of ANOMALY_STUDIO_PIXEL_BUDGET
    with pytest.raises(TooLargeError, match="ANOMALY_STUDIO_PIXEL_BUDGET"):
        read_for_modality(path, "fundus")


def test_nan_voxels_are_sanitised_with_a_warning(tmp_path):
    data = np.ones((4, 4, 4), np.float32)
    data[0, 0, 0] = np.nan
    vol = read_for_modality(H.nifti_values(tmp_path / "nan.nii.gz", data), "mri")
    assert np.isfinite(vol.data).all() and vol.data[0, 0, 0] == 0
    assert "NaN" in vol.meta["warnings"][0]


def test_imagej_channel_stack_is_not_an_oct_stack(tmp_path):
    import tifffile

    path = tmp_path / "cyx.tif"
    tifffile.imwrite(path, np.zeros((5, 16, 16), np.uint8), imagej=True, metadata={"axes": "CYX"})
    with pytest.raises(InputError, match="5 channels"):
        read_for_modality(path, "oct")


@pytest.mark.parametrize(
    "content, words",
    [
        (b'{"imagePath": "a\\u0000b.png", "shapes": []}', "NUL"),
        (
            b'{"imagePath": "img.png", "shapes": [{"label": "x", "points": [[0,0],[1,1]], "shape_type": "line", "group_id": "g"}]}',
            "group_id",
        ),
        (
            b'{"imagePath": "img.png", "shapes": [{"label": "x", "points": [[0,0],[1,1]], "shape_type": "line", "group_id": 1e400}]}',
            "too large",
        ),
        (
            b'{"imagePath": "img.png", "shapes": [{"label": "x", "points": [[0,0],[1,1]], "shape_type": "line", "group_id": 1.5}]}',
            "group_id",
        ),
        (b'{"imagePath": "img.png", "shapes": [{"label": "x", "points": [[0,0],[1,1]], "shape_type": "line", "flags": 5}]}', "flags"),
        (b'{"imagePath": "img.png", "shapes": [], "imageHeight": 1e12, "imageWidth": 5}', "range"),
        (b'{"imagePath": "img.png", "shapes": [], "deep": ' + H.deep_json(200).encode() + b"}", "nested"),
        (b'{"imagePath": "img.png", "shapes": [], "deep": ' + H.deep_json(100000).encode() + b"}", "nested"),
        (b'{"imagePath": "\xff\xfe.png", "shapes": []}', "UTF-8"),
        (b'{"imagePath": "img.png", "shapes": [], "x": NaN}', "NaN"),
    ],
)
def test_hostile_labelme_files_are_refused(tmp_path, content, words):
    from core.errors import LabelFileError
    from core.io.labelme import read_labelme, resolve_image_path

    path = tmp_path / "doc.json"
    path.write_bytes(content)
    with pytest.raises(LabelFileError) as err:
        doc = read_labelme(path)
        resolve_image_path(path, doc.image_path, tmp_path)
    assert "doc.json" in str(err.value) and words.lower() in str(err.value).lower()


def test_mask_shape_claiming_a_huge_png_is_refused(tmp_path):
    import base64

    from core.errors import LabelFileError
    from core.io.labelme import read_labelme

    bomb = base64.b64encode(H.png_claiming(tmp_path / "m.png", 30000, 30000).read_bytes()).decode()
    shape = {"label": "x", "points": [[0, 0], [5, 5]], "shape_type": "mask", "mask": bomb}
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({"imagePath": "img.png", "shapes": [shape]}))
    with pytest.raises(LabelFileError, match="mask"):
        read_labelme(path)


def test_budget_from_the_max_pixels_setting(tmp_path, monkeypatch):
    from core.settings import Settings

    monkeypatch.delenv("ANOMALY_STUDIO_PIXEL_BUDGET", raising=False)
    monkeypatch.delenv("ANOMALY_STUDIO_MAX_PIXELS", raising=False)
    path = H.valid_png(tmp_path / "ok.png", (64, 64))
    settings = Settings.load()
    settings.max_pixels = 1000
    settings.save()
    try:
        Settings.load()  # hands the setting to the decoders
        with pytest.raises(TooLargeError, match="1,000"):
            read_for_modality(path, "fundus")
    finally:
        settings.max_pixels = None
        settings.save()
        Settings.load()
    assert read_for_modality(path, "fundus").shape == (64, 64)
