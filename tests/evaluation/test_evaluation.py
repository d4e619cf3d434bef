"""Evaluation tables: estimates are the metrics', intervals checked against references."""

import warnings

import numpy as np
import pytest

from mammoclf.evaluation import evaluate_operating_points, evaluate_predictions
from mammoclf.metrics import (
    roc_operating_point,
    sensitivity_at_specificity,
    sensitivity_score,
    specificity_at_sensitivity,
    specificity_score,
)


def test_predictions_table_estimates_are_the_metrics():
    rng = np.random.default_rng(0)
    y = np.repeat(["BENIGN", "MALIGNANT"], 30)
    pred = np.where(
        rng.random(60) < 0.2, np.where(y == "BENIGN", "MALIGNANT", "BENIGN"), y
    )
    score = (y == "MALIGNANT") + rng.normal(size=60)
    table = evaluate_predictions(
        y, y_pred=pred, y_score=score, n_resamples=100, random_state=0
    )
    assert table.index.tolist()[:3] == ["accuracy", "sensitivity", "specificity"]
    assert table.index[-1] == "roc_auc"
    assert table.loc["sensitivity", "estimate"] == sensitivity_score(y, pred)
    assert table.loc["specificity", "estimate"] == specificity_score(y, pred)
    assert (table["ci_low"] <= table["estimate"]).all()
    assert (table["estimate"] <= table["ci_high"]).all()
    assert (table["n_failed"] == 0).all()


def test_intervals_resample_patients_not_images():
    # Every patient has two identical images. Resampling patients must give
    # the interval of the deduplicated data; resampling images is too narrow
    # by about 1/sqrt(2) (the reason for the patient bootstrap).
    rng = np.random.default_rng(1)
    y = np.repeat(["BENIGN", "MALIGNANT"], 150)
    pred = np.where(rng.random(300) < 0.3, "MALIGNANT", y)
    kwargs = {"metrics": ["accuracy"], "n_resamples": 1000, "random_state": 0}

    def width(table):
        return float(table["ci_high"].iloc[0] - table["ci_low"].iloc[0])

    unique = width(evaluate_predictions(y, y_pred=pred, **kwargs))
    twice = np.repeat(np.arange(300), 2)
    patients = width(
        evaluate_predictions(y[twice], y_pred=pred[twice], groups=twice, **kwargs)
    )
    images = width(evaluate_predictions(y[twice], y_pred=pred[twice], **kwargs))
    assert patients == pytest.approx(unique, rel=0.15)
    assert images == pytest.approx(unique / np.sqrt(2), rel=0.15)


def test_undefined_metric_gives_a_nan_row_not_a_zero():
    y = np.array(["BENIGN"] * 8)
    pred = np.array(["BENIGN"] * 7 + ["MALIGNANT"])
    table = evaluate_predictions(
        y,
        y_pred=pred,
        metrics=["sensitivity", "specificity"],
        n_resamples=50,
        random_state=0,
    )
    assert np.isnan(table.loc["sensitivity", "estimate"])
    assert table.loc["sensitivity", "note"].startswith("undefined")
    assert table.loc["specificity", "estimate"] == 7 / 8


def test_resamples_without_a_class_are_dropped_and_counted():
    # Two malignant patients out of twelve: many resamples hold none, and
    # their sensitivity is undefined, not 0.
    y = np.array(["MALIGNANT", "MALIGNANT"] + ["BENIGN"] * 10)
    pred = np.array(["MALIGNANT", "BENIGN"] + ["BENIGN"] * 10)
    with pytest.warns(RuntimeWarning, match="sensitivity"):
        table = evaluate_predictions(
            y, y_pred=pred, metrics=["sensitivity"], n_resamples=400, random_state=0
        )
    row = table.loc["sensitivity"]
    # P(no malignant image among 12 draws) = (10/12) ** 12 = 0.112.
    assert row["n_failed"] / 400 == pytest.approx((10 / 12) ** 12, abs=0.05)
    assert row["ci_low"] >= 0 and row["ci_high"] <= 1


def test_metric_needing_missing_predictions_is_an_error():
    with pytest.raises(ValueError, match="needs y_score"):
        evaluate_predictions([0, 1], y_pred=[0, 1], metrics=["roc_auc"])
    with pytest.raises(ValueError, match="unknown"):
        evaluate_predictions([0, 1], y_pred=[0, 1], metrics=["auc"])


def test_operating_points_table():
    rng = np.random.default_rng(3)
    y = np.repeat(["BENIGN", "MALIGNANT"], 40)
    score = np.round((y == "MALIGNANT") + rng.normal(size=80), 1)  # ties
    groups = np.arange(80) // 2
    table = evaluate_operating_points(
        y, score, groups=groups, n_resamples=150, random_state=0
    )
    assert table.index.tolist() == [
        ("specificity", 0.8),
        ("specificity", 0.9),
        ("specificity", 0.95),
        ("sensitivity", 0.8),
        ("sensitivity", 0.9),
        ("sensitivity", 0.95),
    ]
    for (fixed, target), row in table.iterrows():
        point = roc_operating_point(y, score, **{f"min_{fixed}": target})
        assert row["threshold"] == point.threshold
        assert row["attained"] == getattr(point, fixed) >= target
        if fixed == "specificity":
            assert row["metric"] == "sensitivity"
            assert row["estimate"] == sensitivity_at_specificity(
                y, score, specificity=target
            )
        else:
            assert row["estimate"] == specificity_at_sensitivity(
                y, score, sensitivity=target
            )
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"]


def test_operating_points_of_a_single_class_are_nan_rows():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = evaluate_operating_points(
            [0, 0, 0], [0.1, 0.2, 0.3], specificities=[0.9], sensitivities=[]
        )
    assert np.isnan(table["estimate"].iloc[0]) and np.isnan(table["threshold"].iloc[0])
    assert "single class" in table["note"].iloc[0]


def test_operating_point_targets_are_checked():
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        evaluate_operating_points([0, 1], [0.1, 0.9], specificities=[90])
    with pytest.raises(ValueError, match="at least one"):
        evaluate_operating_points(
            [0, 1], [0.1, 0.9], specificities=[], sensitivities=[]
        )
