"""RASALoRE end to end: a tiny CPU configuration trains on the demo MRI (normal slices plus
synthetic-lesion slices of the training split), passes the model contract, and exports NIfTI."""

from __future__ import annotations

import csv
import io
import json
from contextlib import redirect_stdout

import numpy as np
import pytest

from core.domain import LoadedCase
from core.errors import InputError
from core.models.contract import FitContext
from core.models.rasalore.supervision import LabelledCase
from tests.helpers.contract import cancel_midway, check_contract

TINY = [
    "image_size=32",
    "grid_size=8",
    "embed_dim=32",
    "heads=4",
    "epochs=2",
    "batch_size=4",
    "ddpt_epochs=2",
    "ddpt_grid=8",
    "max_train_slices=6",
    "device=cpu",
    "predict_batch=64",
    "classifier_guidance=false",
]  # guidance encodes every predicted slice with LiteMedSAM: test_rasalore_guidance.py


def _cli(*args) -> tuple[int, str]:
    from core.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


@pytest.mark.slow
def test_trains_on_the_demo_mri_and_exports_nifti(small_demo, tmp_path):
    import nibabel as nib

    from core.models import store
    from core.workspace import Workspace

    config = [x for kv in TINY for x in ("--config", kv)]
    code, out = _cli("train", "rasalore", "--workspace", str(small_demo), *config, "--run", "r1")
    assert code == 0, out
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    stages = {e.get("stage") for e in events if e["event"] == "epoch"}
    assert stages == {"network"}  # the default weak masks need no DDPT training
    assert events[-1]["event"] == "done" and events[-1]["version"] == "r1"
    assert (small_demo / "runs" / "r1" / "network" / "checkpoint.pt").exists()

    ws = Workspace.open(small_demo)
    model = store.load_version(ws, "rasalore")
    m = model.card.metrics
    assert m["weak_mask"] == "healthy_contrast" and m["weak_masks"]["weak_mask"] == "healthy_contrast"
    assert m["weak_masks"]["weak_masks"] >= 1 and m["weak_masks"]["reference_slices"] >= 1 and m["train_slices_unhealthy"] >= 1
    assert "healthy-reference" in model.card.backbone and any("LiteMedSAM" in d for d in model.card.deviations)
    assert model.card.weights and list(model.card.weights.values())[0].startswith("79d8c9dc")
    assert "Judge the case from the heatmap and mask" in m["case_score_caveat"]  # shown by the review panel
    kept = m["selected_epoch"]["network"]  # the best epoch's weights are kept
    assert kept["epoch"] in (1, 2) and len(m["val_dice_history"]) == 2
    assert kept["on"] == ("validation volumes" if m["validation_volumes"] else "training slices")

    test_ids = [c.id for c in ws.cases() if c.kind.value == "mri" and c.split == "test"]
    lesion = ws.load_case(next(cid for cid in test_ids if ws.case(cid).truth == "abnormal"))
    r = model.predict(lesion)
    vol = lesion.first("mri")
    assert r.heatmap.shape == vol.array.shape and r.mask.shape == vol.array.shape and r.mask.dtype == bool
    assert r.heatmap.dtype == np.float32 and np.isfinite(r.heatmap).all() and np.isfinite(r.score)
    scores = r.slices.scores
    axis = r.slices.axis
    assert len(scores) == vol.array.shape[axis]
    assert scores[0] is None and scores[-1] is None  # the skipped first / last slices
    assert all(0.0 <= s <= 1.0 for s in scores if s is not None)
    # the stored model reproduces the prediction; a damaged weights file is refused
    again = type(model).load(store.model_folder(ws, "rasalore", model.card.version))
    r2 = again.predict(lesion)
    assert r2.score == pytest.approx(r.score, rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(r2.heatmap, r.heatmap, rtol=1e-5, atol=1e-5)

    export = tmp_path / "export"
    code, out = _cli("predict", "rasalore", "--workspace", str(small_demo), "--case", lesion.id, "--export", str(export), "--json")
    assert code == 0, out
    rows = list(csv.DictReader((export / "scores.csv").open()))
    assert rows[0]["heatmap"].endswith(".nii.gz") and rows[0]["mask"].endswith("_mask.nii.gz")
    src = nib.load(str(ws.image_path(vol.record)))
    heat = nib.load(str(export / rows[0]["heatmap"]))
    np.testing.assert_array_equal(heat.affine, src.affine)
    assert heat.shape == src.shape and heat.get_data_dtype() == np.float32
    assert int(heat.header["sform_code"]) == int(src.header["sform_code"])
    stored = store.load_result(ws, "rasalore", lesion.id)
    stored_heat, stored_mask = store.result_arrays(ws, stored)
    np.testing.assert_allclose(np.asarray(heat.dataobj), stored_heat, rtol=1e-6)
    mask = nib.load(str(export / rows[0]["mask"]))
    np.testing.assert_array_equal(np.asarray(mask.dataobj).astype(bool), stored_mask)
    assert float(rows[0]["score"]) == pytest.approx(stored.score)


def _brain(rng, shape=(28, 30, 26)):
    g = np.indices(shape).astype(np.float32)
    c = np.array(shape) / 2
    r = np.sqrt(sum(((g[i] - c[i]) / (0.42 * shape[i])) ** 2 for i in range(3)))
    return np.where(r < 1, 300 + 150 * np.cos(g[0] / 3) * np.sin(g[1] / 4) + rng.normal(0, 15, shape), 0).astype(np.float32)


def _with_lesion(v, centre, radius=5.0, value=1200.0):
    g = np.indices(v.shape).astype(np.float32)
    lab = (np.sqrt(sum((g[i] - centre[i]) ** 2 for i in range(3))) < radius).astype(np.uint8)
    return np.where(lab > 0, value, v).astype(np.float32), lab


def _multi_sequence_data(rng):
    normals = []
    for i in range(3):
        t1 = _brain(rng)
        normals.append(LoadedCase.from_arrays(case_id=f"N{i}", mri_t1=t1, mri_t2=np.where(t1 > 0, t1.max() - t1, 0)))
    labelled = []
    for i in range(2):
        t1, lab = _with_lesion(_brain(rng), (14 + i, 15, 13))
        labelled.append(LabelledCase(LoadedCase.from_arrays(case_id=f"L{i}", mri_t1=t1, mri_t2=np.where(t1 > 0, t1.max() - t1, 0)), lab))
    return normals, labelled


@pytest.mark.slow
def test_contract_and_multi_sequence_inference_with_any_sequence(tmp_path):
    from core.models.registry import create_model

    rng = np.random.default_rng(0)
    normals, labelled = _multi_sequence_data(rng)
    kw = dict(p.split("=") for p in TINY)
    kw.update(
        skip_slices="2", label_min_pixels="10", epochs="1", multimodal_epochs="1", calibration_holdout="0.34", weak_mask="ddpt_attention"
    )  # the paper's rule end to end (the demo test runs the default)

    def make():
        return create_model("rasalore", **kw)

    weak = {"ctx": FitContext(labelled_cases=labelled)}

    with pytest.raises(InputError, match="weakly supervised"):
        create_model("rasalore", **kw).fit(normals)
    t1, _ = _with_lesion(_brain(rng), (13, 14, 12))
    t2 = np.where(t1 > 0, t1.max() - t1, 0)
    probe = LoadedCase.from_arrays(case_id="B", mri_t1=t1, mri_t2=t2)
    model = check_contract(make, normals, probe, tmp_path, fit_kwargs=weak)
    cancel_midway(make, normals, fit_kwargs=weak)
    # one RASA per sequence, shared everything else; the bridge is recorded in the card
    assert model.config.sequence_list == ["mri_t1", "mri_t2"] and model.config.bridge_sequence in ("mri_t1", "mri_t2")
    assert model.card.metrics["sequences"] == ["mri_t1", "mri_t2"] and model.calibration.source == "held-out normals"
    assert model.card.metrics["weak_masks"]["weak_mask"] == "ddpt_attention" and "DDPT attention" in model.card.backbone
    only_t1 = model.predict(LoadedCase.from_arrays(case_id="T1", mri_t1=t1))
    only_t2 = model.predict(LoadedCase.from_arrays(case_id="T2", mri_t2=t2))
    assert only_t1.extras["sequence"] == "mri_t1" and only_t2.extras["sequence"] == "mri_t2"
    assert set(model.predict(probe).maps) == {"mri_t1", "mri_t2"}
    flair = model.predict(LoadedCase.from_arrays(case_id="F", mri_flair=t2))
    assert flair.extras["sequence"] == model.config.bridge_sequence and "not trained" in flair.extras["note"]
    loaded = type(model).load(model.save(tmp_path / "mm"))
    assert set(loaded.net.rasa) == {"mri_t1", "mri_t2"}
    assert loaded.predict(LoadedCase.from_arrays(case_id="T2", mri_t2=t2)).score == pytest.approx(only_t2.score)


def test_needs_unhealthy_slices():
    from core.models.registry import create_model

    rng = np.random.default_rng(1)
    normals = [LoadedCase.from_arrays(case_id=f"N{i}", mri=_brain(rng)) for i in range(2)]
    model = create_model("rasalore", **dict(p.split("=") for p in TINY), skip_slices=2)
    with pytest.raises(InputError, match="unhealthy"):
        model.fit(normals, FitContext(labelled_cases=[]))
