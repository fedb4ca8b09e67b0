"""Duke OCT datasets, read through eyepy's Duke importers:

* RPEDC (Farsiu et al., Ophthalmology 2013, ``import_duke_mat``)::

      <root>/AMD/Farsiu_Ophthalmology_2013_AMD_Subject_1001.mat
      <root>/Control/Farsiu_Ophthalmology_2013_Control_Subject_1001.mat

  AMD volumes are abnormal test cases; controls are normal, three of every four in the training
  split (file order) and the fourth held out for testing.
* DME (Chiu et al., BOE 2015, ``import_dukechiu2_mat``): ``<root>/Subject_01.mat`` ... with the
  first grader's fluid marks (``manualFluid1``) as "intraretinal fluid" labels on the B-scans that
  were graded; abnormal test cases.

The .mat variables' sizes are checked (``scipy.io.whosmat``) before anything is loaded.
Duke volumes carry no localizer; B-scans are stored as 8-bit when their values are whole numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.data.adapters.base import PlannedCase
from core.domain import CaseKind, safe_id
from core.errors import CorruptFileError, InputError
from core.io.limits import check_pixel_budget

RPEDC_RE = re.compile(r"_(AMD|Control)_Subject_(\d+)\.mat$", re.IGNORECASE)
DME_RE = re.compile(r"^Subject_(\d+)\.mat$", re.IGNORECASE)


def _check_mat(path: Path, needed: tuple[str, ...]) -> None:
    import scipy.io as sio

    try:
        variables = {name: shape for name, shape, _ in sio.whosmat(path)}
    except Exception as exc:  # noqa: BLE001 - scipy raises many types on damaged files
        raise CorruptFileError(path, f"not a readable MATLAB file ({exc.__class__.__name__}: {exc})") from None
    missing = [n for n in needed if n not in variables]
    if missing:
        raise CorruptFileError(path, f"MATLAB file without {', '.join(missing)}")
    shape = variables["images"]
    if len(shape) != 3:
        raise CorruptFileError(path, f"'images' of shape {shape}; expected (rows, columns, B-scans)")
    n = 1
    for s in shape:
        n *= int(s)
    check_pixel_budget(path, n, 8)  # MATLAB doubles at worst


def load_duke_volume(path: Path, dme: bool):
    import eyepy.io as eio

    from core.data.clinic_import import volume_images
    from core.io.device_oct import from_eye_volume

    _check_mat(path, ("images", "manualFluid1") if dme else ("images", "layerMaps"))
    try:
        ev = eio.import_dukechiu2_mat(path) if dme else eio.import_duke_mat(path)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise CorruptFileError(path, f"cannot read the Duke volume: {exc.__class__.__name__}: {exc}") from None
    fmt = "Duke DME (Chiu 2015) .mat" if dme else "Duke RPEDC (Farsiu 2013) .mat"
    vol = from_eye_volume(ev, path, fmt, device="Bioptigen SD-OCT" if not dme else "Heidelberg Spectralis", device_localizer=False)
    vol.warnings.clear()
    images = volume_images(vol, None)
    pages = {}
    if dme and "manualFluid1" in ev.volume_maps:
        fluid = ev.volume_maps["manualFluid1"].data
        marks = [{"intraretinal fluid": fluid[i]} if fluid[i].any() else {} for i in range(vol.n_bscans)]
        if any(marks):
            pages = {"oct": marks}
    return images, pages


class Duke:
    name = "duke"
    description = "Duke OCT: AMD/ + Control/ *_Subject_*.mat (RPEDC 2013) or Subject_NN.mat (DME 2015)"

    def detect(self, src: Path) -> bool:
        return any(RPEDC_RE.search(p.name) for p in src.rglob("*.mat")) or any(DME_RE.match(p.name) for p in src.glob("*.mat"))

    def plan(self, src: Path, report) -> list[PlannedCase]:
        cases: list[PlannedCase] = []
        controls = 0
        for path in sorted(src.rglob("*.mat")):
            m = RPEDC_RE.search(path.name)
            if m:
                amd = m.group(1).lower() == "amd"
                if not amd:
                    controls += 1
                split = "test" if amd or controls % 4 == 0 else "train"
                cid = safe_id(f"DUKE-{'AMD' if amd else 'CTRL'}-{m.group(2)}")
                truth, dme = ("abnormal" if amd else "normal"), False
            elif dme_match := DME_RE.match(path.name):
                cid, split, truth, dme = safe_id(f"DUKE-DME-{dme_match.group(1)}"), "test", "abnormal", True
            else:
                report.skipped.append({"path": str(path), "reason": "not a Duke RPEDC or DME subject file"})
                continue
            pc = PlannedCase(cid, CaseKind.OCT, [], split=split, truth=truth, source=str(path), meta={"dataset": "Duke"})
            pc.load = lambda p=path, d=dme: load_duke_volume(p, d)  # noqa: E731
            cases.append(pc)
        return cases
