"""Paired tests of two models' cross-validation fold scores.

Every function takes the scores of model A and model B on the *same* folds
(index ``i`` of both arrays is the same train/test split) and tests the mean
difference ``A - B``.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy import stats as _st
from sklearn.utils._param_validation import Interval, StrOptions

from mammoclf.stats._numerics import (
    RELATIVE_TOLERANCE,
    as_real,
    is_round_off,
    snap_to_tolerance,
)
from mammoclf.stats._results import HypothesisTestResult
from mammoclf.utils._validation import (
    CONFIDENCE_LEVEL,
    WRAPPER_FRAMES,
    validate_params,
)

__all__ = [
    "corrected_resampled_ttest",
    "corrected_variance_factor",
    "f_test_5x2cv",
    "paired_ttest",
    "paired_ttest_5x2cv",
    "wilcoxon_test",
]

_ALTERNATIVES = ("two-sided", "greater", "less")

# Parameter constraints shared by the paired tests (see validate_params).
_SCORES = {"scores_a": ["array-like"], "scores_b": ["array-like"]}
_NAMES = {"labels": [tuple, list], "metric": [str]}
_ALTERNATIVE = {"alternative": [StrOptions(set(_ALTERNATIVES))]}
# One size for every split (a mean size may be fractional), or one per split,
# whose items _test_train_ratio checks.
_SIZES = {
    "n_train": [Interval(Real, 0, None, closed="neither"), "array-like"],
    "n_test": [Interval(Real, 0, None, closed="neither"), "array-like"],
}


def _check_paired(scores_a, scores_b, *, min_pairs=2, shape=None):
    a = as_real(scores_a, "scores_a")
    b = as_real(scores_b, "scores_b")
    if a.shape != b.shape:
        raise ValueError(
            f"Paired scores must have the same shape; got {a.shape} and {b.shape}."
        )
    if shape is not None and a.shape != shape:
        raise ValueError(
            f"Expected scores of shape {shape} (replications x folds); got {a.shape}."
        )
    if shape is None and a.ndim != 1:
        raise ValueError(f"Expected 1-D arrays of fold scores; got shape {a.shape}.")
    if a.size < min_pairs:
        raise ValueError(f"Need at least {min_pairs} paired scores; got {a.size}.")
    for name, values in (("scores_a", a), ("scores_b", b)):
        if not np.all(np.isfinite(values)):
            bad = np.argwhere(~np.isfinite(values))[0]
            where = ", ".join(str(int(i)) for i in bad)
            raise ValueError(f"{name} has a non-finite score at index {where}.")
    return a, b


def _compared(labels, metric, n, unit="paired folds"):
    first, second = labels
    return f"{metric}: {first!r} vs {second!r} ({n} {unit})"


def _t_result(test, mean, se, dof, *, alternative, confidence_level, compared, details):
    """t statistic, p-value and CI of the mean difference from its standard error."""
    # Differences equal up to float round-off (1e-17 spread) would give an
    # absurd t of 1e16; treat them as exactly constant. The interval is then
    # undefined too: a zero-width CI would claim certainty the data lack.
    if is_round_off(se, mean):
        warnings.warn(
            f"{test}: the fold-score differences have zero variance, so the t "
            "statistic and its confidence interval are undefined (NaN).",
            RuntimeWarning,
            stacklevel=3 + WRAPPER_FRAMES,
        )
        t = pvalue = np.nan
        ci = (np.nan, np.nan)
    else:
        t = mean / se
        distribution = _st.t(dof)
        if alternative == "two-sided":
            pvalue = 2 * distribution.sf(abs(t))
        elif alternative == "greater":
            pvalue = distribution.sf(t)
        else:
            pvalue = distribution.cdf(t)
        half = distribution.ppf(0.5 + confidence_level / 2) * se
        ci = (mean - half, mean + half)
    return HypothesisTestResult(
        test=test,
        compared=compared,
        statistic=float(t),
        pvalue=float(pvalue),
        statistic_name="t",
        df=float(dof),
        effect_size=float(mean),
        effect_size_name="mean difference (A - B)",
        ci=(float(ci[0]), float(ci[1])),
        confidence_level=confidence_level,
        alternative=alternative,
        details=details,
    )


@validate_params(
    {
        **_SCORES,
        **_ALTERNATIVE,
        "confidence_level": CONFIDENCE_LEVEL,
        **_NAMES,
    },
    prefer_skip_nested_validation=True,
)
def paired_ttest(
    scores_a,
    scores_b,
    *,
    alternative="two-sided",
    confidence_level=0.95,
    labels=("A", "B"),
    metric="score",
):
    """Student's paired t-test on fold scores (the naive one).

    ``t = mean(d) / (sd(d) / sqrt(J))`` with ``J - 1`` degrees of freedom,
    where ``d`` are the ``J`` per-fold differences ``A - B``. Identical to
    :func:`scipy.stats.ttest_rel`.

    **Anti-conservative on cross-validation folds.** The test assumes the
    ``J`` differences are independent. CV folds share most of their
    training data (and repeated CV reuses test images), so the differences
    are positively correlated, the variance is underestimated and the false
    positive rate far exceeds the nominal level (Dietterich 1998; Nadeau and
    Bengio 2003). It is here because studies report it; prefer
    :func:`corrected_resampled_ttest` for (repeated) k-fold scores.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (n_folds,)
        Scores of models A and B on the same folds.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        ``"greater"`` tests whether A scores higher than B.
    confidence_level : float, default=0.95
        Level of the confidence interval of the mean difference.
    labels : tuple of (str, str), default=("A", "B")
        Names of the two models, for the result's ``compared``.
    metric : str, default="score"
        Name of the metric, for the result's ``compared``.

    Returns
    -------
    result : HypothesisTestResult
        ``effect_size`` is the mean difference, with its t-based CI;
        ``details["cohens_dz"]`` is ``mean(d) / sd(d)``.

    Examples
    --------
    >>> from mammoclf.stats import paired_ttest
    >>> r = paired_ttest([0.81, 0.84, 0.79, 0.86, 0.83], [0.78, 0.80, 0.80, 0.82, 0.79])
    >>> round(r.statistic, 3), round(r.pvalue, 3)
    (2.888, 0.045)
    """
    a, b = _check_paired(scores_a, scores_b)
    d = a - b
    sd = d.std(ddof=1)
    return _t_result(
        "Paired t-test (naive, assumes independent folds)",
        d.mean(),
        sd / np.sqrt(d.size),
        d.size - 1,
        alternative=alternative,
        confidence_level=confidence_level,
        compared=_compared(labels, metric, d.size),
        details={"cohens_dz": np.nan if is_round_off(sd, d) else float(d.mean() / sd)},
    )


@validate_params(
    {
        **_SCORES,
        **_SIZES,
        **_ALTERNATIVE,
        "confidence_level": CONFIDENCE_LEVEL,
        **_NAMES,
    },
    prefer_skip_nested_validation=True,
)
def corrected_resampled_ttest(
    scores_a,
    scores_b,
    *,
    n_train,
    n_test,
    alternative="two-sided",
    confidence_level=0.95,
    labels=("A", "B"),
    metric="score",
):
    """Nadeau and Bengio's corrected resampled t-test on fold scores.

    ``t = mean(d) / sqrt((1 / J + n_test / n_train) * var(d))`` with ``J - 1``
    degrees of freedom (Nadeau and Bengio 2003; Bouckaert and Frank 2004),
    where ``d`` are the ``J`` per-split differences ``A - B`` over all folds
    of all repeats. The ``n_test / n_train`` term inflates the variance to
    account for the overlap of training sets between splits, which makes
    the naive :func:`paired_ttest` anti-conservative.

    Assumptions and caveats: the correction is a heuristic derived for
    random train/test splits; it is approximately right for (repeated)
    k-fold CV, where ``n_test / n_train = 1 / (k - 1)``. It assumes the
    differences are roughly normal. Splits must be the same for A and B.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (n_splits,)
        Scores of models A and B on the same splits.
    n_train, n_test : int or array-like of int
        Training and test set sizes; per-split arrays are averaged.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        ``"greater"`` tests whether A scores higher than B.
    confidence_level : float, default=0.95
        Level of the confidence interval of the mean difference, which uses
        the same corrected variance.
    labels : tuple of (str, str), default=("A", "B")
        Names of the two models.
    metric : str, default="score"
        Name of the metric.

    Returns
    -------
    result : HypothesisTestResult

    Examples
    --------
    >>> from mammoclf.stats import corrected_resampled_ttest
    >>> a = [0.81, 0.84, 0.79, 0.86, 0.83]
    >>> b = [0.78, 0.80, 0.80, 0.82, 0.79]
    >>> r = corrected_resampled_ttest(a, b, n_train=80, n_test=20)
    >>> round(r.statistic, 3), round(r.pvalue, 3)  # smaller than the naive t
    (1.925, 0.126)
    """
    a, b = _check_paired(scores_a, scores_b)
    d = a - b
    ratio = _test_train_ratio(n_train, n_test)
    factor = corrected_variance_factor(d.size, n_train=n_train, n_test=n_test)
    se = np.sqrt(factor * d.var(ddof=1))
    return _t_result(
        "Nadeau-Bengio corrected resampled t-test",
        d.mean(),
        se,
        d.size - 1,
        alternative=alternative,
        confidence_level=confidence_level,
        compared=_compared(labels, metric, d.size),
        details={"test_train_ratio": ratio},
    )


@validate_params(
    {"n_splits": [Interval(Integral, 1, None, closed="left")], **_SIZES},
    prefer_skip_nested_validation=True,
)
def corrected_variance_factor(n_splits, *, n_train, n_test):
    """Nadeau and Bengio's factor ``1 / J + n_test / n_train`` of a fold-score variance.

    The variance of the mean of ``J`` cross-validation fold scores is
    ``factor * s^2`` (``s^2`` their sample variance): ``1 / J`` alone would
    treat the folds as independent, and ``n_test / n_train`` accounts for
    the overlap of their training sets. :func:`corrected_resampled_ttest`
    and the ``"corrected_t"`` intervals of
    :meth:`~mammoclf.model_selection.ComparisonResult.summary_frame` use it.

    Parameters
    ----------
    n_splits : int
        Number of splits ``J`` (all folds of all repeats).
    n_train, n_test : int or array-like of int
        Training and test set sizes; per-split arrays are averaged.

    Returns
    -------
    factor : float

    Examples
    --------
    >>> from mammoclf.stats import corrected_variance_factor
    >>> corrected_variance_factor(10, n_train=80, n_test=20)  # 1/10 + 20/80
    0.35
    """
    if isinstance(n_splits, bool) or not isinstance(n_splits, Integral) or n_splits < 1:
        raise ValueError(f"n_splits must be a positive integer; got {n_splits!r}.")
    return 1 / n_splits + _test_train_ratio(n_train, n_test)


def _test_train_ratio(n_train, n_test):
    train = np.asarray(n_train, dtype=np.float64)
    test = np.asarray(n_test, dtype=np.float64)
    if train.size == 0 or test.size == 0:
        raise ValueError("n_train and n_test must not be empty.")
    if not (np.all(np.isfinite(train)) and np.all(np.isfinite(test))):
        raise ValueError("n_train and n_test must be finite.")
    if np.any(train <= 0) or np.any(test <= 0):
        raise ValueError("n_train and n_test must be positive.")
    return float(test.mean() / train.mean())


def _five_by_two(scores_a, scores_b):
    a, b = _check_paired(scores_a, scores_b, shape=(5, 2))
    d = a - b
    mean_per_replication = d.mean(axis=1, keepdims=True)
    variances = ((d - mean_per_replication) ** 2).sum(axis=1)
    # The same relative tolerance as the other t-tests: within-replication
    # spreads of 1e-17 are round-off, not variance (else t = 1e15).
    degenerate = is_round_off(np.sqrt(variances.mean()), d)
    return d, variances, degenerate


@validate_params({**_SCORES, **_NAMES}, prefer_skip_nested_validation=True)
def paired_ttest_5x2cv(scores_a, scores_b, *, labels=("A", "B"), metric="score"):
    """Dietterich's 5x2cv paired t-test.

    Five replications of 2-fold CV; ``d[i, j]`` is the difference ``A - B``
    on fold ``j`` of replication ``i`` and ``s_i^2 = sum_j (d[i, j] -
    mean_j d[i, j])^2``. Then ``t = d[0, 0] / sqrt(sum_i s_i^2 / 5)`` follows
    approximately a t distribution with 5 degrees of freedom (Dietterich
    1998). Two-sided. It keeps its nominal type I error better than the
    naive t-test, but depends on which fold comes first (see
    :func:`f_test_5x2cv`, which uses all ten differences) and has low power;
    each model is trained on half of the data only.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (5, 2)
        Scores per replication (row) and fold (column), e.g. from
        ``compare_models(..., cv=2, n_repeats=5)``.
    labels : tuple of (str, str), default=("A", "B")
        Names of the two models.
    metric : str, default="score"
        Name of the metric.

    Returns
    -------
    result : HypothesisTestResult
        ``effect_size`` is the mean of the ten differences.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.stats import paired_ttest_5x2cv
    >>> a = np.array([[.80, .82], [.79, .81], [.83, .80], [.81, .82], [.80, .84]])
    >>> b = a - np.array([[.03, .01], [.02, .03], [.01, .02], [.04, .02], [.02, .02]])
    >>> r = paired_ttest_5x2cv(a, b)  # d[0, 0] / sqrt(mean_i s_i^2) = 0.03 / 0.01
    >>> round(r.statistic, 3), round(r.pvalue, 4)
    (3.0, 0.0301)
    """
    d, variances, degenerate = _five_by_two(scores_a, scores_b)
    denominator = np.sqrt(variances.mean())
    if degenerate:
        warnings.warn(
            "5x2cv t-test: all within-replication variances are zero (up to "
            "round-off); the statistic is undefined (NaN).",
            RuntimeWarning,
            stacklevel=2 + WRAPPER_FRAMES,
        )
        t = pvalue = np.nan
    else:
        t = d[0, 0] / denominator
        pvalue = 2 * _st.t(5).sf(abs(t))
    return HypothesisTestResult(
        test="Dietterich 5x2cv paired t-test",
        compared=_compared(labels, metric, 10, "paired 5x2cv folds"),
        statistic=float(t),
        pvalue=float(pvalue),
        statistic_name="t",
        df=5.0,
        effect_size=float(d.mean()),
        effect_size_name="mean difference (A - B)",
        details={"variances": variances.tolist()},
    )


@validate_params({**_SCORES, **_NAMES}, prefer_skip_nested_validation=True)
def f_test_5x2cv(scores_a, scores_b, *, labels=("A", "B"), metric="score"):
    """Alpaydin's combined 5x2cv F-test.

    With ``d`` and ``s_i^2`` as in :func:`paired_ttest_5x2cv`,
    ``F = sum_ij d[i, j]^2 / (2 sum_i s_i^2)`` follows approximately an F
    distribution with (10, 5) degrees of freedom under the null hypothesis
    of equal performance (Alpaydin 1999). It combines all ten differences,
    so it does not depend on fold order, and has lower type I error and
    higher power than the 5x2cv t-test. Two-sided by construction (the
    differences are squared).

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (5, 2)
        Scores per replication (row) and fold (column).
    labels : tuple of (str, str), default=("A", "B")
        Names of the two models.
    metric : str, default="score"
        Name of the metric.

    Returns
    -------
    result : HypothesisTestResult

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.stats import f_test_5x2cv
    >>> a = np.array([[.80, .82], [.79, .81], [.83, .80], [.81, .82], [.80, .84]])
    >>> b = a - np.array([[.03, .01], [.02, .03], [.01, .02], [.04, .02], [.02, .02]])
    >>> r = f_test_5x2cv(a, b)  # sum d^2 / (2 sum s_i^2) = 0.0056 / 0.001
    >>> round(r.statistic, 2), round(r.pvalue, 4)
    (5.6, 0.0355)
    """
    d, variances, degenerate = _five_by_two(scores_a, scores_b)
    denominator = 2 * variances.sum()
    if degenerate:
        warnings.warn(
            "5x2cv F-test: all within-replication variances are zero (up to "
            "round-off); the statistic is undefined (NaN).",
            RuntimeWarning,
            stacklevel=2 + WRAPPER_FRAMES,
        )
        f = pvalue = np.nan
    else:
        f = (d**2).sum() / denominator
        pvalue = _st.f(10, 5).sf(f)
    return HypothesisTestResult(
        test="Alpaydin combined 5x2cv F-test",
        compared=_compared(labels, metric, 10, "paired 5x2cv folds"),
        statistic=float(f),
        pvalue=float(pvalue),
        statistic_name="F",
        df=(10.0, 5.0),
        effect_size=float(d.mean()),
        effect_size_name="mean difference (A - B)",
        details={"variances": variances.tolist()},
    )


@validate_params(
    {**_SCORES, **_ALTERNATIVE, **_NAMES}, prefer_skip_nested_validation=True
)
def wilcoxon_test(
    scores_a, scores_b, *, alternative="two-sided", labels=("A", "B"), metric="score"
):
    """Wilcoxon signed-rank test on paired fold scores.

    A rank test of whether the differences ``A - B`` are symmetric about
    zero; it needs no normality but, like the naive t-test, assumes
    independent pairs, which CV folds are not. Zero differences are dropped
    (``zero_method="wilcox"``), as in :func:`scipy.stats.wilcoxon`, whose
    statistic (the smaller rank sum for two-sided tests) and p-value are
    returned. With few folds the exact p-value cannot be small: with 5
    non-zero differences the smallest two-sided p-value is 0.0625, so
    5-fold CV can never reach p < 0.05.

    Ties: tied absolute differences get midranks (Wilcoxon 1945; Hollander,
    Wolfe and Chicken 2014, ch. 3). Differences that are equal on paper
    often differ in binary floating point (``0.9 - 0.8`` and ``0.7 - 0.8``
    are 0.1 and -0.1 up to 1e-17), so the differences are first rounded to
    a grid of ``1e-12`` times the scores' scale (their largest magnitude,
    at least 1): magnitudes within that tolerance tie, and differences
    within it of zero count as zeros.

    p-values are scipy's: the exact null distribution for up to 50 pairs
    without ties or zeros; the exact permutation distribution of the
    midrank statistic for up to 13 pairs with ties or zeros; otherwise the
    normal approximation with the tie-corrected variance and **without**
    continuity correction (scipy's default). R's ``wilcox.test`` applies a
    continuity correction of 1/2 by default and uses the normal
    approximation whenever there are ties, so its p-values differ somewhat
    on such data.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (n_folds,)
        Scores of models A and B on the same folds.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        ``"greater"`` tests whether A scores higher than B.
    labels : tuple of (str, str), default=("A", "B")
        Names of the two models.
    metric : str, default="score"
        Name of the metric.

    Returns
    -------
    result : HypothesisTestResult
        ``effect_size`` is the matched-pairs rank-biserial correlation
        ``(R+ - R-) / (R+ + R-)`` (Kerby 2014), in [-1, 1].

    Examples
    --------
    >>> from mammoclf.stats import wilcoxon_test
    >>> r = wilcoxon_test([0.81, 0.84, 0.79, 0.86, 0.83, 0.85],
    ...                   [0.78, 0.80, 0.80, 0.82, 0.79, 0.80])
    >>> r.statistic, round(r.pvalue, 4), round(r.effect_size, 3)
    (1.0, 0.0625, 0.905)
    """
    a, b = _check_paired(scores_a, scores_b)
    d = snap_to_tolerance(a - b, a, b)
    nonzero = d[d != 0]
    if nonzero.size == 0:
        # Like the t-tests on zero variance: an undefined result, not an
        # error, so a table of many pairs still gets its other rows.
        warnings.warn(
            "All paired differences are zero: the Wilcoxon test is undefined "
            "(statistic and p-value are NaN).",
            RuntimeWarning,
            stacklevel=2 + WRAPPER_FRAMES,
        )
        return HypothesisTestResult(
            test="Wilcoxon signed-rank test",
            compared=_compared(labels, metric, d.size),
            statistic=np.nan,
            pvalue=np.nan,
            statistic_name="W",
            effect_size=np.nan,
            effect_size_name="rank-biserial correlation",
            alternative=alternative,
            details={"n_nonzero": 0, "undefined": "all paired differences are zero"},
        )
    result = _st.wilcoxon(d, zero_method="wilcox", alternative=alternative)
    ranks = _st.rankdata(np.abs(nonzero))
    r_plus, r_minus = ranks[nonzero > 0].sum(), ranks[nonzero < 0].sum()
    return HypothesisTestResult(
        test="Wilcoxon signed-rank test",
        compared=_compared(labels, metric, d.size),
        statistic=float(result.statistic),
        pvalue=float(result.pvalue),
        statistic_name="W",
        effect_size=float((r_plus - r_minus) / (r_plus + r_minus)),
        effect_size_name="rank-biserial correlation",
        alternative=alternative,
        details={
            "n_nonzero": int(nonzero.size),
            "median_difference": float(np.median(d)),
            "tie_tolerance": RELATIVE_TOLERANCE,
        },
    )
