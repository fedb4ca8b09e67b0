"""Readers and writers for images, OCT stacks, NIfTI, DICOM and LabelMe JSON; atomic writes."""
