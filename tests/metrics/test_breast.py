"""Breast-level aggregation on hand-made cases, and laterality from metadata."""

import os

import numpy as np
import pandas as pd
import pytest

from mammoclf.metrics import breast_level, laterality_from_metadata
from mammoclf.preprocessing import read_metadata

CBIS_TABLES = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "fixtures", "cbis-ddsm"
)

# Three patients: P1 has a malignant left breast (CC, MLO) and a benign right
# one (CC only); P2 a benign left breast seen three times; P3 a left breast
# whose two views disagree (the lesion seen in MLO only).
IMAGES = pd.DataFrame(
    {
        "patient": ["P1", "P2", "P1", "P1", "P2", "P3", "P3", "P2"],
        "side": ["L", "L", "L", "R", "L", "L", "L", "L"],
        "label": ["MALIGNANT", "BENIGN", "MALIGNANT", "BENIGN", "BENIGN", "BENIGN"]
        + ["MALIGNANT", "BENIGN"],
        "score": [0.9, 0.1, 0.6, 0.2, 0.5, 0.3, 0.8, 0.3],
    }
)


def _aggregate(method):
    with pytest.warns(UserWarning, match="1 of 4 breasts have images with different"):
        return breast_level(
            IMAGES["label"],
            IMAGES["score"],
            patients=IMAGES["patient"],
            laterality=IMAGES["side"],
            method=method,
        )


def test_mean_by_hand():
    breasts = _aggregate("mean")
    # Breasts in order of first appearance: P1-L, P2-L, P1-R, P3-L.
    assert breasts.groups.tolist() == ["P1", "P2", "P1", "P3"]
    assert breasts.laterality.tolist() == ["L", "L", "R", "L"]
    assert breasts.y_true.tolist() == ["MALIGNANT", "BENIGN", "BENIGN", "MALIGNANT"]
    np.testing.assert_allclose(breasts.y_score, [0.75, 0.3, 0.2, 0.55])
    assert breasts.n_images.tolist() == [2, 3, 1, 2]
    assert breasts.breast_of_image.tolist() == [0, 1, 0, 2, 1, 3, 3, 1]
    assert breasts.n_label_conflicts == 1
    assert breasts.method == "mean"


def test_max_by_hand():
    breasts = _aggregate("max")
    np.testing.assert_allclose(breasts.y_score, [0.9, 0.5, 0.2, 0.8])
    assert breasts.y_true.tolist() == ["MALIGNANT", "BENIGN", "BENIGN", "MALIGNANT"]


def test_scores_agree_with_a_direct_groupby_on_random_data():
    rng = np.random.default_rng(0)
    n = 200
    patients = rng.integers(0, 30, n)
    sides = rng.choice(["L", "R"], n)
    labels = rng.integers(0, 2, n)
    scores = rng.random(n)
    with pytest.warns(UserWarning, match="different labels"):
        breasts = breast_level(labels, scores, patients=patients, laterality=sides)
    for row in range(breasts.y_score.size):
        members = (patients == breasts.groups[row]) & (sides == breasts.laterality[row])
        assert breasts.y_score[row] == pytest.approx(scores[members].mean())
        assert breasts.y_true[row] == labels[members].max()
        assert breasts.n_images[row] == members.sum()
        assert np.all(breasts.breast_of_image[members] == row)
    assert breasts.groups.dtype == patients.dtype
    assert breasts.n_images.sum() == n


def test_no_conflict_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        breasts = breast_level(
            [0, 0, 1], [0.1, 0.3, 0.9], patients=[7, 7, 8], laterality=["R", "R", "L"]
        )
    assert breasts.y_true.tolist() == [0, 1]
    assert breasts.n_label_conflicts == 0


def test_all_malignant_keeps_the_label_type():
    breasts = breast_level(
        ["MALIGNANT"] * 3,
        [0.4, 0.6, 0.9],
        patients=["a", "a", "b"],
        laterality=["L", "L", "R"],
    )
    assert breasts.y_true.tolist() == ["MALIGNANT", "MALIGNANT"]


