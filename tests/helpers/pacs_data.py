"""Small real DICOM instances for the PACS tests, written with pydicom: an MR series of a few
axial slices and an Ophthalmic Photography (OP) fundus photo made from skimage's retina image."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

OP_8BIT = "1.2.840.10008.5.1.4.1.1.77.1.5.1"


def _base(sop_class: str, study_uid: str, series_uid: str, patient: tuple[str, str], study_date: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    sop = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.PatientID, ds.PatientName = patient
    ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID = study_date, "101500", "ACC1", "1"
    ds.ReferringPhysicianName = ""
    ds.Manufacturer = "Anomaly Studio tests"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    return ds


def mr_series(
    n: int = 4, rows: int = 40, cols: int = 32, *, patient=("PACS-MR", "Test^Brain"), study_date="20240102", seed: int = 0
) -> list[Dataset]:
    """``n`` axial MR slices (uint16, 0.9 x 1.1 mm pixels, 3 mm apart), a smooth 'brain' with noise."""
    rng = np.random.default_rng(seed)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    yy, xx = np.mgrid[:rows, :cols]
    out = []
    for k in range(n):
        ds = _base(MRImageStorage, study, series, patient, study_date)
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = frame, ""
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "MR", 3, k + 1
        ds.StudyDescription, ds.SeriesDescription = "Brain MRI", "T1 axial"
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.ImagePositionPatient = [-14.0, -20.0, 10.0 + 3.0 * k]
        ds.PixelSpacing, ds.SliceThickness = [1.1, 0.9], 3.0
        ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.ScanningSequence, ds.SequenceVariant, ds.MRAcquisitionType = "SE", "NONE", "2D"
        ds.ScanOptions, ds.EchoTime, ds.RepetitionTime, ds.EchoTrainLength = "", 10.0, 500.0, 1
        brain = 800 * np.exp(-(((yy - rows / 2) / (rows / 3)) ** 2 + ((xx - cols / 2) / (cols / 3)) ** 2))
        pixels = (brain + 40 * k + rng.integers(0, 30, (rows, cols))).astype(np.uint16)
        ds.PixelData = pixels.tobytes()
        out.append(ds)
    return out


def fundus_pixels(size: int = 96) -> np.ndarray:
    """skimage's real retina photo (CC0), downscaled to ``size`` x ``size`` RGB uint8."""
    from skimage import data, transform

    img = transform.resize(data.retina(), (size, size), anti_aliasing=True)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def op_photo(size: int = 96, *, patient=("PACS-OP", "Test^Eye"), study_date="20240305", laterality="R") -> Dataset:
    """One 8-bit RGB Ophthalmic Photography instance (as a fundus camera exports it)."""
    ds = _base(OP_8BIT, generate_uid(), generate_uid(), patient, study_date)
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "OP", 1, 1
    ds.StudyDescription, ds.SeriesDescription = "Fundus photography", "Colour fundus"
    ds.ImageLaterality, ds.NumberOfFrames = laterality, 1
    ds.Rows, ds.Columns, ds.SamplesPerPixel = size, size, 3
    ds.PhotometricInterpretation, ds.PlanarConfiguration = "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = fundus_pixels(size).tobytes()
    return ds
