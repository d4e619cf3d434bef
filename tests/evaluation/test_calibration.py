"""evaluate_calibration: the metrics' estimates, intervals against statsmodels and normal theory."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats as st
from scipy.special import expit, logit

from mammoclf.evaluation import evaluate_calibration
from mammoclf.metrics import brier_score, calibration_intercept, calibration_slope
from tests.evaluation.fake_results import (
    MALIGNANT,
    N_RESAMPLES,
    fake_comparison,
    summary_of,
)


def _calibration_data(n, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, n)
    truth = expit(0.3 + 0.7 * logit(p))
    y = np.where(rng.uniform(size=n) < truth, "MALIGNANT", "BENIGN")
    return y, p


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


def test_calibration_table_is_evaluate_calibration_of_the_pooled_predictions():
    comparison = fake_comparison()
    table = summary_of(
        comparison, calibration=True, subgroups=(), breast_level=None
    ).table("calibration")
    for model in comparison.model_names:
        direct = evaluate_calibration(
            comparison.y_true,
            comparison.y_score[model][0],
            groups=comparison.groups,
            n_resamples=N_RESAMPLES,
            random_state=0,
        )
        mine = table.data.loc[model]
        pd.testing.assert_frame_equal(
            mine.drop(columns="result"), direct.table, check_names=False
        )
        # Brier by hand: the mean squared error of the probabilities.
        y01 = comparison.y_true == MALIGNANT
        brier = np.mean((comparison.y_score[model][0] - y01) ** 2)
        assert mine.loc["brier_score", "estimate"] == pytest.approx(brier)
        # The reliability diagram is drawn from the table's own result.
        assert mine["result"].iloc[0].n_images == comparison.y_true.size
    plain = summary_of(comparison, breast_level=None, subgroups=())
    assert "calibration" not in [t.key for t in plain.tables]
