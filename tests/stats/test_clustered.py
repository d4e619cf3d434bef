"""Clustered DeLong (Obuchowski 1997) and McNemar (Obuchowski 1998) tests.

Each is checked against a slow implementation written directly from the
paper's formulas (loops over patients and image pairs), against the
image-level test when every patient has one image, and on the edge cases.
"""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from mammoclf.stats import delong_roc_covariance, delong_test, mcnemar_test


def psi(x, y):
    """Mann-Whitney kernel: positive score x against negative score y."""
    return 1.0 if x > y else 0.5 if x == y else 0.0


def slow_obuchowski_1997(y, scores, groups):
    """Obuchowski (1997), eqs. for theta, V10, V01, S10, S01, S11, by loops.

    Covariance of modalities r and s:
    S10/M + S01/N + (S11[r, s] + S11[s, r]) / (M N).
    """
    k = len(scores)
    patients = sorted(set(groups.tolist()))
    n_clusters = len(patients)
    pos = [[i for i in range(len(y)) if y[i] == 1 and groups[i] == p] for p in patients]
    neg = [[i for i in range(len(y)) if y[i] == 0 and groups[i] == p] for p in patients]
    all_pos = [i for c in pos for i in c]
    all_neg = [j for c in neg for j in c]
    big_m, big_n = len(all_pos), len(all_neg)
    i10 = sum(1 for c in pos if c)
    i01 = sum(1 for c in neg if c)
    theta = np.zeros(k)
    v10 = np.zeros((k, n_clusters))  # summed over the patient's positive images
    v01 = np.zeros((k, n_clusters))
    for r in range(k):
        s = scores[r]
        theta[r] = sum(psi(s[i], s[j]) for i in all_pos for j in all_neg) / (
            big_m * big_n
        )
        for c in range(n_clusters):
            v10[r, c] = sum(
                sum(psi(s[i], s[j]) for j in all_neg) / big_n for i in pos[c]
            )
            v01[r, c] = sum(
                sum(psi(s[i], s[j]) for i in all_pos) / big_m for j in neg[c]
            )
    m_i = np.array([len(c) for c in pos])
    n_i = np.array([len(c) for c in neg])
    cov = np.zeros((k, k))
    for r in range(k):
        for t in range(k):
            s10 = sum(
                (v10[r, c] - m_i[c] * theta[r]) * (v10[t, c] - m_i[c] * theta[t])
                for c in range(n_clusters)
            ) * (i10 / ((i10 - 1) * big_m))
            s01 = sum(
                (v01[r, c] - n_i[c] * theta[r]) * (v01[t, c] - n_i[c] * theta[t])
                for c in range(n_clusters)
            ) * (i01 / ((i01 - 1) * big_n))
            s11_rt = sum(
                (v10[r, c] - m_i[c] * theta[r]) * (v01[t, c] - n_i[c] * theta[t])
                for c in range(n_clusters)
            ) * (n_clusters / (n_clusters - 1))
            s11_tr = sum(
                (v10[t, c] - m_i[c] * theta[t]) * (v01[r, c] - n_i[c] * theta[r])
                for c in range(n_clusters)
            ) * (n_clusters / (n_clusters - 1))
            cov[r, t] = s10 / big_m + s01 / big_n + (s11_rt + s11_tr) / (big_m * big_n)
    return theta, cov


