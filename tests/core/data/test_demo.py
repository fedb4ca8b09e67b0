import numpy as np

from core.data.synthetic.fundus import FUNDUS_LESIONS, load_retina, paint_lesion
from core.data.synthetic.oct import OCT_LESIONS, render_bscan
from core.domain import CaseKind, Modality
from core.workspace import Workspace


def test_small_demo_contents(small_demo_master):
    ws = Workspace.open(small_demo_master)
    cases = ws.cases()
    kinds = {c.kind for c in cases}
    assert kinds == {CaseKind.FUNDUS, CaseKind.PAIR, CaseKind.OCT, CaseKind.MRI}
    train = [c for c in cases if c.split == "train"]
    weak = [c for c in train if c.meta.get("weak_supervision")]
    assert train and all(c.truth == "normal" for c in train if c not in weak)
    # the only abnormal training cases are the MRI cases made for weak (slice-level) supervision
    assert weak and all(c.kind == CaseKind.MRI and c.truth == "abnormal" and c.id.startswith("MRI-WS") for c in weak)
    lesion_cases = [c for c in cases if c.truth == "abnormal"]
    assert lesion_cases and all(c.split == "test" for c in lesion_cases if c not in weak)
    for case in lesion_cases:
        has_label = False
        for im in case.images:
            if im.modality == Modality.MRI:
                got = ws.read_label_volume(im)
                if got is not None:
                    labels, legend = got
                    assert labels.shape == im.shape and set(np.unique(labels)) <= {0, 1, 2, 3} and labels.any()
                    has_label = True
            elif im.modality == Modality.OCT and len(im.shape) == 3:
                pages = [ws.read_labels(im, page=p) for p in range(im.shape[0])]
                has_label |= any(d is not None and d.union_mask().any() for d in pages)
            else:
                doc = ws.read_labels(im)
                if doc is not None:
                    assert doc.union_mask().any()
                    has_label = True
        assert has_label, case.id
    # the real photo and the real template are kept as real; OCT is always synthetic
    real_fundus = ws.case("FUN-N01").image("fundus")
    assert not real_fundus.meta.synthetic and real_fundus.meta.derived_from is None
    assert all(c.image("oct").meta.synthetic for c in cases if c.image("oct") is not None)
    pair = next(c for c in cases if c.kind == CaseKind.PAIR)
    line = pair.image("oct").meta.scan_line
    h, w = pair.image("fundus").shape[:2]
    assert 0 <= line.start[0] < line.end[0] <= w and 0 <= line.start[1] <= h


def test_fundus_lesion_changes_only_masked_pixels():
    rng = np.random.default_rng(1)
    img = load_retina()[300:800, 300:800].copy()
    for kind in FUNDUS_LESIONS:
        new, mask = paint_lesion(rng, img, kind, (250, 250), 40)
        assert mask.any(), kind
        np.testing.assert_array_equal(new[~mask], img[~mask])
        assert (new[mask] != img[mask]).any()


def test_oct_lesions_have_masks_and_are_seeded():
    for lesion in OCT_LESIONS:
        a = render_bscan(np.random.default_rng(5), 128, 160, lesions=(lesion,))
        b = render_bscan(np.random.default_rng(5), 128, 160, lesions=(lesion,))
        np.testing.assert_array_equal(a.image, b.image)
        assert a.masks[lesion].any(), lesion
    normal = render_bscan(np.random.default_rng(5), 128, 160)
    assert normal.masks == {} and normal.image.dtype == np.uint8
