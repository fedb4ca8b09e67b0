import numpy as np

from core.domain import CaseKind, Modality
from core.hashing import array_sha256
from core.workspace import Workspace


def test_demo_volume_cases_come_through_the_clinic_readers(small_demo_master):
    ws = Workspace.open(small_demo_master)
    vol = ws.case("VOL-L01")
    assert vol.kind == CaseKind.OCT and vol.split == "test" and vol.truth == "abnormal"
    oct_rec, loc = vol.image(Modality.OCT), vol.named("localizer")
    assert oct_rec.is_stack and oct_rec.meta.synthetic and "SYNTHETIC" in oct_rec.meta.description
    assert oct_rec.meta.extra["source_format"] == "Heidelberg Spectralis .vol" and oct_rec.meta.extra["source_sha256"]
    assert loc.is_localizer and not loc.meta.synthetic and loc.meta.derived_from
    lines = vol.bscan_positions
    assert len(lines) == oct_rec.n_bscans and vol.localizer_name == "localizer"
    h, w = loc.shape
    ys = [ln.start[1] for ln in lines]
    assert all(0 <= ln.start[0] < ln.end[0] < w and 0 <= ln.start[1] < h for ln in lines)
    assert ys == sorted(ys, reverse=True)  # B-scan 0 is the lowest on the localizer, as Heidelberg stores a raster
    assert array_sha256(ws.read_pixels(oct_rec)) == oct_rec.sha256
    labelled = [p for p in range(oct_rec.n_bscans) if ws.read_labels(oct_rec, page=p) is not None]
    assert labelled and all(ws.read_labels(oct_rec, page=p).union_mask().any() for p in labelled)

    pair = ws.case("VOL-N01")
    assert pair.kind == CaseKind.PAIR and pair.truth == "normal" and [im.name for im in pair.images] == ["fundus", "oct"]
    fundus, oct_rec = pair.image(Modality.FUNDUS), pair.image(Modality.OCT)
    assert pair.localizer_name == "fundus" and fundus.shape[-1] == 3 and "YBR_FULL_422" in fundus.meta.description
    assert oct_rec.meta.synthetic and oct_rec.meta.uids["localizer_uid"] == fundus.meta.uids["sop_instance_uid"]
    assert oct_rec.meta.laterality == fundus.meta.laterality and oct_rec.oct_spacing_um.between_um > 0
    fh, fw = fundus.shape[:2]
    centre = pair.bscan_positions[len(pair.bscan_positions) // 2]
    assert 0 < centre.start[0] < centre.end[0] < fw and 0 < centre.start[1] < fh
    assert np.isfinite(np.array([[ln.start, ln.end] for ln in pair.bscan_positions])).all()