def clustered_data(seed, n_patients=40, rho=0.5):
    """Patients with 1-4 images, labels per image (both classes within some)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, n_patients)
    groups = np.repeat(np.arange(n_patients) * 7 + 3, sizes)  # ids need not be 0..I-1
    y = (rng.random(groups.size) < 0.4).astype(int)
    effect = rng.normal(size=n_patients)[np.searchsorted(np.unique(groups), groups)]
    a = y + np.sqrt(rho) * effect + rng.normal(size=y.size)
    b = np.round(0.6 * y + np.sqrt(rho) * effect + rng.normal(size=y.size), 1)
    return y, a, b, groups


@pytest.mark.parametrize("seed", range(3))
def test_clustered_delong_matches_slow_obuchowski(seed):
    y, a, b, groups = clustered_data(seed)
    aucs, cov = delong_roc_covariance(y, [a, b], groups=groups)
    slow_aucs, slow_cov = slow_obuchowski_1997(y, [a, b], groups)
    np.testing.assert_allclose(aucs, slow_aucs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, slow_cov, rtol=1e-10, atol=1e-14)

    result = delong_test(y, a, b, groups=groups)
    se = np.sqrt(slow_cov[0, 0] + slow_cov[1, 1] - 2 * slow_cov[0, 1])
    d = slow_aucs[0] - slow_aucs[1]
    assert result.statistic == pytest.approx(d / se, rel=1e-10)
    assert result.pvalue == pytest.approx(2 * stats.norm.sf(abs(d / se)), rel=1e-10)
    half = stats.norm.ppf(0.975) * se / (1 - d**2)
    np.testing.assert_allclose(
        result.ci, np.tanh(np.arctanh(d) + np.array([-half, half])), rtol=1e-10
    )
    assert result.details["clustered"] and result.details["n_clusters"] == 40
    assert "Obuchowski 1997" in result.test and "40 patients" in result.compared


def test_clustered_delong_with_one_image_per_patient_is_exactly_delong():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], [35, 25])
    a = y + rng.normal(size=60)
    b = np.round(y + rng.normal(size=60), 1)
    patients = rng.permutation(60) + 1000
    image_level = delong_roc_covariance(y, [a, b])
    clustered = delong_roc_covariance(y, [a, b], groups=patients)
    np.testing.assert_allclose(clustered[0], image_level[0], rtol=0, atol=0)
    np.testing.assert_allclose(clustered[1], image_level[1], rtol=1e-12, atol=0)
    r_image = delong_test(y, a, b)
    r_clustered = delong_test(y, a, b, groups=patients)
    assert r_clustered.statistic == pytest.approx(r_image.statistic, rel=1e-12)
    assert r_clustered.pvalue == pytest.approx(r_image.pvalue, rel=1e-10)
    np.testing.assert_allclose(r_clustered.ci, r_image.ci, rtol=1e-12)


def test_clustered_variance_exceeds_image_level_with_correlated_images():
    # Exact copies of each patient's image: the image-level variance treats the
    # copies as new information; the clustered one does not.
    rng = np.random.default_rng(5)
    y1 = np.repeat([0, 1], 30)
    a1 = y1 + rng.normal(size=60)
    b1 = y1 + rng.normal(size=60)
    y, a, b = (np.repeat(v, 3) for v in (y1, a1, b1))
    patients = np.repeat(np.arange(60), 3)
    image = delong_test(y, a, b)
    clustered = delong_test(y, a, b, groups=patients)
    single = delong_test(y1, a1, b1)
    assert clustered.effect_size == pytest.approx(single.effect_size)
    # Three copies: image-level variance about 1/3 of the honest one.
    assert abs(image.statistic) > 1.6 * abs(clustered.statistic)
    assert clustered.statistic == pytest.approx(single.statistic, rel=0.05)


def test_delong_interval_stays_in_bounds_and_zero_variance_is_nan():
    # A near-perfect model against a poor one on 8 cases: the plain Wald
    # interval d +/- 1.96 SE passes 1; the atanh interval does not.
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    good = np.array([0.1, 0.2, 0.3, 0.6, 0.5, 0.7, 0.8, 0.9])
    poor = np.array([0.9, 0.6, 0.4, 0.7, 0.1, 0.3, 0.2, 0.8])
    r = delong_test(y, good, poor)
    se = r.effect_size / r.statistic
    assert r.effect_size + 1.96 * se > 1  # what the old interval did
    assert -1 < r.ci[0] < r.effect_size < r.ci[1] < 1
    # All-equal scores against perfect ones: variance zero, interval undefined.
    with pytest.warns(RuntimeWarning, match="variance of the AUC difference is zero"):
        flat = delong_test(y, np.full(8, 0.5), np.arange(8.0))
    assert flat.effect_size == -0.5 and np.isnan(flat.statistic)
    assert np.isnan(flat.ci[0]) and np.isnan(flat.ci[1])


def test_clustered_delong_validation():
    y, a, b, groups = clustered_data(0, n_patients=10)
    with pytest.raises(ValueError, match="inconsistent"):
        delong_test(y, a, b, groups=groups[:-1])
    with pytest.raises(ValueError, match="NaN"):
        delong_roc_covariance(y, a, groups=np.where(groups == groups[0], np.nan, 1.0))
    # Two positive images, both from one patient: no clustered variance.
    y2 = np.array([1, 1, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="2 patients with a positive image"):
        delong_roc_covariance(y2, np.arange(6.0), groups=[0, 0, 1, 1, 2, 2])


# ------------------------------------------------------------------ McNemar
def slow_obuchowski_1998(y, pred_a, pred_b, groups):
    """Obuchowski (1998) in its original form: ratio estimators per patient.

    p1, p2 are the two accuracies, x1k, x2k the correct images of patient k
    (n_k images); variances and covariance about the pooled p-bar under the
    null (Obuchowski 1998, as Yang et al. 2010 restate it).
    """
    patients = sorted(set(groups.tolist()))
    k = len(patients)
    x1 = np.array([np.sum((pred_a == y)[groups == p]) for p in patients], float)
    x2 = np.array([np.sum((pred_b == y)[groups == p]) for p in patients], float)
    nk = np.array([np.sum(groups == p) for p in patients], float)
    big_n = nk.sum()
    p1, p2 = x1.sum() / big_n, x2.sum() / big_n
    p_bar = (p1 + p2) / 2
    var1 = k / (k - 1) * np.sum((x1 - nk * p_bar) ** 2) / big_n**2
    var2 = k / (k - 1) * np.sum((x2 - nk * p_bar) ** 2) / big_n**2
    cov = k / (k - 1) * np.sum((x1 - nk * p_bar) * (x2 - nk * p_bar)) / big_n**2
    statistic = (p1 - p2) ** 2 / (var1 + var2 - 2 * cov)
    return p1 - p2, statistic


@pytest.mark.parametrize("seed", range(3))
def test_clustered_mcnemar_matches_slow_obuchowski_1998(seed):
    y, a, b, groups = clustered_data(seed, n_patients=60)
    pred_a, pred_b = (a > 0.5).astype(int), (b > 0.3).astype(int)
    r = mcnemar_test(y, pred_a, pred_b, groups=groups)
    difference, statistic = slow_obuchowski_1998(y, pred_a, pred_b, groups)
    assert r.test == "Clustered McNemar test (Obuchowski 1998)"
    assert r.effect_size == pytest.approx(difference, abs=1e-12)
    assert r.statistic == pytest.approx(statistic, rel=1e-10)
    assert r.pvalue == pytest.approx(stats.chi2(1).sf(statistic), rel=1e-10)
    np.testing.assert_allclose(
        r.ci, slow_score_interval(y, pred_a, pred_b, groups, "obuchowski"), atol=1e-9
    )
    assert (r.ci[0] > 0 or r.ci[1] < 0) == (r.pvalue < 0.05)
    assert r.details["clustered"] and r.details["n_clusters"] == 60
    assert "60 patients" in r.compared


def slow_score_interval(y, pred_a, pred_b, groups, method, level=0.95):
    """Every difference the clustered test does not reject, by bisection.

    The statistic at a hypothesised difference ``delta``, patient by
    patient: Obuchowski's ``(sum d_k - N delta)^2 / (K / (K - 1) sum (d_k -
    n_k delta)^2)``, Durkalski's ``(sum (r_k - delta))^2 / sum (r_k -
    delta)^2`` with ``r_k = d_k / n_k``.
    """
    patients = sorted(set(groups.tolist()))
    k = len(patients)
    d = [
        float(np.sum((pred_a == y)[groups == p]) - np.sum((pred_b == y)[groups == p]))
        for p in patients
    ]
    n = [float(np.sum(groups == p)) for p in patients]

    def statistic(delta):
        if method == "durkalski":
            r = [d_k / n_k - delta for d_k, n_k in zip(d, n)]
            return sum(r) ** 2 / sum(v * v for v in r)
        r = [d_k - n_k * delta for d_k, n_k in zip(d, n)]
        return sum(r) ** 2 / (k / (k - 1) * sum(v * v for v in r))

    estimate = (
        np.mean([d_k / n_k for d_k, n_k in zip(d, n)])
        if method == "durkalski"
        else sum(d) / sum(n)
    )
    crit = stats.chi2(1).ppf(level)

    def edge(outer):
        inside, outside = estimate, outer
        if statistic(outer) <= crit:
            return outer
        for _ in range(200):
            middle = (inside + outside) / 2
            inside, outside = (
                (middle, outside) if statistic(middle) <= crit else (inside, middle)
            )
        return inside

    return edge(-1.0), edge(1.0)


def test_clustered_mcnemar_with_one_image_per_patient_is_mcnemar_times_k_minus_1_over_k():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 150)
    a = np.where(rng.random(150) < 0.85, y, 1 - y)
    b = np.where(rng.random(150) < 0.75, y, 1 - y)
    patients = np.arange(150)
    r = mcnemar_test(y, a, b, groups=patients)
    image = mcnemar_test(y, a, b, exact=False, correction=False)
    reference = mcnemar(np.array(image.details["table"]), exact=False, correction=False)
    assert image.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert r.statistic == pytest.approx(149 / 150 * reference.statistic, rel=1e-12)
    assert r.effect_size == image.effect_size
    # The interval inverts the test, with the same K / (K - 1) factor.
    np.testing.assert_allclose(
        r.ci, slow_score_interval(y, a, b, patients, "obuchowski"), atol=1e-9
    )


def test_clustered_mcnemar_edge_cases_and_validation():
    y = np.array([1, 1, 0, 0, 1, 0])
    a = np.array([1, 0, 0, 1, 1, 0])
    groups = np.array([0, 0, 1, 1, 2, 2])
    # Each patient: A right on one image, wrong on the other; B the mirror
    # image. Per-patient discordance differences are all zero: 0/0.
    b = np.array([0, 1, 1, 0, 1, 0])
    with pytest.warns(RuntimeWarning, match="undefined"):
        r = mcnemar_test(y, a, b, groups=groups)
    assert np.isnan(r.statistic) and np.isnan(r.pvalue) and r.effect_size == 0
    with pytest.raises(ValueError, match="no exact version"):
        mcnemar_test(y, a, b, groups=groups, exact=True)
    with pytest.raises(ValueError, match="no continuity"):
        mcnemar_test(y, a, b, groups=groups, correction=True)
    with pytest.raises(ValueError, match="at least 2 patients"):
        mcnemar_test(y, a, b, groups=np.zeros(6))
    with pytest.raises(
        ValueError, match="'correction' parameter of mcnemar_test must be"
    ):
        mcnemar_test(y, a, b, correction="yes")
    # correction=False with groups is allowed (it is what the test does).
    with pytest.warns(RuntimeWarning):
        mcnemar_test(y, a, b, groups=groups, correction=False)


def test_mcnemar_interval_stays_in_bounds():
    # 4 of 5 images favour A: the Wald interval 0.8 +/- 0.35 passes 1.
    y = np.ones(5, int)
    a = np.ones(5, int)
    b = np.array([0, 0, 0, 0, 1])
    r = mcnemar_test(y, a, b)
    assert r.effect_size == pytest.approx(0.8)
    assert -1 < r.ci[0] < 0.8 <= r.ci[1] < 1


def slow_durkalski_2003(y, pred_a, pred_b, groups):
    """Durkalski et al. (2003): each patient's discordance share, equally weighted.

    With b_k, c_k the discordant images of patient k and n_k its images:
    ``X^2 = (sum_k (b_k - c_k) / n_k)^2 / sum_k ((b_k - c_k) / n_k)^2``.
    """
    numerator = denominator = 0.0
    shares = []
    for p in sorted(set(groups.tolist())):
        mine = groups == p
        right_a, right_b = (pred_a == y)[mine], (pred_b == y)[mine]
        b_k = np.sum(right_a & ~right_b)
        c_k = np.sum(~right_a & right_b)
        share = (b_k - c_k) / mine.sum()
        numerator += share
        denominator += share**2
        shares.append(share)
    return float(np.mean(shares)), numerator**2 / denominator


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_durkalski_mcnemar_matches_slow_implementation(seed):
    y, a, b, groups = clustered_data(seed, n_patients=40)
    pred_a, pred_b = (a > 0.5).astype(int), (b > 0.3).astype(int)
    r = mcnemar_test(y, pred_a, pred_b, groups=groups, method="durkalski")
    effect, statistic = slow_durkalski_2003(y, pred_a, pred_b, groups)
    assert r.test == "Clustered McNemar test (Durkalski 2003)"
    assert r.effect_size == pytest.approx(effect, abs=1e-12)
    assert r.effect_size_name.startswith("patient-averaged")
    assert r.statistic == pytest.approx(statistic, rel=1e-10)
    assert r.pvalue == pytest.approx(stats.chi2(1).sf(statistic), rel=1e-10)
    np.testing.assert_allclose(
        r.ci, slow_score_interval(y, pred_a, pred_b, groups, "durkalski"), atol=1e-9
    )
    assert (r.ci[0] > 0 or r.ci[1] < 0) == (r.pvalue < 0.05)
    assert r.details["method"] == "durkalski"


def test_durkalski_equals_obuchowski_up_to_k_over_k_minus_1_with_equal_clusters():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    a = np.where(rng.random(120) < 0.85, y, 1 - y)
    b = np.where(rng.random(120) < 0.7, y, 1 - y)
    groups = np.arange(120) // 3  # 40 patients of 3 images
    obuchowski = mcnemar_test(y, a, b, groups=groups)
    durkalski = mcnemar_test(y, a, b, groups=groups, method="durkalski")
    assert durkalski.statistic == pytest.approx(40 / 39 * obuchowski.statistic)
    assert durkalski.effect_size == pytest.approx(obuchowski.effect_size)


def test_mcnemar_method_is_validated():
    y = np.array([1, 1, 0, 0])
    with pytest.raises(ValueError, match="method='durkalski' is a clustered"):
        mcnemar_test(y, y, 1 - y, method="durkalski")
    with pytest.raises(ValueError, match="method"):
        mcnemar_test(y, y, 1 - y, groups=[0, 0, 1, 1], method="yang")


def test_clustered_interval_of_very_few_patients_is_the_hull_and_says_so():
    # Three patients: the set the test does not reject is unbounded.
    y = np.ones(9, int)
    a = y.copy()
    b = np.array([0, 0, 1, 0, 0, 1, 0, 0, 0])
    r = mcnemar_test(y, a, b, groups=np.arange(9) // 3)
    assert -1 <= r.ci[0] <= r.effect_size <= r.ci[1] <= 1
    excludes = r.ci[0] > 0 or r.ci[1] < 0
    assert excludes == (r.pvalue < 0.05) or "note" in r.details
