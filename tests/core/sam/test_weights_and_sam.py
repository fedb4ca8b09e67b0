import dataclasses

import numpy as np
import pytest

from core.errors import WeightsError
from core.runtime import weights
from core.sam import get_sam_service


def test_litemedsam_is_verified():
    path, digest = weights.resolve("litemedsam")
    assert path.name == "lite_medsam.pth" and digest == weights.LITEMEDSAM.sha256


def test_missing_official_file_names_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_STUDIO_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError) as err:
        weights.resolve("sam_vit_b")
    msg = str(err.value)
    assert "sam_vit_b_01ec64.pth" in msg and str(tmp_path) in msg and "ANOMALY_STUDIO_WEIGHTS" in msg


def test_wrong_checksum_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_STUDIO_WEIGHTS", str(tmp_path))
    (tmp_path / "wide_resnet50_2-95faca4d.pth").write_bytes(b"not the real weights")
    with pytest.raises(WeightsError, match="checksum mismatch"):
        weights.resolve("wide_resnet50_2")
    from core.models import create_model

    model = create_model("resad", backbone="wide_resnet50", image_size=784)
    with pytest.raises(WeightsError, match="checksum"):
        model.backbone  # noqa: B018 - loading the backbone verifies the file


def test_sam_embedding_cache_and_prompts(tmp_path):
    from core.workspace.arrays import ArrayStore

    store = ArrayStore(tmp_path / "arrays.h5")
    sam = get_sam_service("litemedsam", "cpu", store)
    yy, xx = np.mgrid[:120, :150]
    img = np.full((120, 150, 3), 40, np.uint8)
    disc = (yy - 60) ** 2 + (xx - 90) ** 2 < 25**2
    img[disc] = 220
    emb = sam.embedding(img)
    assert emb.shape == (256, 64, 64) and emb.dtype == np.float32
    from core.hashing import array_sha256

    assert store.has(sam.cache_key(array_sha256(img)))
    # a second service with the same store reads the cached embedding instead of encoding
    no_encoder = dataclasses.replace(sam.net, image_encoder=lambda x: (_ for _ in ()).throw(AssertionError("encoder must not run")))
    sam2 = type(sam)(no_encoder, store, backend=sam.backend)
    np.testing.assert_array_equal(sam2.embedding(img), emb)
    pred = sam.predict(emb, img.shape[:2], box=np.array([62, 32, 118, 88]), multimask=False)
    assert pred.masks.shape == (1, 120, 150)
    inter = (pred.masks[0] & disc).sum() / disc.sum()
    assert inter > 0.8 and pred.masks[0][~disc].mean() < 0.05
    pts = sam.predict(emb, img.shape[:2], points=np.array([[90, 60]]), labels=np.array([1]))
    assert pts.masks.shape == (3, 120, 150) and pts.low_res_logits.shape == (3, 256, 256)
    refined = sam.predict(
        emb,
        img.shape[:2],
        points=np.array([[90, 60], [10, 10]]),
        labels=np.array([1, 0]),
        mask_input=pts.low_res_logits[int(np.argmax(pts.scores))],
        multimask=False,
    )
    assert refined.masks[0][60, 90]


def test_sam_services_of_earlier_workspaces_are_forgotten(tmp_path):
    """Opening workspace after workspace keeps a bounded number of services (and their in-memory
    embeddings), not one per workspace for the rest of the session."""
    from core.sam import service
    from core.workspace.arrays import ArrayStore

    stores = [ArrayStore(tmp_path / f"ws{i}" / "arrays.h5") for i in range(service.MAX_SERVICES + 3)]
    first = get_sam_service("litemedsam", "cpu", stores[0])
    assert get_sam_service("litemedsam", "cpu", stores[0]) is first  # the same workspace: shared
    for store in stores[1:]:
        get_sam_service("litemedsam", "cpu", store)
    again = get_sam_service("litemedsam", "cpu", stores[0])
    assert again is not first and again.net is first.net  # forgotten, rebuilt on the shared network
    recent = get_sam_service("litemedsam", "cpu", stores[-1])
    assert get_sam_service("litemedsam", "cpu", stores[-1]) is recent
