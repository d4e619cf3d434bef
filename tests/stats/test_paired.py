"""Paired fold-score tests against scipy and their published formulas."""

import numpy as np
import pytest
from scipy import stats

from mammoclf.stats import (
    corrected_resampled_ttest,
    f_test_5x2cv,
    paired_ttest,
    paired_ttest_5x2cv,
    wilcoxon_test,
)


@pytest.fixture
def fold_scores():
    rng = np.random.default_rng(42)
    a = 0.8 + 0.03 * rng.normal(size=10)
    b = a - 0.01 - 0.02 * rng.normal(size=10)
    return a, b


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_paired_ttest_matches_scipy(fold_scores, alternative):
    a, b = fold_scores
    ours = paired_ttest(a, b, alternative=alternative)
    ref = stats.ttest_rel(a, b, alternative=alternative)
    assert ours.statistic == pytest.approx(ref.statistic)
    assert ours.pvalue == pytest.approx(ref.pvalue)
    assert ours.df == 9
    if alternative == "two-sided":
        ci = ref.confidence_interval(0.95)
        assert ours.ci == pytest.approx((ci.low, ci.high))
    assert ours.effect_size == pytest.approx(np.mean(a - b))


def test_corrected_ttest_matches_nadeau_bengio_formula(fold_scores):
    a, b = fold_scores
    n_train, n_test = 72, 18  # 5-fold CV of 90 images, twice
    d = a - b
    J = d.size
    t = d.mean() / np.sqrt((1 / J + n_test / n_train) * d.var(ddof=1))
    p = 2 * stats.t.sf(abs(t), J - 1)
    ours = corrected_resampled_ttest(a, b, n_train=n_train, n_test=n_test)
    assert ours.statistic == pytest.approx(t)
    assert ours.pvalue == pytest.approx(p)
    half = stats.t.ppf(0.975, J - 1) * np.sqrt(
        (1 / J + n_test / n_train) * d.var(ddof=1)
    )
    assert ours.ci == pytest.approx((d.mean() - half, d.mean() + half))
    # The correction only ever widens: less extreme than the naive test.
    naive = paired_ttest(a, b)
    assert abs(ours.statistic) < abs(naive.statistic)
    assert ours.pvalue > naive.pvalue
    # Per-split sizes are averaged.
    per_split = corrected_resampled_ttest(
        a, b, n_train=[70, 74] * 5, n_test=[20, 16] * 5
    )
    assert per_split.statistic == pytest.approx(t)


# Hand-computed 5x2cv example: differences d[i, j] = a - b.
D = np.array([[0.03, 0.01], [0.02, 0.03], [0.01, 0.02], [0.04, 0.02], [0.02, 0.02]])
# s_i^2 = sum_j (d_ij - mean_i)^2 = 2e-4, 5e-5, 5e-5, 2e-4, 0 -> sum 5e-4
A = np.array([[0.80, 0.82], [0.79, 0.81], [0.83, 0.80], [0.81, 0.82], [0.80, 0.84]])


def test_5x2cv_t_by_hand():
    r = paired_ttest_5x2cv(A, A - D)
    assert r.statistic == pytest.approx(0.03 / np.sqrt(5e-4 / 5))  # = 3.0
    assert r.pvalue == pytest.approx(2 * stats.t.sf(3.0, 5))
    assert r.df == 5
    assert r.details["variances"] == pytest.approx([2e-4, 5e-5, 5e-5, 2e-4, 0.0])


def test_5x2cv_f_by_hand():
    r = f_test_5x2cv(A, A - D)
    assert r.statistic == pytest.approx((D**2).sum() / (2 * 5e-4))  # = 5.6
    assert r.statistic == pytest.approx(5.6)
    assert r.pvalue == pytest.approx(stats.f.sf(5.6, 10, 5))
    assert r.df == (10, 5)


def test_5x2cv_requires_five_by_two():
    with pytest.raises(ValueError, match=r"shape \(5, 2\)"):
        f_test_5x2cv(np.zeros((10,)), np.zeros((10,)))


@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_wilcoxon_matches_scipy(fold_scores, alternative):
    a, b = fold_scores
    ours = wilcoxon_test(a, b, alternative=alternative)
    ref = stats.wilcoxon(a, b, alternative=alternative)
    assert ours.statistic == pytest.approx(ref.statistic)
    assert ours.pvalue == pytest.approx(ref.pvalue)


def test_wilcoxon_rank_biserial_by_hand():
    # d = +3, +4, -1, +4, +4 (x 0.01); |d| ranks: 1 -> 1, 3 -> 2, 4s -> 4 (avg of 3..5)
    r = wilcoxon_test([0.83, 0.84, 0.79, 0.84, 0.84], [0.80, 0.80, 0.80, 0.80, 0.80])
    r_plus, r_minus = 2 + 4 + 4 + 4, 1
    assert r.effect_size == pytest.approx((r_plus - r_minus) / (r_plus + r_minus))
    with pytest.warns(RuntimeWarning, match="All paired differences are zero"):
        undefined = wilcoxon_test([0.8, 0.9], [0.8, 0.9])
    assert np.isnan(undefined.statistic) and np.isnan(undefined.pvalue)


