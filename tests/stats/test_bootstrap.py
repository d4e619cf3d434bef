"""Cluster bootstrap and p-value adjustment."""

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from mammoclf.metrics import sensitivity_score
from mammoclf.stats import adjust_pvalues, bootstrap_ci


@pytest.fixture(scope="module")
def clustered():
    """40 patients with 4 images each; images of a patient share a strong effect."""
    rng = np.random.default_rng(1)
    patients = np.repeat(np.arange(40), 4)
    malignant = np.repeat(rng.random(40) < 0.5, 4)
    patient_effect = np.repeat(rng.normal(scale=1.5, size=40), 4)
    scores = malignant + patient_effect + 0.1 * rng.normal(size=160)
    y = np.where(malignant, "MALIGNANT", "BENIGN")
    return y, scores, patients


def test_cluster_bootstrap_is_wider_than_image_bootstrap(clustered):
    y, scores, patients = clustered
    by_patient = bootstrap_ci(
        "roc_auc", y, scores, groups=patients, n_resamples=250, random_state=0
    )
    by_image = bootstrap_ci("roc_auc", y, scores, n_resamples=250, random_state=0)
    assert by_patient.n_clusters == 40 and by_image.n_clusters == 160
    assert by_patient.clustered and not by_image.clustered
    assert by_patient.estimate == by_image.estimate
    # Images of a patient are near-copies: resampling them as independent
    # pretends to have 4x the data and the interval shrinks by about half.
    width = lambda r: r.ci[1] - r.ci[0]
    assert width(by_patient) > 1.5 * width(by_image)
    assert by_patient.standard_error > 1.5 * by_image.standard_error


def test_resamples_keep_whole_patients(clustered):
    y, scores, patients = clustered
    seen_sizes = []

    def count_images(y_true, y_score):
        seen_sizes.append(len(y_true))
        return float(np.mean(y_score))

    bootstrap_ci(
        count_images, y, scores, groups=patients, n_resamples=20, random_state=0
    )
    assert len(seen_sizes) == 21  # the estimate + 20 resamples
    assert all(size % 4 == 0 for size in seen_sizes)


def test_percentile_interval_by_hand():
    y = np.array(["MALIGNANT", "BENIGN"] * 10)
    pred = np.array(["MALIGNANT"] * 20)
    r = bootstrap_ci(sensitivity_score, y, pred, n_resamples=50, random_state=0)
    # Sensitivity is 1 on every resample that holds a malignant case.
    assert r.estimate == 1.0 and r.ci == (1.0, 1.0) and r.n_failed == 0
    rng = np.random.RandomState(0)
    values = rng.random_sample(30)
    r = bootstrap_ci(
        lambda t, v: float(np.mean(v)), values, values, n_resamples=200, random_state=3
    )
    rng = np.random.RandomState(3)
    manual = [values[rng.randint(30, size=30)].mean() for _ in range(200)]
    assert r.ci == pytest.approx(tuple(np.quantile(manual, [0.025, 0.975])))


def test_undefined_resamples_are_counted_and_warned():
    y = np.array(["MALIGNANT"] + ["BENIGN"] * 9)
    scores = np.linspace(0, 1, 10)
    with pytest.warns(RuntimeWarning, match="undefined on"):
        r = bootstrap_ci("roc_auc", y, scores, n_resamples=100, random_state=0)
    assert 0 < r.n_failed < 50
    assert r.distribution.size == 100 - r.n_failed

    def needs_distinct_cases(y_true, y_score):
        if len(set(y_score)) < len(y_score):
            raise ValueError("duplicated case")
        return 0.5

    # Nearly every resample repeats a case: too few defined replicates for a CI.
    with pytest.raises(ValueError, match="too few patients"):
        bootstrap_ci(needs_distinct_cases, y, scores, n_resamples=20, random_state=0)


@pytest.mark.parametrize("method", ["holm", "bonferroni"])
def test_adjust_pvalues_matches_statsmodels(method):
    p = np.array([0.001, 0.02, 0.04, 0.3, 0.012])
    ours = adjust_pvalues(p, method=method, alpha=0.05)
    reject, adjusted, _, _ = multipletests(p, alpha=0.05, method=method)
    np.testing.assert_allclose(ours.pvalues_adjusted, adjusted)
    np.testing.assert_array_equal(ours.reject, reject)
    assert ours.n_tests == 5


def test_adjust_pvalues_leaves_nan_out_of_the_family():
    ours = adjust_pvalues([0.01, np.nan, 0.04], method="bonferroni")
    np.testing.assert_allclose(ours.pvalues_adjusted, [0.02, np.nan, 0.08])
    assert ours.n_tests == 2 and not ours.reject[1]
    with pytest.raises(ValueError, match="method"):
        adjust_pvalues([0.1], method="fdr")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust_pvalues([1.5])


def test_undefined_ratio_resamples_are_dropped_not_zero():
    # Sensitivity is exactly 1.0; a resample without malignant cases has no
    # sensitivity. Counted as 0.0 those resamples pulled the interval to 0.
    y = np.r_[1, 1, 1, np.zeros(27, int)]
    with pytest.warns(RuntimeWarning, match="undefined on"):
        r = bootstrap_ci("sensitivity", y, y.copy(), n_resamples=2000, random_state=0)
    assert r.ci == (1.0, 1.0)
    assert r.n_failed > 0 and r.distribution.size == 2000 - r.n_failed
    # Reference: the same resamples drawn by hand, keeping only those with a
    # malignant case; (27/30)^30 of them (about 4%) have none.
    rng = np.random.RandomState(0)
    drawn = [rng.randint(30, size=30) for _ in range(2000)]
    assert r.n_failed == sum(1 for d in drawn if y[d].sum() == 0)
    assert 0.02 < r.n_failed / 2000 < 0.07
    # PPV of a model that rarely calls malignant: no calls, no PPV.
    calls = np.r_[1, np.zeros(29, int)]
    with pytest.warns(RuntimeWarning, match="undefined on"):
        ppv = bootstrap_ci("ppv", y, calls, n_resamples=500, random_state=1)
    assert ppv.ci == (1.0, 1.0) and ppv.n_failed > 0


def test_nan_patient_ids_are_an_error_not_one_merged_patient():
    # Issue 22: three NaN ids were merged into one patient (n_clusters 18).
    groups = np.arange(20.0)
    groups[[3, 7, 12]] = np.nan
    with pytest.raises(ValueError, match="groups has 3 missing"):
        bootstrap_ci(
            "roc_auc", np.array([0, 1] * 10), np.linspace(0, 1, 20), groups=groups
        )


def test_an_infinite_pvalue_is_an_error_not_dropped_from_the_family():
    # Issue 22: inf was left out of the family and 0.03 left unadjusted.
    with pytest.raises(ValueError, match=r"\[0, 1\] or be NaN"):
        adjust_pvalues([np.inf, 0.03])
    assert adjust_pvalues([np.nan, 0.03]).n_tests == 1  # NaN: undefined, documented
