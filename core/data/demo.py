"""Build the demo workspace offline from real images shipped in installed packages.

* Fundus: ``skimage.data.retina()`` (real, CC0) and derived normals (mirror, rotation, zoom,
  exposure, colour, defocus; marked ``derived_from``), plus test cases with synthetic lesions
  and exact ground-truth masks (LabelMe mask shapes).
* OCT: synthetic layered B-scans (always marked synthetic), paired with derived fundus photos and
  a horizontal scan line through the fovea; one B-scan stack case; two OCT volume cases written as a
  Heidelberg .vol and as DICOM OP + OPT and imported through the clinic readers (core.data.demo_volumes).
* MRI: nilearn's MNI152 2009 T1 template (real) and derived normals (bias field, gamma, noise,
  shift), plus synthetic tumours with BraTS label volumes.

Training normals have ``split='train'``; held-out normals and lesion cases ``split='test'``;
``truth`` says which test cases are abnormal. The MRI-WS cases are the one exception: synthetic
tumours in the training split (``meta.weak_supervision``), so weakly supervised methods have
unhealthy slices to learn from without touching the test cases.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.domain import CaseKind, ImageMeta, Modality, ScanLine
from core.io.labelme import LabelDocument, Shape
from core.workspace.workspace import NewImage, Workspace

Progress = Callable[[int, int, str], None]


@dataclass
class DemoPlan:
    fundus_train: int = 8
    fundus_test_normal: int = 3
    fundus_test_lesion: int = 5
    pair_train: int = 6
    pair_test_normal: int = 2
    pair_test_lesion: int = 4
    oct_stack_pages: int = 7
    volume_bscans: int = 25  # the OCT volume cases (Heidelberg .vol; DICOM OP + OPT)
    mri_train: int = 3  # the real template + derived
    mri_test_normal: int = 1
    mri_test_lesion: int = 3
    mri_train_lesion: int = 10  # synthetic tumours in the training split (MRI-WS..): slice labels for weak supervision
    # (with 2, RASALoRE's network did not learn to find unseen lesions)
    seed: int = 0

    @classmethod
    def small(cls) -> DemoPlan:
        """A reduced plan for tests."""
        return cls(
            fundus_train=3,
            fundus_test_normal=1,
            fundus_test_lesion=2,
            pair_train=2,
            pair_test_normal=1,
            pair_test_lesion=1,
            oct_stack_pages=3,
            volume_bscans=3,
            mri_train=1,
            mri_test_normal=0,
            mri_test_lesion=1,
            mri_train_lesion=1,
        )

    def total(self) -> int:
        return (
            self.fundus_train
            + self.fundus_test_normal
            + self.fundus_test_lesion
            + self.pair_train
            + self.pair_test_normal
            + self.pair_test_lesion
            + 2
            + self.mri_train
            + self.mri_test_normal
            + self.mri_test_lesion
            + self.mri_train_lesion
            + (2 if self.volume_bscans else 0)
        )


DEMO_USER = "demo-builder"
OCT_SIZE = (496, 512)
SCAN_WIDTH_MM = 6.0


def _lesion_doc(ws: Workspace, image_rec, masks: dict[str, np.ndarray]) -> LabelDocument:
    doc = ws.new_label_document(image_rec)
    for label, mask in masks.items():
        if mask.any():
            doc.shapes.append(Shape.from_mask(label, mask, description="synthetic lesion (ground truth)"))
    doc.flags = {"abnormal": bool(doc.shapes), "normal": not doc.shapes}
    doc.extra["anomalyStudio"] = {"origin": "synthetic ground truth from the demo builder"}
    return doc


def build_demo(root: str | Path, plan: DemoPlan | None = None, progress: Progress | None = None) -> Workspace:
    from core.data.synthetic import fundus as F
    from core.data.synthetic import mri as M
    from core.data.synthetic.oct import OCT_LESIONS, render_bscan

    plan = plan or DemoPlan()
    rng = np.random.default_rng(plan.seed)
    ws = Workspace.create(root, name="Anomaly Studio demo")
    ws.catalog.set_info("demo", "1")
    total, done = plan.total(), 0
    t0 = time.monotonic()

    def step(message: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, message)

    retina = F.load_retina()
    size = retina.shape[:2]

    def derived_fundus(allow_identity: bool):
        if allow_identity:
            d = F.Derivation(description="original photo")
        else:
            d = F.random_derivation(rng)
        img = d.apply(retina)
        fovea = d.map_point(F.RETINA_FOVEA_XY, size)
        meta = ImageMeta(
            laterality=d.laterality(),
            source="skimage.data.retina() (CC0)",
            derived_from=None if allow_identity else d.description,
            description="real fundus photograph" if allow_identity else "derived from a real fundus photograph",
        )
        return img, fovea, meta, d

    def add_fundus_lesions(img, fovea, n_kinds: int):
        fov = F.fov_mask(img)
        masks: dict[str, np.ndarray] = {}
        kinds = rng.choice(F.FUNDUS_LESIONS, size=n_kinds, replace=False)
        for kind in kinds:
            size_px = {
                "retinal hemorrhage": rng.uniform(22, 45),
                "retinal hard exudates": rng.uniform(30, 60),
                "cotton-wool spots": rng.uniform(25, 45),
                "retinal whitening": rng.uniform(55, 90),
            }[kind]
            site = F.random_lesion_site(rng, img, fovea, fov=fov)
            img, m = F.paint_lesion(rng, img, str(kind), site, float(size_px), fov=fov)
            masks[str(kind)] = masks.get(str(kind), np.zeros(m.shape, bool)) | m
        return img, masks

    # -- fundus-only cases -------------------------------------------------------------------
    n = 0
    counters = {True: 0, False: 0}
    for split, count, lesion in (
        ("train", plan.fundus_train, False),
        ("test", plan.fundus_test_normal, False),
        ("test", plan.fundus_test_lesion, True),
    ):
        for _ in range(count):
            n += 1
            counters[lesion] += 1
            img, fovea, meta, _ = derived_fundus(allow_identity=(n == 1))
            masks = {}
            if lesion:
                img, masks = add_fundus_lesions(img, fovea, int(rng.integers(1, 4)))
                meta.synthetic = True
                meta.description += "; synthetic lesions painted in"
            cid = f"FUN-{'L' if lesion else 'N'}{counters[lesion]:02d}"
            case = ws.add_case(
                cid,
                CaseKind.FUNDUS,
                [NewImage("fundus", Modality.FUNDUS, array=img, meta=meta)],
                split=split,
                truth="abnormal" if lesion else "normal",
                source="demo",
                user=DEMO_USER,
                meta={"demo": True},
            )
            if lesion:
                rec = case.require_image(Modality.FUNDUS)
                ws.write_labels(rec, _lesion_doc(ws, rec, masks), user=DEMO_USER)
            step(f"fundus case {cid}")

    # -- fundus + OCT pairs ------------------------------------------------------------------
    counters = {True: 0, False: 0}
    for split, count, lesion in (
        ("train", plan.pair_train, False),
        ("test", plan.pair_test_normal, False),
        ("test", plan.pair_test_lesion, True),
    ):
        for _ in range(count):
            counters[lesion] += 1
            n = counters[lesion]
            img, fovea, fmeta, d = derived_fundus(allow_identity=False)
            half = SCAN_WIDTH_MM / 2 * F.PX_PER_MM * d.zoom * ((d.out_size or size[1]) / size[1])
            line = ScanLine((fovea[0] - half, fovea[1]), (fovea[0] + half, fovea[1]))
            oct_lesions: tuple[str, ...] = ()
            fundus_masks: dict[str, np.ndarray] = {}
            if lesion:
                k = int(rng.integers(1, 3))
                oct_lesions = tuple(str(x) for x in rng.choice(OCT_LESIONS, size=k, replace=False))
                if n % 2 == 0:
                    img, fundus_masks = add_fundus_lesions(img, fovea, 1)
                    fmeta.synthetic = True
            scan = render_bscan(rng, *OCT_SIZE, lesions=oct_lesions, fovea_x=OCT_SIZE[1] / 2 + rng.uniform(-6, 6))
            ometa = ImageMeta(
                laterality=fmeta.laterality,
                scan_line=line,
                synthetic=True,
                spacing=[3.9e-3, SCAN_WIDTH_MM / OCT_SIZE[1]],
                source="synthetic layered B-scan (no real OCT is available offline)",
                description="SYNTHETIC OCT B-scan" + ("; synthetic lesions" if oct_lesions else ""),
            )
            cid = f"PAIR-{'L' if lesion else 'N'}{n:02d}"
            case = ws.add_case(
                cid,
                CaseKind.PAIR,
                [NewImage("fundus", Modality.FUNDUS, array=img, meta=fmeta), NewImage("oct", Modality.OCT, array=scan.image, meta=ometa)],
                split=split,
                truth="abnormal" if lesion else "normal",
                source="demo",
                user=DEMO_USER,
                meta={"demo": True},
            )
            if lesion:
                orec = case.require_image(Modality.OCT)
                ws.write_labels(orec, _lesion_doc(ws, orec, scan.masks), user=DEMO_USER)
                if fundus_masks:
                    frec = case.require_image(Modality.FUNDUS)
                    ws.write_labels(frec, _lesion_doc(ws, frec, fundus_masks), user=DEMO_USER)
            step(f"fundus + OCT case {cid}")

    # -- OCT B-scan stacks -------------------------------------------------------------------
    for cid, split, lesion in (("OCT-N01", "train", False), ("OCT-L01", "test", True)):
        pages, page_masks = [], []
        for p in range(plan.oct_stack_pages):
            les = (str(rng.choice(OCT_LESIONS)),) if lesion and p in (plan.oct_stack_pages // 2, plan.oct_stack_pages // 2 + 1) else ()
            offset = abs(p - plan.oct_stack_pages // 2) / max(plan.oct_stack_pages // 2, 1)
            scan = render_bscan(rng, *OCT_SIZE, lesions=les, fovea_x=OCT_SIZE[1] / 2 + offset * 140 * rng.choice([-1, 1]))
            pages.append(scan.image)
            page_masks.append(scan.masks)
        meta = ImageMeta(
            synthetic=True, source="synthetic layered B-scans", description=f"SYNTHETIC OCT volume, {len(pages)} B-scans", laterality="R"
        )
        case = ws.add_case(
            cid,
            CaseKind.OCT,
            [NewImage("oct", Modality.OCT, array=np.stack(pages), meta=meta)],
            split=split,
            truth="abnormal" if lesion else "normal",
            source="demo",
            user=DEMO_USER,
            meta={"demo": True},
        )
        if lesion:
            rec = case.require_image(Modality.OCT)
            for p, masks in enumerate(page_masks):
                if masks:
                    ws.write_labels(rec, _lesion_doc(ws, rec, masks), page=p, user=DEMO_USER)
        step(f"OCT stack {cid}")

    # -- brain MRI ---------------------------------------------------------------------------
    mni = M.load_mni152()
    from core.io.volume import Volume

    n = 0
    mri_counters = {"N": 0, "L": 0, "WS": 0}
    # MRI-WS cases: synthetic tumours in the *training* split, made last so the other cases do not
    # change; weakly supervised methods (RASALoRE) learn from their slice labels (label volumes).
    for split, count, lesion in (
        ("train", plan.mri_train, False),
        ("test", plan.mri_test_normal, False),
        ("test", plan.mri_test_lesion, True),
        ("train", plan.mri_train_lesion, True),
    ):
        for _ in range(count):
            n += 1
            weak = lesion and split == "train"
            key = "WS" if weak else ("L" if lesion else "N")
            mri_counters[key] += 1
            cid = f"MRI-{key}{mri_counters[key]:02d}"
            labels = None
            if n == 1 and not lesion:
                new = NewImage(
                    "t1",
                    Modality.MRI,
                    source_path=Path(M.mni152_path()),
                    meta=ImageMeta(
                        sequence="t1", source="nilearn MNI152 2009 template (ICBM152, skull-stripped T1)", description="real brain template"
                    ),
                )
            else:
                var = M.random_variation(rng)
                data = M.apply_variation(rng, mni.data, var)
                desc = f"derived from the MNI152 template: {var.description}"
                if lesion:
                    data, labels = M.paint_tumour(rng, data)
                    desc += "; synthetic tumour"
                if weak:
                    desc += " (training split: slice labels for weakly supervised training)"
                new = NewImage(
                    "t1",
                    Modality.MRI,
                    volume=Volume(data, mni.affine, mni.spacing, header=mni.header),
                    meta=ImageMeta(
                        sequence="t1", derived_from=desc, synthetic=lesion, source="nilearn MNI152 2009 template", description=desc
                    ),
                )
            case = ws.add_case(
                cid,
                CaseKind.MRI,
                [new],
                split=split,
                truth="abnormal" if lesion else "normal",
                source="demo",
                user=DEMO_USER,
                meta={"demo": True, **({"weak_supervision": True} if weak else {})},
            )
            if labels is not None:
                from core.classes import default_set

                legend = {c.name: c.id for c in default_set("mri").classes}
                ws.write_label_volume(case.require_image(Modality.MRI), labels, legend, user=DEMO_USER)
            step(f"MRI case {cid}")

    # -- OCT volumes, through the clinic readers (own random stream: the cases above do not change) --
    if plan.volume_bscans:
        from core.data.demo_volumes import add_volume_cases

        small = plan.volume_bscans < 10
        add_volume_cases(
            ws, n_bscans=plan.volume_bscans, small=small, seed=plan.seed, user=DEMO_USER, label_doc=_lesion_doc, step=step, retina=retina
        )

    ws.catalog.set_info("demo_build_seconds", f"{time.monotonic() - t0:.1f}")
    return ws
