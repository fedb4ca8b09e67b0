"""The demo's OCT volume cases, written as a clinic's devices write them and imported through the
same readers (:mod:`core.data.clinic_import`):

* ``VOL-L01``: a Heidelberg Spectralis ``.vol`` (eyepy's format) with its SLO-style localizer
  and synthetic lesions on the B-scans through the fovea (test split, abnormal, per-B-scan labels).
* ``VOL-N01``: a DICOM OP photo (JPEG baseline, YBR_FULL_422) + an OPT volume whose frames are
  located on that photo (train split, normal): one fundus + OCT-volume case.

The B-scans are synthetic; the photo and the localizer are derived from ``skimage.data.retina()``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.data.synthetic import fundus as F
from core.data.synthetic.oct_volume import render_volume
from core.io.ophthalmic import OctVolume, OphthalmicPhoto
from core.workspace.workspace import Workspace

ACQUIRED = "2024-03-05T09:41:07"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1.22.1"  # fixed, so the demo is the same on every machine


def _mark_synthetic(ws: Workspace, case_id: str, source: str, user: str) -> None:
    for rec in ws.case(case_id).images:
        meta = rec.meta
        if rec.name == "oct":
            meta = replace(meta, synthetic=True, description=f"SYNTHETIC OCT volume, {rec.n_bscans} B-scans ({meta.description})")
        else:
            meta = replace(
                meta, derived_from="skimage.data.retina() (CC0), resampled", description=f"{meta.description}; derived from a real photo"
            )
        ws.update_image_meta(rec, replace(meta, source=f"{source} (written by the demo builder)"), user=user)


def add_volume_cases(
    ws: Workspace,
    *,
    n_bscans: int,
    small: bool,
    seed: int,
    user: str,
    label_doc: Callable,
    step: Callable[[str], None],
    retina: np.ndarray | None = None,
) -> None:
    from core.data.clinic_import import ClinicGroup, group_clinic_files, import_clinic_group
    from core.data.importer import ImportReport
    from core.io.ophthalmic_writers import write_heyex_vol, write_op, write_opt

    rng = np.random.default_rng(seed + 22)
    retina = F.load_retina() if retina is None else retina
    size = retina.shape[:2]
    h, w = (124, 128) if small else (496, 512)
    report = ImportReport()
    with tempfile.TemporaryDirectory(prefix="demo-clinic-") as tmp:
        folder = Path(tmp)
        # -- Heidelberg .vol with its own localizer ------------------------------------------------
        side = 128 if small else 512
        d = F.Derivation(out_size=side, description="localizer")
        localizer = d.apply(retina)[..., 1]  # the green channel looks most like an infrared SLO image
        fovea = d.map_point(F.RETINA_FOVEA_XY, size)
        ppm = F.PX_PER_MM * side / size[1]
        centre = (n_bscans - 1) // 2
        lesions: dict[int, tuple[str, ...]] = {centre: ("subretinal fluid", "intraretinal fluid")}
        if n_bscans > 2:
            lesions.update({centre - 1: ("intraretinal fluid",), centre + 1: ("subretinal fluid",)})
        vol = render_volume(rng, n_bscans, h, w, fovea_xy=fovea, px_per_mm=ppm, lesions=lesions)
        src = OctVolume(vol.bscans, localizer, vol.positions, vol.spacing, (1000.0 / ppm,) * 2, F.RETINA_LATERALITY, ACQUIRED)
        write_heyex_vol(folder / "VOL-L01.vol", src, layers=vol.layers, patient_id="SYNTHETIC-0022")
        case = import_clinic_group(
            ws, ClinicGroup("VOL-L01", oct=folder / "VOL-L01.vol"), report, user=user, split="test", truth="abnormal", meta={"demo": True}
        )
        _mark_synthetic(ws, "VOL-L01", "synthetic Heidelberg .vol", user)
        rec = ws.case(case.id).require_image("oct")
        for page, masks in enumerate(vol.masks):
            if masks:
                ws.write_labels(rec, label_doc(ws, rec, masks), page=page, user=user)
        step("OCT volume case VOL-L01 (Heidelberg .vol)")

        # -- DICOM OP photo + OPT volume located on it ---------------------------------------------
        d = F.random_derivation(rng)
        d.out_size = 352 if small else size[1]
        photo = d.apply(retina)
        fovea = d.map_point(F.RETINA_FOVEA_XY, size)
        ppm = F.PX_PER_MM * d.zoom * d.out_size / size[1]
        vol = render_volume(rng, n_bscans, h, w, fovea_xy=fovea, px_per_mm=ppm)
        uids = {"study_uid": STUDY_UID}
        op_uid = write_op(
            folder / "OP.dcm",
            OphthalmicPhoto(photo, d.laterality(), ACQUIRED, device="Synthetic / Fundus camera", spacing_um=(1000.0 / ppm,) * 2, uids=uids),
            compression="jpeg",
        )
        opt = OctVolume(
            vol.bscans, None, vol.positions, vol.spacing, laterality=d.laterality(), acquired=ACQUIRED, device="Synthetic / OCT"
        )
        opt.uids = {**uids, "localizer_uid": op_uid}
        write_opt(folder / "OPT.dcm", opt)
        (group,) = group_clinic_files([folder / "OP.dcm", folder / "OPT.dcm"], report)
        group.case_id = "VOL-N01"
        import_clinic_group(ws, group, report, user=user, split="train", truth="normal", meta={"demo": True})
        _mark_synthetic(ws, "VOL-N01", "synthetic DICOM OP + OPT", user)
        step("fundus + OCT volume case VOL-N01 (DICOM OP + OPT)")
