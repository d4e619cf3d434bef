"""McNemar against statsmodels and by hand; DeLong against a slow O(n^2) version."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from mammoclf.stats import delong_roc_covariance, delong_test, mcnemar_test


def slow_delong(y_pos, scores):
    """DeLong et al. (1988) directly from pairwise kernel psi(x, y)."""
    scores = np.atleast_2d(scores)
    pos, neg = scores[:, y_pos], scores[:, ~y_pos]
    m, n = pos.shape[1], neg.shape[1]
    psi = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (
        pos[:, :, None] == neg[:, None, :]
    )
    aucs = psi.mean(axis=(1, 2))
    v10 = psi.mean(axis=2)  # per positive case
    v01 = psi.mean(axis=1)  # per negative case
    k = scores.shape[0]
    s10 = np.array(
        [
            [
                np.sum((v10[r] - aucs[r]) * (v10[s] - aucs[s])) / (m - 1)
                for s in range(k)
            ]
            for r in range(k)
        ]
    )
    s01 = np.array(
        [
            [
                np.sum((v01[r] - aucs[r]) * (v01[s] - aucs[s])) / (n - 1)
                for s in range(k)
            ]
            for r in range(k)
        ]
    )
    return aucs, s10 / m + s01 / n


@pytest.mark.parametrize("seed", range(4))
def test_fast_delong_equals_slow_pairwise_version(seed):
    rng = np.random.default_rng(seed)
    n = 120
    y = rng.random(n) < 0.4
    a = y + rng.normal(size=n)
    b = np.round(0.5 * a + rng.normal(size=n), 1)  # rounding creates ties
    aucs, cov = delong_roc_covariance(np.where(y, "MALIGNANT", "BENIGN"), [a, b])
    slow_aucs, slow_cov = slow_delong(y, np.vstack([a, b]))
    np.testing.assert_allclose(aucs, slow_aucs)
    np.testing.assert_allclose(cov, slow_cov)
    np.testing.assert_allclose(aucs, [roc_auc_score(y, a), roc_auc_score(y, b)])

    result = delong_test(y.astype(int), a, b)
    se = np.sqrt(slow_cov[0, 0] + slow_cov[1, 1] - 2 * slow_cov[0, 1])
    z = (slow_aucs[0] - slow_aucs[1]) / se
    assert result.statistic == pytest.approx(z)
    assert result.pvalue == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert result.effect_size == pytest.approx(slow_aucs[0] - slow_aucs[1])
    # The interval is the Wald interval on the atanh scale, mapped back.
    d = slow_aucs[0] - slow_aucs[1]
    half = stats.norm.ppf(0.975) * se / (1 - d**2)
    expected = (np.tanh(np.arctanh(d) - half), np.tanh(np.arctanh(d) + half))
    np.testing.assert_allclose(result.ci, expected, rtol=1e-10)


def test_single_auc_variance_is_invariant_to_score_reversal():
    # Reversing the scores turns AUC into 1 - AUC and must keep its variance.
    rng = np.random.default_rng(7)
    y = np.repeat([0, 1], 30)
    s = y + rng.normal(size=60)
    auc, var = delong_roc_covariance(y, s)
    auc_flipped, var_flipped = delong_roc_covariance(y, -s)
    assert auc_flipped[0] == pytest.approx(1 - auc[0])
    assert var_flipped[0, 0] == pytest.approx(var[0, 0])


def test_delong_identical_scores_and_validation():
    y = np.repeat([0, 1], 5)
    s = np.arange(10.0)
    with pytest.warns(RuntimeWarning, match="variance of the AUC difference is zero"):
        r = delong_test(y, s, s)
    assert np.isnan(r.pvalue) and r.effect_size == 0
    assert np.isnan(r.ci[0]) and np.isnan(r.ci[1])
    with pytest.raises(ValueError, match="at least 2 positive"):
        delong_test([0, 0, 0, 1], [1, 2, 3, 4], [1, 2, 4, 3])
    with pytest.raises(ValueError, match="inconsistent"):
        delong_test(y, s, s[:-1])


def test_mcnemar_against_statsmodels_and_hand():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    a = np.where(rng.random(200) < 0.85, y, 1 - y)
    b = np.where(rng.random(200) < 0.75, y, 1 - y)
    r = mcnemar_test(y, a, b, exact=False)
    b_count = np.sum((a == y) & (b != y))
    c_count = np.sum((a != y) & (b == y))
    assert (r.details["b"], r.details["c"]) == (b_count, c_count)
    chi2 = (abs(b_count - c_count) - 1) ** 2 / (b_count + c_count)
    assert r.statistic == pytest.approx(chi2)
    assert r.pvalue == pytest.approx(stats.chi2.sf(chi2, 1))
    table = [
        [np.sum((a == y) & (b == y)), b_count],
        [c_count, np.sum((a != y) & (b != y))],
    ]
    ref = mcnemar(table, exact=False, correction=True)
    assert r.pvalue == pytest.approx(ref.pvalue)
    assert r.effect_size == pytest.approx(np.mean(a == y) - np.mean(b == y))
    # The interval inverts the continuity-corrected test: by bisection on
    # pi = b / (b + c), |b - m pi| - 1/2 <= z sqrt(m pi (1 - pi)).
    m, z = b_count + c_count, stats.norm.ppf(0.975)
    low, high = _slow_inverted_interval(
        lambda pi: abs(b_count - m * pi) - 0.5 <= z * np.sqrt(m * pi * (1 - pi)),
        b_count / m,
    )
    np.testing.assert_allclose(
        r.ci, (m / 200 * (2 * low - 1), m / 200 * (2 * high - 1)), atol=1e-9
    )


def _slow_inverted_interval(accepts, estimate):
    """The interval of pi in [0, 1] where ``accepts(pi)``, by bisection."""

    def edge(outer):
        if accepts(outer):
            return outer
        inside, outside = estimate, outer
        for _ in range(100):
            middle = (inside + outside) / 2
            inside, outside = (middle, outside) if accepts(middle) else (inside, middle)
        return inside

    return edge(0.0), edge(1.0)


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("correction", [True, False])
def test_mcnemar_interval_excludes_zero_exactly_when_the_test_rejects(
    exact, correction
):
    # Issue 22: p = 0.125 (exact) with an interval (0.006, 0.192) excluding 0.
    agree = 0
    for b_count in range(0, 31, 2):
        for c_count in range(0, 31, 4):
            if b_count + c_count == 0:
                continue
            y = np.ones(60, int)
            a, b = y.copy(), y.copy()
            b[:b_count] = 0
            a[b_count : b_count + c_count] = 0
            r = mcnemar_test(y, a, b, exact=exact, correction=correction)
            excludes = r.ci[0] > 0 or r.ci[1] < 0
            assert excludes == (r.pvalue < 0.05), (b_count, c_count, r)
            agree += 1
    assert agree > 120


def test_mcnemar_exact_interval_is_clopper_pearson_of_the_discordant_split():
    y4 = np.ones(40, int)
    a4, b4 = y4.copy(), y4.copy()
    b4[:4] = 0
    r = mcnemar_test(y4, a4, b4)
    assert r.pvalue == pytest.approx(0.125)
    assert r.ci[0] < 0 < r.ci[1]  # the reproducer: now agrees
    low, high = proportion_confint(4, 4, alpha=0.05, method="beta")
    np.testing.assert_allclose(r.ci, (0.1 * (2 * low - 1), 0.1 * (2 * high - 1)))


def test_mcnemar_exact_auto_uses_binomial_for_few_discordant_pairs():
    y = np.array([1] * 10 + [0] * 10)
    a = y.copy()
    b = y.copy()
    b[:6] = 0  # 6 discordant pairs, all favouring A
    r = mcnemar_test(y, a, b)
    assert r.details["exact"]
    assert r.pvalue == pytest.approx(stats.binomtest(0, 6).pvalue)
    assert "exact" in r.test
    # No discordant pairs: the exact test says p = 1 (with no interval of a
    # difference whose variance is zero), chi-square refuses.
    same = mcnemar_test(y, a, a)
    assert same.pvalue == 1.0 and np.isnan(same.ci[0]) and np.isnan(same.ci[1])
    with pytest.raises(ValueError, match="no discordant pairs"):
        mcnemar_test(y, a, a, exact=False)


def test_mcnemar_refuses_mixed_label_types():
    # Issue 22: string truth against 0/1 predictions gave p = 1.0 (all wrong).
    y = ["MALIGNANT", "BENIGN"] * 5
    with pytest.raises(ValueError, match="mcnemar_test: mix of label input types"):
        mcnemar_test(y, [1, 0] * 5, [0] * 10)


def test_mcnemar_refuses_nan_predictions_and_counts_them():
    # Issue 22: NaN predictions were silently counted as errors.
    y = np.array([0, 1] * 20)
    a = y.astype(float)
    a[:8] = np.nan
    with pytest.raises(ValueError, match="y_pred_a has 8 non-finite values"):
        mcnemar_test(y, a, y.copy())
