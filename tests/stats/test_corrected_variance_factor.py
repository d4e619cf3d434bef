"""Nadeau and Bengio's corrected variance factor, shared by the test and the intervals."""

import numpy as np
import pytest
from scipy import stats as st

from mammoclf.stats import corrected_resampled_ttest, corrected_variance_factor


def test_factor_is_one_over_j_plus_test_over_train():
    assert corrected_variance_factor(10, n_train=80, n_test=20) == pytest.approx(0.35)
    # Per-split sizes are averaged before the ratio is taken.
    factor = corrected_variance_factor(3, n_train=[40, 41, 39], n_test=[20, 19, 21])
    assert factor == pytest.approx(1 / 3 + 20 / 40)
    # One split: the whole variance of one score, plus the overlap term.
    assert corrected_variance_factor(1, n_train=9, n_test=1) == pytest.approx(1 + 1 / 9)


def test_corrected_t_statistic_uses_the_factor():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.8, 0.03, 10), rng.normal(0.78, 0.03, 10)
    d = a - b
    # Direct formula, written out: t = mean / sqrt(factor * var).
    t = d.mean() / np.sqrt((1 / 10 + 25 / 100) * d.var(ddof=1))
    result = corrected_resampled_ttest(a, b, n_train=100, n_test=25)
    assert result.statistic == pytest.approx(t)
    assert result.pvalue == pytest.approx(2 * st.t.sf(abs(t), 9))
    assert result.details["test_train_ratio"] == 0.25


@pytest.mark.parametrize(
    "n_splits, n_train, n_test, message",
    [
        (0, 80, 20, "'n_splits' parameter of corrected_variance_factor must be"),
        (2.5, 80, 20, "'n_splits' parameter of corrected_variance_factor must be"),
        (True, 80, 20, "n_splits must be a positive integer"),
        (5, 0, 20, "'n_train' parameter of corrected_variance_factor must be"),
        (5, 80, -1, "'n_test' parameter of corrected_variance_factor must be"),
        (5, [], 20, "must not be empty"),
        (5, np.nan, 20, "'n_train' parameter of corrected_variance_factor must be"),
        (5, [80, np.inf], 20, "must be finite"),
        (5, [80, 0], 20, "must be positive"),
    ],
)
def test_bad_sizes_are_refused(n_splits, n_train, n_test, message):
    with pytest.raises(ValueError, match=message):
        corrected_variance_factor(n_splits, n_train=n_train, n_test=n_test)
