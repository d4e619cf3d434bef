"""DICOM and image files written by the tests themselves, and the real-data paths."""

import os

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MAMMOGRAPHY_STORAGE = "1.2.840.10008.5.1.4.1.1.1.2"


def dicom_dataset(pixels, *, bits_stored=None, photometric="MONOCHROME2", **elements):
    """A minimal valid mammography dataset around ``pixels`` (uint8 or uint16)."""
    pixels = np.asarray(pixels)
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = MAMMOGRAPHY_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MAMMOGRAPHY_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.PatientID = "TEST-PATIENT"
    ds.StudyInstanceUID = generate_uid()
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    allocated = pixels.dtype.itemsize * 8
    ds.BitsAllocated = allocated
    ds.BitsStored = bits_stored or allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


@pytest.fixture
def write_dicom(tmp_path):
    """``write_dicom(pixels, name="x.dcm", compress=None, **elements) -> path``."""

    def write(
        pixels,
        name="image.dcm",
        *,
        compress=None,
        bits_stored=None,
        photometric="MONOCHROME2",
        **elements,
    ):
        ds = dicom_dataset(
            pixels, bits_stored=bits_stored, photometric=photometric, **elements
        )
        if compress is not None:
            ds.compress(compress, np.asarray(pixels))
        path = os.fspath(tmp_path / name)
        ds.save_as(path, enforce_file_format=True)
        return path

    return write


@pytest.fixture
def gradient_image():
    """A 40 x 30 uint16 ramp 100..3999 with a bright 'lesion': a non-constant image."""
    image = np.linspace(100, 3000, 40 * 30).reshape(40, 30).astype(np.uint16)
    image[10:15, 10:15] = 3999
    return image
