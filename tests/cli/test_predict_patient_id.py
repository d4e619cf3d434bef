"""``mammoclf predict --patient-id cbis-ddsm``: one pseudonym per CBIS-DDSM patient."""

import csv
import io

import numpy as np
import pydicom
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mammoclf import DicomLoader, Resizer
from mammoclf.cli._main import main
from mammoclf.datasets import make_synthetic_mammograms

# One patient's four views, as CBIS-DDSM's PatientID names them.
CASES = (
    "Mass-Test_P_00016_LEFT_CC",
    "Mass-Test_P_00016_LEFT_MLO",
    "Calc-Test_P_00016_RIGHT_CC",
    "Calc-Test_P_00016_RIGHT_MLO",
)


@pytest.fixture
def cbis_files(tmp_path):
    data = make_synthetic_mammograms(
        4, image_size=32, random_state=0, directory=tmp_path / "images"
    )
    for path, case in zip(data.paths, CASES):
        dataset = pydicom.dcmread(path)
        dataset.PatientID = case
        dataset.save_as(path)
    return [str(p) for p in data.paths]


@pytest.fixture
def saved_model(cbis_files, monkeypatch, tmp_path):
    """A fitted loader + resizer + dummy pipeline, as ``persistence.load`` returns it."""
    model = make_pipeline(
        DicomLoader(),
        Resizer(size=8),
        FunctionTransformer(lambda images: np.reshape(images, (len(images), -1))),
        DummyClassifier(strategy="prior"),
    ).fit(cbis_files, ["BENIGN", "MALIGNANT", "BENIGN", "BENIGN"])
    path = tmp_path / "model.mammoclf"
    path.write_bytes(b"stand-in")
    monkeypatch.setattr("mammoclf.persistence.load", lambda _: model)
    return str(path)


def _patients(capsys):
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    return [row["patient"] for row in rows]


def test_cbis_ddsm_patient_ids_give_the_four_views_one_pseudonym(
    saved_model, cbis_files, capsys
):
    salt = ["--salt-file", str(saved_model) + ".salt"]
    argv = ["predict", saved_model, *cbis_files, *salt, "--no-cache", "--n-jobs", "1"]
    assert main(argv) == 0
    by_header = _patients(capsys)
    assert len(set(by_header)) == 4  # the header's PatientID differs per view
    assert main([*argv, "--patient-id", "cbis-ddsm"]) == 0
    grouped = _patients(capsys)
    assert len(set(grouped)) == 1 and grouped[0].startswith("anon-")
    assert grouped[0] not in by_header
    assert main([*argv, "--patient-id", "cbis-ddsm", "--reveal-identifiers"]) == 0
    assert _patients(capsys) == ["P_00016"] * 4


def test_a_file_without_a_cbis_ddsm_patient_number_fails_before_predicting(
    saved_model, cbis_files, capsys, monkeypatch
):
    dataset = pydicom.dcmread(cbis_files[0])
    dataset.PatientID = "SYN0001"
    dataset.save_as(cbis_files[0])
    monkeypatch.setattr(
        "mammoclf.cli._predict.import_keras_quietly",
        lambda: pytest.fail("the model was loaded"),
    )
    status = main(
        [
            "predict",
            saved_model,
            *cbis_files,
            "--patient-id",
            "cbis-ddsm",
            "--no-cache",
            "--n-jobs",
            "1",
        ]
    )
    assert status != 0
    assert "holds no CBIS-DDSM patient number" in capsys.readouterr().err
