"""Write ophthalmic files the way devices export them: DICOM OP / OPT (pydicom) and Heidelberg .vol (eyepy).

Used by the demo builder and the tests, so a clinic's files and ours go through the same readers.
DICOM files are written with pydicom (JPEG 2000 through the pylibjpeg-openjpeg encoder that pydicom
drives; JPEG baseline YBR_FULL_422 photos are encoded by Pillow and encapsulated by pydicom).

eyepy 0.21's ``HeVolWriter.write`` cannot write a file: it hands ``datetime`` objects to date
adapters that expect ISO strings, encodes the 64-bit exam time as a float, and counts layer
segmentations from an empty lazy dict. :class:`HeVolExport` keeps eyepy's ``vol_format`` layout
(one field adapter replaced) and builds the header and B-scan records itself.
"""

from __future__ import annotations

import datetime as _dt
import io
from pathlib import Path

import numpy as np

from core.io.atomic import atomic_path
from core.io.ophthalmic import OctVolume, OphthalmicPhoto
from core.io.ophthalmic_dicom import OP_8BIT, OP_16BIT, OPT

HEYEX_EPOCH = _dt.datetime(1601, 1, 1)
N_VOL_LAYERS = 17  # segmentation lines a Spectralis volume carries (ILM ... RPE)


def _base(sop_class: str, modality: str, uids: dict, acquired: str | None, laterality: str | None, device: str):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uids.get("sop_instance_uid") or generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.StudyInstanceUID = uids.get("study_uid") or generate_uid()
    ds.SeriesInstanceUID = uids.get("series_uid") or generate_uid()
    ds.Modality = modality
    ds.PatientName = uids.get("patient_name", "SYNTHETIC^DEMO")
    ds.PatientID = uids.get("patient_id", "SYNTHETIC-0001")
    ds.Manufacturer, _, ds.ManufacturerModelName = (device or "Anomaly Studio synthetic").partition(" / ")
    when = _dt.datetime.fromisoformat(acquired) if acquired else _dt.datetime(2024, 1, 1, 9, 0, 0)
    ds.StudyDate = ds.ContentDate = when.strftime("%Y%m%d")
    ds.StudyTime = ds.ContentTime = when.strftime("%H%M%S")
    ds.AcquisitionDateTime = when.strftime("%Y%m%d%H%M%S")
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    if laterality in ("L", "R"):
        ds.Laterality = ds.ImageLaterality = laterality
    return ds


def _pixels(ds, pixels: np.ndarray) -> None:
    ds.SamplesPerPixel = 3 if pixels.ndim >= 3 and pixels.shape[-1] == 3 and ds.Modality == "OP" else 1
    ds.PhotometricInterpretation = "RGB" if ds.SamplesPerPixel == 3 else "MONOCHROME2"
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    bits = 16 if pixels.dtype == np.uint16 else 8
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if ds.SamplesPerPixel == 3 else pixels.shape[-2:]
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()


def _save(ds, path: Path, compression: str | None) -> None:
    from pydicom.uid import JPEG2000Lossless

    if compression == "j2k":
        ds.compress(JPEG2000Lossless)
    elif compression not in (None, "none", "jpeg"):
        raise ValueError(f"unknown compression '{compression}'")
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)


