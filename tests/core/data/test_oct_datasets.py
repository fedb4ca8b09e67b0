import sys

import numpy as np
import pytest

from core.data.importer import import_folder
from core.domain import CaseKind
from core.workspace import Workspace


def _duke_rpedc(path, n=4, h=40, w=50, seed=0):
    import scipy.io as sio

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (h, w, n)).astype(np.float64)  # MATLAB stores doubles
    images[0, 0, :] = np.arange(n)
    layers = np.stack([np.full((w, n), 10.0), np.full((w, n), 25.0), np.full((w, n), 30.0)], axis=-1).transpose(1, 0, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.savemat(path, {"images": images, "layerMaps": layers.transpose(1, 0, 2), "Age": np.array([[71]])})
    return np.moveaxis(images, -1, 0).astype(np.uint8)


def _duke_dme(path, n=3, h=40, w=50):
    import scipy.io as sio

    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (h, w, n)).astype(np.uint8)
    fluid = np.zeros((h, w, n), np.uint8)
    fluid[10:15, 20:30, 1] = 3  # one fluid region on B-scan 1
    layers = np.full((8, w, n), 12.0)
    data = {"images": images, "manualFluid1": fluid, "manualFluid2": fluid, "automaticFluidDME": fluid}
    for name in ("manualLayers1", "manualLayers2", "automaticLayersDME", "automaticLayersNormal"):
        data[name] = layers
    sio.savemat(path, data)
    return np.moveaxis(images, -1, 0), np.moveaxis(fluid, -1, 0) > 0


def test_duke_rpedc_and_dme_through_eyepy(tmp_path):
    root = tmp_path / "duke"
    amd = _duke_rpedc(root / "AMD" / "Farsiu_Ophthalmology_2013_AMD_Subject_1001.mat")
    for i in range(4):
        _duke_rpedc(root / "Control" / f"Farsiu_Ophthalmology_2013_Control_Subject_{1001 + i}.mat", seed=i + 1)
    dme, fluid = _duke_dme(root / "Subject_01.mat")
    (root / "Control" / "Farsiu_Ophthalmology_2013_Control_Subject_1099.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 50)
    ws = Workspace.create(tmp_path / "ws")
    report = import_folder(ws, root)
    assert report.layout == "duke"
    cases = {c.id: c for c in ws.cases()}
    assert set(cases) == {"DUKE-AMD-1001", "DUKE-CTRL-1001", "DUKE-CTRL-1002", "DUKE-CTRL-1003", "DUKE-CTRL-1004", "DUKE-DME-01"}
    assert [s["path"].endswith("1099.mat") for s in report.skipped] == [True]
    a = cases["DUKE-AMD-1001"]
    assert a.kind == CaseKind.OCT and a.truth == "abnormal" and a.split == "test" and [im.name for im in a.images] == ["oct"]
    rec = a.image("oct")
    pixels = ws.read_pixels(rec)
    assert pixels.dtype == np.uint8 and pixels.shape == (4, 40, 50)
    np.testing.assert_array_equal(pixels, amd)
    assert rec.oct_spacing_um.x_um == pytest.approx(6.7) and rec.oct_spacing_um.between_um == pytest.approx(67.0)
    assert [cases[f"DUKE-CTRL-{1001 + i}"].split for i in range(4)] == ["train", "train", "train", "test"]
    d = cases["DUKE-DME-01"]
    np.testing.assert_array_equal(ws.read_pixels(d.image("oct")), dme)
    doc = ws.read_labels(d.image("oct"), page=1)
    assert doc is not None and {s.label for s in doc.shapes} == {"intraretinal fluid"}
    np.testing.assert_array_equal(doc.union_mask(), fluid[1])
    assert ws.read_labels(d.image("oct"), page=0) is None


def _retouch(folder, itk, n=3, h=30, w=40, labels=True):
    rng = np.random.default_rng(3)
    oct_ = rng.integers(0, 256, (n, h, w)).astype(np.uint8)
    folder.mkdir(parents=True)
    img = itk.image_from_array(oct_)
    img.SetSpacing([0.0117, 0.0039, 0.047])  # x, y, z in mm
    itk.imwrite(img, str(folder / "oct.mhd"))
    ref = np.zeros((n, h, w), np.uint8)
    ref[1, 5:9, 10:20] = 1  # IRF
    ref[1, 20:24, 10:20] = 2  # SRF
    ref[2, 25:28, 5:12] = 3  # PED
    if labels:
        itk.imwrite(itk.image_from_array(ref), str(folder / "reference.mhd"))
    return oct_, ref


@pytest.mark.slow
def test_retouch_volumes_and_fluid_labels_through_eyepy(tmp_path):
    itk = pytest.importorskip("itk", reason="RETOUCH needs the optional itk packages (anomaly-studio[retouch])")
    root = tmp_path / "retouch"
    oct_, ref = _retouch(root / "RETOUCH-TrainingSet-Spectralis" / "TRAIN001", itk)
    _retouch(root / "RETOUCH-TestSet-Spectralis" / "TEST001", itk, labels=False)
    ws = Workspace.create(tmp_path / "ws")
    report = import_folder(ws, root)
    assert report.layout == "retouch" and not report.skipped
    case = ws.case("Spectralis-TRAIN001")
    assert case.truth == "abnormal" and case.meta["vendor"] == "Spectralis" and ws.case("Spectralis-TEST001").truth is None
    rec = case.image("oct")
    np.testing.assert_array_equal(ws.read_pixels(rec), oct_)
    assert rec.oct_spacing_um.x_um == pytest.approx(11.7) and rec.oct_spacing_um.between_um == pytest.approx(47.0)
    page1 = ws.read_labels(rec, page=1)
    assert {s.label for s in page1.shapes} == {"intraretinal fluid", "subretinal fluid"}
    np.testing.assert_array_equal(page1.class_mask("intraretinal fluid"), ref[1] == 1)
    np.testing.assert_array_equal(page1.class_mask("subretinal fluid"), ref[1] == 2)
    assert {s.label for s in ws.read_labels(rec, page=2).shapes} == {"pigment epithelial detachment"}
    from core.labels.classes import workspace_class_set

    assert workspace_class_set(ws, "oct").by_name("pigment epithelial detachment") is not None


def test_retouch_without_itk_is_refused_with_the_reason(tmp_path, monkeypatch):
    folder = tmp_path / "retouch" / "RETOUCH-TrainingSet-Cirrus" / "TRAIN002"
    folder.mkdir(parents=True)
    (folder / "oct.mhd").write_text(
        "ObjectType = Image\nNDims = 3\nDimSize = 40 30 3\nElementType = MET_UCHAR\nElementDataFile = oct.raw\n"
    )
    (folder / "oct.raw").write_bytes(b"\0" * 3600)
    monkeypatch.setitem(sys.modules, "itk", None)
    ws = Workspace.create(tmp_path / "ws")
    report = import_folder(ws, tmp_path / "retouch")
    assert report.layout == "retouch" and not report.imported
    assert "needs ITK" in report.skipped[0]["reason"] and report.skipped[0]["path"].endswith("oct.mhd")
