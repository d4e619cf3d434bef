"""Evaluation tables: estimates are the metrics', intervals checked against references."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as st
from scipy.special import expit, logit

from mammoclf.metrics import (
    brier_score,
    calibration_intercept,
    calibration_slope,
    roc_operating_point,
    sensitivity_at_specificity,
    sensitivity_score,
    specificity_at_sensitivity,
    specificity_score,
)
from mammoclf.model_selection import (
    evaluate_calibration,
    evaluate_operating_points,
    evaluate_predictions,
)


def _calibration_data(n, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, n)
    truth = expit(0.3 + 0.7 * logit(p))
    y = np.where(rng.uniform(size=n) < truth, "MALIGNANT", "BENIGN")
    return y, p


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


def test_calibration_table_is_the_metrics_and_intervals_match_statsmodels():
    y, p = _calibration_data(1000)
    result = evaluate_calibration(y, p, n_bins=4, n_resamples=600, random_state=0)
    table = result.table
    assert table.loc["brier_score", "estimate"] == brier_score(y, p)
    assert table.loc["calibration_intercept", "estimate"] == calibration_intercept(y, p)
    assert table.loc["calibration_slope", "estimate"] == calibration_slope(y, p)
    # Independent references for the interval: the Wald interval of the
    # slope from statsmodels' GLM, and the normal interval of a mean for the
    # Brier score (a mean of squared errors). At n = 1000 the bootstrap
    # percentile interval agrees with both to a fraction of their width.
    outcome = (y == "MALIGNANT").astype(int)
    glm = sm.GLM(outcome, sm.add_constant(logit(p)), family=sm.families.Binomial())
    low, high = glm.fit().conf_int()[1]
    slope = table.loc["calibration_slope"]
    assert slope["ci_low"] == pytest.approx(low, abs=0.15 * (high - low))
    assert slope["ci_high"] == pytest.approx(high, abs=0.15 * (high - low))
    squared = (p - outcome) ** 2
    half = st.norm.ppf(0.975) * squared.std(ddof=1) / np.sqrt(squared.size)
    brier = table.loc["brier_score"]
    assert brier["ci_low"] == pytest.approx(squared.mean() - half, abs=0.15 * 2 * half)
    assert brier["ci_high"] == pytest.approx(squared.mean() + half, abs=0.15 * 2 * half)
    # Each bin's interval: the normal interval of a proportion (about 250
    # images per bin).
    for row in result.curve.itertuples():
        observed, n = row.fraction_positive, row.n_images
        half = st.norm.ppf(0.975) * np.sqrt(observed * (1 - observed) / n)
        assert row.ci_low == pytest.approx(observed - half, abs=0.15 * 2 * half)
        assert row.ci_high == pytest.approx(observed + half, abs=0.15 * 2 * half)
    assert result.n_images == 1000 and result.n_patients is None


def test_calibration_curve_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y, p = _calibration_data(200, seed=2)
    result = evaluate_calibration(
        y, p, groups=np.arange(200) // 2, n_bins=5, n_resamples=100, random_state=0
    )
    assert result.curve["n_images"].sum() == 200
    assert result.n_patients == 100
    display = result.plot(name="cnn")
    try:
        x, line_y = display.line_.get_data()
        np.testing.assert_allclose(x, result.curve["mean_predicted"])
        np.testing.assert_allclose(line_y, result.curve["fraction_positive"])
        assert "cnn" in display.line_.get_label()
        # One interval bar per bin, spanning its interval.
        (bars,) = display.ax_.collections
        segments = bars.get_segments()
        assert len(segments) == len(result.curve)
        np.testing.assert_allclose(
            [segment[:, 1] for segment in segments],
            result.curve[["ci_low", "ci_high"]].to_numpy(),
        )
    finally:
        plt.close(display.figure_)
    assert "calibration_slope" in repr(result)


def test_calibration_of_a_separating_model_reports_why_the_slope_is_missing():
    y = np.repeat(["BENIGN", "MALIGNANT"], 10)
    p = np.concatenate([np.linspace(0.05, 0.4, 10), np.linspace(0.6, 0.95, 10)])
    table = evaluate_calibration(y, p, n_resamples=100, random_state=0).table
    slope = table.loc["calibration_slope"]
    assert np.isnan(slope["estimate"]) and "separate" in slope["note"]
    assert np.isfinite(table.loc["brier_score", "ci_low"])


def test_probabilities_of_one_warn_through_the_table():
    y = np.array(["BENIGN", "MALIGNANT"] * 20)
    p = np.tile([0.3, 0.6, 1.0, 0.2], 10)
    with pytest.warns(RuntimeWarning, match="are 0 or 1"):
        evaluate_calibration(y, p, n_resamples=50, random_state=0)


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
