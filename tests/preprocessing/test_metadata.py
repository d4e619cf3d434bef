"""read_metadata groups loose CBIS-DDSM files by patient on request."""

import pytest

from mammoclf.exceptions import DatasetError
from mammoclf.preprocessing import pseudonym, read_metadata

CBIS_IDS = [
    "Mass-Test_P_00016_LEFT_CC",
    "Mass-Test_P_00016_LEFT_MLO",
    "Calc-Training_P_00016_RIGHT_CC_1",
    "Mass-Training_P_00017_LEFT_CC",
]


@pytest.fixture
def cbis_style_files(write_dicom, gradient_image):
    return [
        write_dicom(gradient_image, f"image{i}.dcm", PatientID=patient)
        for i, patient in enumerate(CBIS_IDS)
    ]


def test_cbis_ddsm_patient_ids_group_a_patients_breasts_and_views(cbis_style_files):
    # The default: one PatientID, and so one pseudonym, per breast and view.
    assert read_metadata(cbis_style_files)["patient_id"].nunique() == 4
    kept = read_metadata(cbis_style_files, patient_id="cbis-ddsm", identifiers="keep")
    assert kept["patient_id"].tolist() == ["P_00016"] * 3 + ["P_00017"]
    hidden = read_metadata(cbis_style_files, patient_id="cbis-ddsm", salt="k")
    assert hidden["patient_id"].tolist() == [pseudonym("P_00016", salt="k")] * 3 + [
        pseudonym("P_00017", salt="k")
    ]


def test_other_patient_ids_are_refused_without_quoting_them(
    write_dicom, gradient_image, cbis_style_files
):
    other = write_dicom(gradient_image, "other.dcm", PatientID="SECRET-4711")
    with pytest.raises(DatasetError, match="other.dcm holds no CBIS-DDSM") as error:
        read_metadata([*cbis_style_files, other], patient_id="cbis-ddsm")
    assert "SECRET" not in str(error.value)
    with pytest.raises(ValueError, match="'patient_id' parameter of read_metadata"):
        read_metadata(cbis_style_files, patient_id="cbis")


@pytest.mark.realdata
def test_the_real_cbis_ddsm_files_are_two_patients(real_dicom_paths):
    meta = read_metadata(real_dicom_paths, patient_id="cbis-ddsm")
    assert len(meta) == 8 and meta["patient_id"].nunique() == 2
