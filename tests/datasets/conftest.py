"""Synthetic data, the CSV fixtures and the optional real DICOMs."""

import os

import pytest

from mammoclf.datasets import make_synthetic_mammograms

FIXTURES = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "fixtures", "cbis-ddsm"
)


@pytest.fixture(scope="session")
def cbis_tables_dir():
    """Verbatim excerpts of the four official CBIS-DDSM tables (see its README)."""
    return FIXTURES


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """12 synthetic mammograms (6 patients, CC + MLO) of 64 px, seed 0."""
    return make_synthetic_mammograms(
        12,
        image_size=64,
        random_state=0,
        directory=tmp_path_factory.mktemp("synthetic"),
    )


@pytest.fixture(scope="session")
def write_tiny_dicom():
    """``write_tiny_dicom(path, study_uid, series_uid, shape=(8, 8))`` -> path."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    def write(path, study_uid, series_uid, shape=(8, 8)):
        meta = FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.Modality = "MG"
        ds.Rows, ds.Columns = shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit, ds.PixelRepresentation = 15, 0
        ds.PixelData = np.arange(shape[0] * shape[1], dtype=np.uint16).tobytes()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        return path

    return write
