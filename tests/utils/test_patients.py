"""Enough patients per class: refused below the number of folds, warned below five."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mammoclf.model_selection import compare_models
from mammoclf.utils._patients import check_patients_per_class, patients_per_class


def test_patients_are_counted_per_class():
    y = np.array(["B", "B", "M", "M", "M", "B"])
    groups = np.array([1, 1, 2, 2, 3, 2])  # patient 2 has images of both classes
    assert patients_per_class(y, groups) == {"B": 2, "M": 2}


def test_fewer_patients_than_folds_are_refused_in_those_words():
    y = np.array(["BENIGN"] * 4 + ["MALIGNANT"] * 4)
    groups = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    with pytest.raises(
        ValueError,
        match=r"--cv 2 needs each class to have at least 2 patients .*"
        r"MALIGNANT has 1 patient\.",
    ):
        check_patients_per_class(y, groups, n_folds=2, folds_option="--cv 2")


def test_fewer_than_five_patients_per_class_warn_and_say_why():
    y = np.array(["B", "M"] * 8)
    groups = np.arange(16)  # 8 patients per class
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_patients_per_class(y, groups, n_folds=5) == {"B": 8, "M": 8}
    with pytest.warns(UserWarning, match=r"B has 2 patients.*breast side.*smoke test"):
        check_patients_per_class(y, groups % 4, n_folds=2)


def test_compare_models_checks_patients_per_class_up_front():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 3))
    y = np.array(["BENIGN", "MALIGNANT"] * 4)
    two_patients = np.array([0, 1] * 4)  # one patient per class
    # Until 0.1: "The training set of repeat 0, fold 0 has no image of class
    # ['MALIGNANT']; use fewer folds or stratified folds." (wrong advice).
    with pytest.raises(ValueError, match="cv=2 needs each class to have at least 2"):
        compare_models({"lr": LogisticRegression()}, X, y, groups=two_patients, cv=2)
    four_patients = np.array([0, 1, 2, 3] * 2)
    with pytest.warns(UserWarning, match="fewer than about 5 patients per class"):
        compare_models({"lr": LogisticRegression()}, X, y, groups=four_patients, cv=2)