def test_zero_variance_is_nan_with_warning():
    with pytest.warns(RuntimeWarning, match="zero variance"):
        r = paired_ttest([0.9, 0.8, 0.7], [0.8, 0.7, 0.6])
    assert np.isnan(r.statistic) and np.isnan(r.pvalue)
    assert r.effect_size == pytest.approx(0.1)
    # The interval is undefined too, not the zero-width (0.1, 0.1).
    assert np.isnan(r.ci[0]) and np.isnan(r.ci[1])
    assert np.isnan(r.details["cohens_dz"])
    with pytest.warns(RuntimeWarning, match="zero variance"):
        c = corrected_resampled_ttest([0.9, 0.8], [0.8, 0.7], n_train=8, n_test=2)
    assert np.isnan(c.ci[0]) and np.isnan(c.ci[1])


def test_wilcoxon_ties_survive_round_off():
    # The differences are 0.1, -0.1, 0.2, 0.3, 0.3, 0.35, 0.1 on paper; in
    # float64 0.9-0.8 and 0.7-0.8 differ in magnitude by about 1e-16, which
    # broke the three-way tie at 0.1 (W = 3, p = 0.078).
    a = [0.9, 0.7, 0.3, 0.5, 0.6, 0.95, 0.4]
    b = [0.8, 0.8, 0.1, 0.2, 0.3, 0.6, 0.3]
    assert abs(0.9 - 0.8) != abs(0.7 - 0.8)  # the round-off is real
    r = wilcoxon_test(a, b)
    # Midranks by hand: |d| = .1 x3 -> 2, .2 -> 4, .3 x2 -> 5.5, .35 -> 7.
    # The one negative difference has rank 2: W = R- = 2.
    assert r.statistic == 2.0
    # Reference: scipy on the exact decimal differences (exact permutation
    # distribution of the midrank statistic, 2^7 sign patterns).
    exact = [0.1, -0.1, 0.2, 0.3, 0.3, 0.35, 0.1]
    reference = stats.wilcoxon(np.round(exact, 2))
    assert reference.statistic == 2.0
    assert r.pvalue == pytest.approx(reference.pvalue, rel=1e-12)
    assert r.pvalue == pytest.approx(0.0625, rel=1e-12)
    # ... and by enumerating all 2^7 sign patterns of the midranks.
    ranks = np.array([2, 2, 4, 5.5, 5.5, 7, 2])
    signs = np.array(np.meshgrid(*[[0, 1]] * 7)).reshape(7, -1).T
    r_minus = (signs * ranks).sum(axis=1)
    w = np.minimum(r_minus, ranks.sum() - r_minus)
    assert r.pvalue == pytest.approx(np.mean(w <= 2.0), rel=1e-12)
    assert r.effect_size == pytest.approx((26 - 2) / 28)
    # A difference that is zero up to round-off is a zero (dropped).
    z = wilcoxon_test([0.3, 0.5, 0.6], [0.1 + 0.2, 0.4, 0.4])
    assert z.details["n_nonzero"] == 2


def test_5x2cv_on_round_off_only_differences_is_nan():
    # Every difference is 0.1 on paper: t was 1.27e15 and F 1.6e30.
    a, b = np.array([[0.8, 0.9]] * 5), np.array([[0.7, 0.8]] * 5)
    d = a - b
    assert np.ptp(d) > 0  # round-off makes them differ
    for func in (paired_ttest_5x2cv, f_test_5x2cv):
        with pytest.warns(RuntimeWarning, match="round-off"):
            r = func(a, b)
        assert np.isnan(r.statistic) and np.isnan(r.pvalue)
        assert r.effect_size == pytest.approx(0.1)
    # The same relative tolerance as the t-tests, which agree: NaN.
    with pytest.warns(RuntimeWarning, match="zero variance"):
        assert np.isnan(paired_ttest(a.ravel(), b.ravel()).statistic)
    # A spread well above round-off is still a statistic.
    b2 = b.copy()
    b2[0, 1] += 1e-9
    assert np.isfinite(paired_ttest_5x2cv(a, b2).statistic)


def test_validation_and_repr(fold_scores):
    a, b = fold_scores
    with pytest.raises(ValueError, match="same shape"):
        paired_ttest(a, b[:-1])
    with pytest.raises(ValueError, match="non-finite"):
        paired_ttest([0.8, np.nan], [0.7, 0.6])
    with pytest.raises(ValueError, match="alternative"):
        paired_ttest(a, b, alternative="bigger")
    with pytest.raises(ValueError, match="n_train"):
        corrected_resampled_ttest(a, b, n_train=0, n_test=10)
    r = corrected_resampled_ttest(
        a, b, n_train=72, n_test=18, labels=("cnn", "densenet"), metric="roc_auc"
    )
    text = repr(r)
    assert "Nadeau-Bengio" in text and "'cnn' vs 'densenet'" in text
    assert "t(9) =" in text and "95% CI" in text and "roc_auc" in text
    with pytest.raises(AttributeError):
        r.pvalue = 0.0  # frozen
