"""Fold-mean intervals and bounded difference intervals against references."""

import numpy as np
import pytest
from scipy import special, stats

from mammoclf.stats import corrected_resampled_ttest, fold_mean_ci
from mammoclf.stats._intervals import bounded_difference_ci

SCORES = np.array([0.81, 0.84, 0.79, 0.86, 0.83, 0.8, 0.88, 0.82, 0.85, 0.78])


def test_identity_scale_matches_scipy_and_the_corrected_ttest():
    naive = fold_mean_ci(SCORES, scale="identity")
    reference = stats.t.interval(
        0.95, SCORES.size - 1, loc=SCORES.mean(), scale=stats.sem(SCORES)
    )
    np.testing.assert_allclose((naive.ci_low, naive.ci_high), reference, rtol=1e-12)
    corrected = fold_mean_ci(SCORES, n_train=72, n_test=18, scale="identity")
    # The corrected t-test of the scores against zero has the same interval.
    ttest = corrected_resampled_ttest(SCORES, np.zeros(10), n_train=72, n_test=18)
    np.testing.assert_allclose((corrected.ci_low, corrected.ci_high), ttest.ci)
    assert corrected.method == "95% CI: Nadeau-Bengio corrected t interval"


def test_logit_scale_by_hand_and_inside_bounds():
    scores = np.array([1.0, 0.9, 0.6, 1.0, 0.95])
    r = fold_mean_ci(scores, n_train=80, n_test=20, confidence_level=0.9)
    m, s, n = scores.mean(), scores.std(ddof=1), scores.size
    half = stats.t.ppf(0.95, n - 1) * s * np.sqrt(1 / n + 0.25) / (m * (1 - m))
    expected = special.expit(special.logit(m) + np.array([-half, half]))
    np.testing.assert_allclose((r.ci_low, r.ci_high), expected, rtol=1e-12)
    assert 0 < r.ci_low < r.mean < r.ci_high < 1
    identity = fold_mean_ci(scores, n_train=80, n_test=20, scale="identity")
    assert identity.ci_high > 1  # what the logit scale avoids
    assert "logit scale" in r.method and r.method.startswith("90% CI")


def test_undefined_folds_are_left_out_and_counted():
    with_nan = np.r_[SCORES[:4], np.nan, SCORES[4:]]
    r = fold_mean_ci(with_nan, n_train=72, n_test=18)
    reference = fold_mean_ci(SCORES, n_train=72, n_test=18)
    assert (r.n_defined, r.n_splits) == (10, 11)
    assert r.mean == reference.mean and r.ci_low == reference.ci_low


@pytest.mark.parametrize(
    "scores",
    [[0.8, 0.8, 0.8], [1.0, 1.0, 1.0], [0.7, np.nan, np.nan], [np.nan, np.nan]],
)
def test_degenerate_intervals_are_nan(scores):
    if np.isfinite(scores).sum() < 2:
        r = fold_mean_ci(scores, n_train=8, n_test=2)
        assert np.isnan(r.ci_low) and np.isnan(r.ci_high)
    # Without the set sizes (no effective sample size) or on the identity
    # scale, folds that agree have no interval.
    for kwargs in ({}, {"n_train": 8, "n_test": 2, "scale": "identity"}):
        r = fold_mean_ci(scores, **kwargs)
        assert np.isnan(r.ci_low) and np.isnan(r.ci_high)
    # Round-off-only spread counts as zero variance too.
    r = fold_mean_ci([0.1 * 3, 0.3, 0.3], scale="identity")
    assert np.isnan(r.ci_low)


def test_fold_mean_ci_validation():
    with pytest.raises(ValueError, match="'scale' parameter of fold_mean_ci must be"):
        fold_mean_ci(SCORES, scale="probit")
    with pytest.raises(ValueError, match="both n_train and n_test"):
        fold_mean_ci(SCORES, n_train=80)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        fold_mean_ci([0.5, 1.5])
    with pytest.raises(ValueError, match="infinity"):
        fold_mean_ci([0.5, np.inf], scale="identity")
    with pytest.raises(ValueError, match="'n_train' parameter of fold_mean_ci must be"):
        fold_mean_ci(SCORES, n_train=0, n_test=2)


def test_bounded_difference_ci():
    d, se = 0.8, 0.18
    low, high = bounded_difference_ci(d, se, 0.95)
    z = stats.norm.ppf(0.975)
    assert np.tanh(np.arctanh(d) - z * se / (1 - d**2)) == pytest.approx(low)
    assert -1 < low < d < high < 1 and d + z * se > 1
    # Near 0 it is the Wald interval to first order.
    low, high = bounded_difference_ci(1e-4, 0.01, 0.95)
    assert (low, high) == pytest.approx((1e-4 - z * 0.01, 1e-4 + z * 0.01), rel=1e-3)
    for degenerate in ((0.1, 0.0), (1.0, 0.1), (-1.0, 0.1), (0.1, np.nan)):
        assert np.all(np.isnan(bounded_difference_ci(*degenerate, 0.95)))


def _slow_wilson(p, n, critical):
    """Every proportion pi with |p - pi| <= critical sqrt(pi (1 - pi) / n)."""

    def accepts(pi):
        return abs(p - pi) <= critical * np.sqrt(pi * (1 - pi) / n)

    def edge(outer):
        if accepts(outer):
            return outer
        inside, outside = p, outer
        for _ in range(200):
            middle = (inside + outside) / 2
            inside, outside = (middle, outside) if accepts(middle) else (inside, middle)
        return inside

    return edge(0.0), edge(1.0)


@pytest.mark.parametrize("value", [1.0, 0.0, 0.5, 0.9])
def test_folds_that_agree_get_wilson_at_the_effective_sample_size(value):
    # Issue 22: five folds of 1.0 gave [nan, nan] in Table 1.
    r = fold_mean_ci([value] * 5, n_train=80, n_test=20)
    n_eff = 20 / (1 / 5 + 20 / 80)
    expected = _slow_wilson(value, n_eff, stats.t.ppf(0.975, 4))
    np.testing.assert_allclose((r.ci_low, r.ci_high), expected, atol=1e-9)
    assert r.ci_low <= value <= r.ci_high and r.ci_low < r.ci_high
    assert "Wilson" in r.method
    # statsmodels' Wilson interval, with the t critical value folded into n.
    from statsmodels.stats.proportion import proportion_confint

    z = stats.norm.ppf(0.975)
    n_z = n_eff * (z / stats.t.ppf(0.975, 4)) ** 2
    reference = proportion_confint(value * n_z, n_z, method="wilson")
    np.testing.assert_allclose((r.ci_low, r.ci_high), reference, atol=1e-9)


def test_a_spread_near_one_keeps_the_logit_t_interval():
    # The other reproducer: its interval is unchanged (the fallback
    # only applies where the t interval is undefined).
    r = fold_mean_ci([1, 1, 1, 1, 14 / 15], n_train=80, n_test=20)
    assert (round(r.ci_low, 3), round(r.ci_high, 4)) == (0.521, 0.9998)
    assert "logit scale" in r.method