@pytest.mark.parametrize(
    ("laterality", "match"),
    [(["L", None, "R"], "no usable laterality"), (["L", "LEFT", "R"], "Normalise")],
)
def test_unusable_laterality_is_refused(laterality, match):
    with pytest.raises(ValueError, match=match):
        breast_level(
            [0, 1, 0], [0.1, 0.2, 0.3], patients=[1, 1, 2], laterality=laterality
        )


def test_missing_patient_and_bad_scores_are_refused():
    with pytest.raises(ValueError, match="patients has missing"):
        breast_level([0, 1], [0.1, 0.2], patients=["a", None], laterality=["L", "L"])
    with pytest.raises(ValueError, match="non-finite"):
        breast_level([0, 1], [0.1, np.inf], patients=["a", "b"], laterality=["L", "L"])


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        breast_level(
            [0, 1], [0.1, 0.2], patients=[1, 2], laterality=["L", "R"], method="sum"
        )


def test_laterality_spellings_and_column_precedence():
    table = pd.DataFrame(
        {
            "ImageLaterality": ["R", "R", "R"],
            "left or right breast": ["LEFT", " right ", "Left"],
        }
    )
    # "left or right breast" comes before ImageLaterality in the search order.
    assert laterality_from_metadata(table).tolist() == ["L", "R", "L"]
    assert laterality_from_metadata(table, column="ImageLaterality").tolist() == [
        "R",
        "R",
        "R",
    ]


def test_missing_and_unknown_laterality():
    table = pd.DataFrame({"laterality": ["L", None, np.nan, "", "R"]})
    with pytest.raises(ValueError, match="no laterality for 3 of 5"):
        laterality_from_metadata(table)
    kept = laterality_from_metadata(table, on_missing="keep")
    assert kept.tolist() == ["L", None, None, None, "R"]
    with pytest.raises(ValueError, match="'B' \\(both breasts\\)"):
        laterality_from_metadata(pd.DataFrame({"Laterality": ["L", "B"]}))
    with pytest.raises(ValueError, match="No laterality column"):
        laterality_from_metadata(pd.DataFrame({"view": ["CC"]}))
    with pytest.raises(ValueError, match="no column 'side'"):
        laterality_from_metadata(table, column="side")


def test_official_cbis_ddsm_table_column():
    table = pd.read_csv(os.path.join(CBIS_TABLES, "mass_case_description_test_set.csv"))
    laterality = laterality_from_metadata(table)
    expected = table["left or right breast"].str[0].to_numpy()
    assert laterality.tolist() == expected.tolist()


def test_real_dicoms_to_breasts(real_dicom_paths):
    """Headers give the laterality, the official table the labels and patients."""
    headers = read_metadata(real_dicom_paths, identifiers="keep")
    laterality = laterality_from_metadata(headers)
    # The header PatientID ("Mass-Test_P_00173_LEFT_CC") names the table row.
    parts = headers["patient_id"].str.extract(r"(P_\d{5})_(LEFT|RIGHT)_(CC|MLO)")
    parts.columns = ["patient_id", "left or right breast", "image view"]
    table = pd.read_csv(os.path.join(CBIS_TABLES, "mass_case_description_test_set.csv"))
    # One row per abnormality: an image is malignant if any of its lesions is.
    table = table.assign(malignant=table["pathology"] == "MALIGNANT")
    per_image = table.groupby(list(parts.columns), as_index=False)["malignant"].max()
    rows = parts.merge(per_image, how="left", validate="many_to_one")
    assert rows["malignant"].notna().all()
    assert laterality.tolist() == rows["left or right breast"].str[0].tolist()
    labels = np.where(rows["malignant"].astype(bool), "MALIGNANT", "BENIGN")
    scores = np.linspace(0.1, 0.8, len(labels))
    breasts = breast_level(
        labels, scores, patients=rows["patient_id"], laterality=laterality
    )
    assert breasts.n_images.tolist() == [2, 2, 2, 2]  # CC and MLO of four breasts
    assert sorted(zip(breasts.groups, breasts.laterality)) == [
        ("P_00173", "L"),
        ("P_00173", "R"),
        ("P_00820", "L"),
        ("P_00820", "R"),
    ]
    for row in range(4):
        members = breasts.breast_of_image == row
        assert breasts.y_score[row] == pytest.approx(scores[members].mean())
        assert set(labels[members]) == {breasts.y_true[row]}
