"""One entry point for a clinic's ophthalmic files: detect the format by content (then extension)
and return an :class:`~core.io.ophthalmic.OctVolume` or :class:`~core.io.ophthalmic.OphthalmicPhoto`.

=====================  ==========================================  ==============================
Format                 Read with                                   Result
=====================  ==========================================  ==============================
DICOM OP (8/16 bit)    pydicom (+ pylibjpeg JPEG / JPEG 2000)       OphthalmicPhoto
DICOM OPT              pydicom                                      OctVolume (positions when the
                                                                    frames carry them)
Heidelberg .vol        eyepy HeVolReader                            OctVolume + SLO localizer
Heidelberg .e2e, XML   eyepy import_heyex_e2e / import_heyex_xml    OctVolume + localizer
Topcon .fda            eyepy import_topcon_fda (oct-converter)      OctVolume + fundus localizer
Topcon .fds            oct-converter FDS                            OctVolume + fundus (no positions)
Zeiss .img             oct-converter IMG                            OctVolume (no localizer)
Bioptigen/Optovue .oct oct-converter BOCT / POCT                    OctVolume (no localizer)
=====================  ==========================================  ==============================
"""

from __future__ import annotations

from pathlib import Path

from core.errors import UnsupportedFormatError
from core.io.ophthalmic import OctVolume, OphthalmicPhoto

DEVICE_SUFFIXES = (".vol", ".e2e", ".fda", ".fds", ".img", ".oct")


def clinic_format(path: str | Path) -> str | None:
    """'op' / 'opt' for ophthalmic DICOM, the device suffix ('.vol', '.e2e', ...) for device exports,
    None for anything else (including DICOM of other modalities, e.g. MRI)."""
    from core.io.device_oct import device_format
    from core.io.ophthalmic_dicom import is_dicom_file, ophthalmic_kind

    path = Path(path)
    if not path.is_file():
        return None
    if is_dicom_file(path):
        return ophthalmic_kind(path)
    return device_format(path)


def read_clinic_file(path: str | Path) -> OctVolume | OphthalmicPhoto:
    """Read any supported ophthalmic file; unsupported or damaged files raise an InputError."""
    path = Path(path)
    from core.io.ophthalmic_dicom import is_dicom_file, read_ophthalmic_dicom

    if is_dicom_file(path):
        return read_ophthalmic_dicom(path)
    from core.io.device_oct import device_format, read_device_oct

    if path.is_file() and device_format(path) is None:
        raise UnsupportedFormatError(path, "not an ophthalmic DICOM file or OCT device export")
    return read_device_oct(path)
