"""Calibration metrics against statsmodels' GLM, scikit-learn and direct formulas."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from mammoclf.metrics import (
    brier_score,
    calibration_intercept,
    calibration_slope,
    reliability_curve,
)


def _glm(outcome, design, offset=None):
    """statsmodels' binomial GLM: the independent reference for Cox's model."""
    model = sm.GLM(outcome, design, family=sm.families.Binomial(), offset=offset)
    return model.fit().params


def _data(seed, n, *, ties=False):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    if ties:  # a model that outputs few distinct values
        p = np.round(p, 1).clip(0.1, 0.9)
    # The truth is a miscalibrated version of p, so intercept and slope are
    # not trivially 0 and 1.
    truth = expit(0.4 + 0.6 * logit(p))
    outcome = (rng.uniform(size=n) < truth).astype(int)
    return outcome, p


@pytest.mark.parametrize(
    ("seed", "n", "ties"),
    [(0, 200, False), (1, 37, False), (2, 150, True), (3, 12, False)],
)
def test_intercept_and_slope_match_statsmodels_glm(seed, n, ties):
    outcome, p = _data(seed, n, ties=ties)
    labels = np.where(outcome == 1, "MALIGNANT", "BENIGN")
    reference_slope = _glm(outcome, sm.add_constant(logit(p)))[1]
    reference_intercept = _glm(outcome, np.ones((n, 1)), offset=logit(p))[0]
    assert calibration_slope(labels, p) == pytest.approx(reference_slope, abs=1e-7)
    assert calibration_intercept(labels, p) == pytest.approx(
        reference_intercept, abs=1e-7
    )


def test_tiny_overlapping_sample_matches_statsmodels():
    # Four images, classes overlapping at one pair: the smallest defined case.
    outcome = np.array([0, 1, 0, 1])
    p = np.array([0.2, 0.3, 0.6, 0.7])
    reference = _glm(outcome, sm.add_constant(logit(p)))
    assert calibration_slope(outcome, p) == pytest.approx(reference[1], abs=1e-7)


def test_intercept_is_calibration_in_the_large():
    # With the slope fixed at 1, the score equation says: mean outcome equals
    # the mean of the recalibrated probabilities.
    outcome, p = _data(4, 300)
    a = calibration_intercept(outcome, p)
    assert np.mean(expit(a + logit(p))) == pytest.approx(outcome.mean(), abs=1e-9)


def test_calibrated_probabilities_give_slope_one_and_intercept_zero():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.05, 0.95, 20000)
    outcome = (rng.uniform(size=p.size) < p).astype(int)
    assert calibration_slope(outcome, p) == pytest.approx(1.0, abs=0.06)
    assert calibration_intercept(outcome, p) == pytest.approx(0.0, abs=0.04)


def test_swapping_the_positive_class_negates_the_intercept_and_keeps_the_slope():
    outcome, p = _data(6, 120)
    labels = np.where(outcome == 1, "sick", "healthy")
    slope = calibration_slope(labels, p, pos_label="sick")
    intercept = calibration_intercept(labels, p, pos_label="sick")
    assert calibration_slope(labels, 1 - p, pos_label="healthy") == pytest.approx(slope)
    assert calibration_intercept(labels, 1 - p, pos_label="healthy") == pytest.approx(
        -intercept
    )


def test_brier_score_matches_direct_formula_and_scikit_learn():
    outcome, p = _data(7, 50)
    labels = np.where(outcome == 1, "Malignant", "Benign")
    assert brier_score(labels, p) == pytest.approx(np.mean((p - outcome) ** 2))
    assert brier_score(labels, p) == pytest.approx(brier_score_loss(outcome, p))
    # Defined for a single class (no malignant case): mean squared probability.
    assert brier_score([0, 0, 0], [0.1, 0.2, 0.3]) == pytest.approx(0.14 / 3)


def test_single_class_makes_intercept_and_slope_undefined():
    with pytest.raises(ValueError, match="single class"):
        calibration_slope([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(ValueError, match="single class"):
        calibration_intercept([0, 0, 0], [0.2, 0.5, 0.9])


def test_equal_probabilities_make_the_slope_undefined():
    with pytest.raises(ValueError, match="same"):
        calibration_slope([0, 1, 0, 1], [0.3] * 4)
    # The intercept is still defined: logit(mean outcome) - logit(p).
    assert calibration_intercept([0, 1, 0, 1], [0.3] * 4) == pytest.approx(-logit(0.3))


@pytest.mark.parametrize(
    ("outcome", "p"),
    [
        ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]),  # complete separation
        ([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]),  # quasi-complete: a tie at the border
        ([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]),  # separated the wrong way round
    ],
)
def test_separated_classes_make_the_slope_undefined(outcome, p):
    outcome, p = np.array(outcome), np.array(p)
    # The likelihood keeps rising along the separating direction, so there
    # is no finite maximum: the reason the function refuses.
    direction = 1 if outcome[np.argmax(p)] == 1 else -1
    x = logit(p) - np.median(logit(p))

    def loglik(b):
        eta = direction * b * x
        return np.sum(outcome * eta - np.logaddexp(0, eta))

    assert loglik(1) < loglik(3) < loglik(30) <= 0
    with pytest.raises(ValueError, match="separate"):
        calibration_slope(outcome, p)


def test_probabilities_of_zero_or_one_warn_and_use_the_logit_bound():
    outcome = np.array([0, 1, 0, 1, 1, 0])
    p = np.array([0.0, 0.9, 0.6, 0.4, 1.0, 0.3])
    with pytest.warns(RuntimeWarning, match="2 predicted probabilities are 0 or 1"):
        slope = calibration_slope(outcome, p)
    bound = logit(np.nextafter(1.0, 0.0))
    reference = _glm(outcome, sm.add_constant(np.clip(logit(p), -bound, bound)))
    assert slope == pytest.approx(reference[1], abs=1e-7)


def test_saturated_probabilities_converge_to_statsmodels():
    # A quarter of the images at p = 1 (offset 36.7) drives the intercept far
    # from its start at 0: Newton's steps must still converge.
    outcome = np.tile([0, 1], 20)[np.r_[0:40:3, 1:40:2]]
    p = np.tile([0.3, 0.6, 1.0, 0.2], 10)[np.r_[0:40:3, 1:40:2]]
    bound = logit(np.nextafter(1.0, 0.0))
    offset = np.clip(logit(p), -bound, bound)
    with pytest.warns(RuntimeWarning, match="are 0 or 1"):
        intercept = calibration_intercept(outcome, p)
    reference = _glm(outcome, np.ones((p.size, 1)), offset=offset)[0]
    assert intercept == pytest.approx(reference, abs=1e-6)


@pytest.mark.parametrize(
    ("p", "match"),
    [
        ([0.1, 1.2, 0.3], "probabilities"),
        ([0.1, np.nan, 0.3], "y_prob has 1 non-finite"),
    ],
)
def test_values_that_are_not_probabilities_are_refused(p, match):
    for metric in (brier_score, calibration_intercept, calibration_slope):
        with pytest.raises(ValueError, match=match):
            metric([0, 1, 0], p)


def test_two_dimensional_probabilities_are_refused():
    with pytest.raises(ValueError, match="1-D"):
        calibration_slope([0, 1], [[0.4, 0.6], [0.3, 0.7]])


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_curve_is_scikit_learns_with_bin_counts(strategy):
    outcome, p = _data(8, 90)
    # Probabilities on the edges of four uniform bins, and at 0 and 1.
    p[:6] = [0.0, 0.25, 0.5, 0.75, 1.0, 0.5]
    curve, row_of_image = reliability_curve(
        outcome, p, n_bins=4, strategy=strategy, return_bins=True
    )
    fraction, mean = calibration_curve(outcome, p, n_bins=4, strategy=strategy)
    np.testing.assert_allclose(curve["fraction_positive"], fraction)
    np.testing.assert_allclose(curve["mean_predicted"], mean)
    assert curve["n_images"].sum() == p.size
    # Each bin's members from its edges as documented: above the low edge up
    # to and including the high edge, the first bin closed at both ends.
    for row, (low, high, count, average, observed) in enumerate(
        curve[
            ["bin_low", "bin_high", "n_images", "mean_predicted", "fraction_positive"]
        ].itertuples(index=False)
    ):
        inside = ((p > low) | ((row == 0) & (p >= low))) & (p <= high)
        np.testing.assert_array_equal(inside, row_of_image == row)
        assert inside.sum() == count
        assert p[inside].mean() == pytest.approx(average)
        assert outcome[inside].mean() == pytest.approx(observed)


def test_reliability_curve_drops_empty_bins():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        curve = reliability_curve([0, 1, 1], [0.05, 0.95, 0.92], n_bins=10)
    assert curve["n_images"].tolist() == [1, 2]
    assert curve["bin_low"].tolist() == pytest.approx([0.0, 0.9])