def write_op(path: str | Path, photo: OphthalmicPhoto, compression: str | None = None) -> str:
    """Write an OP photo; ``compression`` None, 'j2k' (lossless) or 'jpeg' (baseline, YBR_FULL_422, RGB only).
    Returns the SOP Instance UID."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    px = np.ascontiguousarray(photo.pixels)
    ds = _base(OP_16BIT if px.dtype == np.uint16 else OP_8BIT, "OP", dict(photo.uids), photo.acquired, photo.laterality, photo.device)
    _pixels(ds, px)
    if photo.spacing_um:
        ds.PixelSpacing = [f"{photo.spacing_um[1] / 1000.0:.10g}", f"{photo.spacing_um[0] / 1000.0:.10g}"]
    if compression == "jpeg":
        from PIL import Image

        if px.dtype != np.uint8 or px.ndim != 3:
            raise ValueError("JPEG baseline needs 8-bit RGB pixels")
        buf = io.BytesIO()
        Image.fromarray(px).save(buf, format="JPEG", quality=95, subsampling=1)  # 4:2:2 chroma
        ds.PixelData = encapsulate([buf.getvalue()])
        ds["PixelData"].VR = "OB"
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.LossyImageCompression = "01"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        compression = None
    _save(ds, Path(path), compression)
    return str(ds.SOPInstanceUID)


def write_opt(path: str | Path, vol: OctVolume, compression: str | None = None, localizer_class: str = OP_8BIT) -> str:
    """Write an OPT volume with per-frame positions on the image ``vol.uids['localizer_uid']``."""
    from pydicom.dataset import Dataset

    b = np.ascontiguousarray(vol.bscans)
    ds = _base(OPT, "OPT", dict(vol.uids), vol.acquired, vol.laterality, vol.device)
    _pixels(ds, b)
    ds.NumberOfFrames = b.shape[0]
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    shared = Dataset()
    measures = Dataset()
    sp = vol.spacing
    if sp.axial_um and sp.x_um:
        measures.PixelSpacing = [f"{sp.axial_um / 1000.0:.10g}", f"{sp.x_um / 1000.0:.10g}"]
    if sp.between_um:
        measures.SliceThickness = f"{sp.between_um / 1000.0:.10g}"
    shared.PixelMeasuresSequence = [measures]
    if vol.laterality:
        anatomy = Dataset()
        anatomy.FrameLaterality = vol.laterality
        shared.FrameAnatomySequence = [anatomy]
    ds.SharedFunctionalGroupsSequence = [shared]
    loc_uid = vol.uids.get("localizer_uid")
    if loc_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = localizer_class, loc_uid
        ds.ReferencedImageSequence = [ref]
    frames = []
    for i in range(b.shape[0]):
        item = Dataset()
        content = Dataset()
        content.InStackPositionNumber = i + 1
        content.StackID = "1"
        item.FrameContentSequence = [content]
        plane = Dataset()
        plane.ImagePositionPatient = [0.0, 0.0, f"{i * (sp.between_um or 0.0) / 1000.0:.10g}"]
        item.PlanePositionSequence = [plane]
        if vol.positions is not None and loc_uid:
            (x0, y0), (x1, y1) = vol.positions[i]
            loc = Dataset()
            loc.ReferencedSOPClassUID, loc.ReferencedSOPInstanceUID = localizer_class, loc_uid
            loc.ReferenceCoordinates = [float(y0) + 0.5, float(x0) + 0.5, float(y1) + 0.5, float(x1) + 0.5]
            loc.OphthalmicImageOrientation = "LINEAR"
            item.OphthalmicFrameLocationSequence = [loc]
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = frames
    _save(ds, Path(path), compression)
    return str(ds.SOPInstanceUID)


def _vol_format():
    import construct as cs
    from eyepy.io.he import vol_reader

    class _IntDate(cs.Adapter):  # 100 ns ticks since 1601-01-01, as an unsigned 64-bit integer
        def _decode(self, obj, context, path):
            return (HEYEX_EPOCH + _dt.timedelta(microseconds=obj // 10)).isoformat()

        def _encode(self, obj, context, path):
            delta = _dt.datetime.fromisoformat(obj) - HEYEX_EPOCH
            return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10

    subcons = [("exam_time" / _IntDate(cs.Int64ul)) if sc.name == "exam_time" else sc for sc in vol_reader.vol_format.subcons]
    return cs.Struct(*subcons)


def write_heyex_vol(path: str | Path, vol: OctVolume, layers: np.ndarray | None = None, patient_id: str = "SYNTHETIC-0001") -> None:
    """Write a Heidelberg Spectralis .vol (HSF-OCT-103 layout as eyepy reads it).

    ``vol.bscans`` must be uint8 (display intensities; stored as the device's float32 reflectivity
    through eyepy's ``to_vol_intensity``, which eyepy's reader inverts exactly), ``vol.localizer``
    a uint8 grey SLO image, ``vol.positions`` in localizer pixels and ``vol.localizer_spacing_um``
    set. ``layers`` (N, 17, W) are segmentation heights in B-scan rows (NaN = none)."""
    from eyepy.core.utils import to_vol_intensity

    b = np.ascontiguousarray(vol.bscans)
    loc = vol.localizer
    if b.dtype != np.uint8 or loc is None or loc.dtype != np.uint8 or loc.ndim != 2:
        raise ValueError("a .vol needs uint8 B-scans and a uint8 grey localizer")
    x_um, axial_um = vol.spacing.x_um, vol.spacing.axial_um
    if vol.positions is None or vol.localizer_spacing_um is None or x_um is None or axial_um is None:
        raise ValueError("a .vol needs B-scan positions, localizer spacing and B-scan spacing")
    n, h, w = b.shape
    slo_x, slo_y = (v / 1000.0 for v in vol.localizer_spacing_um)
    when = _dt.datetime.fromisoformat(vol.acquired) if vol.acquired else _dt.datetime(2024, 1, 1, 9, 0)
    if layers is None:
        layers = np.full((n, N_VOL_LAYERS, w), np.nan, np.float32)
    bscans = []
    for i in range(n):
        (x0, y0), (x1, y1) = vol.positions[i]
        bscans.append(
            dict(
                bscan_hdr_size=256 + N_VOL_LAYERS * 4 * w,
                start_x=x0 * slo_x,
                start_y=y0 * slo_y,
                end_x=x1 * slo_x,
                end_y=y1 * slo_y,
                num_seg=N_VOL_LAYERS,
                quality=30.0,
                shift=0,
                iv_transformation=[0.0] * 6,
                layer_segmentations=np.ascontiguousarray(layers[i], np.float32),
                data=to_vol_intensity(b[i]).astype(np.float32),
            )
        )
    header = dict(
        version="HSF-OCT-103",
        size_x=w,
        n_bscans=n,
        size_y=h,
        scale_x=x_um / 1000.0,
        distance=(vol.spacing.between_um or 0.0) / 1000.0,
        scale_y=axial_um / 1000.0,
        size_x_slo=loc.shape[1],
        size_y_slo=loc.shape[0],
        scale_x_slo=slo_x,
        scale_y_slo=slo_y,
        field_size_slo=30,
        scan_focus=0.0,
        scan_position={"R": "OD", "L": "OS"}.get(vol.laterality or "", ""),
        exam_time=when.isoformat(),
        scan_pattern=3 if n > 1 else 1,  # volume scan (ART mode) / single line
        bscan_hdr_size=256 + N_VOL_LAYERS * 4 * w,
        id="1",
        reference_id="",
        pid=1,
        patient_id=patient_id,
        dob=_dt.datetime(1960, 1, 1).isoformat(),
        vid=1,
        visit_id="synthetic",
        visit_date=_dt.datetime.combine(when.date(), _dt.time()).isoformat(),
        grid_type=0,
        grid_offset=0,
        grid_type1=0,
        grid_offset1=0,
        prog_id="",
        localizer=np.ascontiguousarray(loc),
        bscans=bscans,
    )
    data = _vol_format().build(header)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
