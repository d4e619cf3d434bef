"""Confidence intervals that stay inside the range of what they estimate."""

from numbers import Real
from typing import NamedTuple

import numpy as np
from scipy import stats as _st
from sklearn.utils._param_validation import Interval, StrOptions

from mammoclf.stats._numerics import as_real, is_round_off
from mammoclf.stats._paired import corrected_variance_factor
from mammoclf.utils._validation import CONFIDENCE_LEVEL, validate_params

__all__ = [
    "FOLD_MEAN_METHODS",
    "FOLD_MEAN_SCALES",
    "FoldMeanInterval",
    "bounded_difference_ci",
    "conditional_difference_ci",
    "fold_mean_ci",
    "score_difference_ci",
]


def bounded_difference_ci(difference, standard_error, confidence_level):
    """Wald interval of a difference in ``[-1, 1]``, built on the atanh scale.

    A difference of two AUCs or of two accuracies lies in ``[-1, 1]``, but
    ``difference +/- z * SE`` can leave it (e.g. ``0.8 +/- 0.35``). Here the
    interval is ``tanh(atanh(d) +/- z * SE / (1 - d^2))``: the normal
    interval on the Fisher z (atanh) scale, with the standard error carried
    over by the delta method, mapped back. It lies inside ``(-1, 1)``, is
    asymmetric towards the nearer bound, and is the Wald interval to first
    order when ``d`` is near 0. As it is not symmetric about ``d``, near
    ``p = 0.05`` it can include 0 while the (untransformed) z test rejects;
    it never excludes 0 while the test does not reject.

    Parameters
    ----------
    difference : float
        The estimate, in ``[-1, 1]``.
    standard_error : float
        Its standard error on the original scale.
    confidence_level : float
        Level of the interval.

    Returns
    -------
    ci : tuple of (float, float)
        ``(nan, nan)`` when the standard error is zero or not finite, or
        ``|difference| = 1``: no interval is defined there, and a zero-width
        one would claim certainty the data do not give.
    """
    if not (np.isfinite(standard_error) and standard_error > 0) or abs(difference) >= 1:
        return (np.nan, np.nan)
    z = _st.norm.ppf(0.5 + confidence_level / 2)
    center = np.arctanh(difference)
    half = z * standard_error / (1 - difference**2)
    return (float(np.tanh(center - half)), float(np.tanh(center + half)))


def conditional_difference_ci(b, c, n, kind, confidence_level):
    """Interval of ``(b - c) / n`` that inverts the image-level McNemar test.

    Conditional on the ``m = b + c`` discordant images, McNemar's test is a
    test of ``pi = b / m = 1/2``: the exact binomial test, or the score
    (chi-square) test with or without continuity correction. Their inverses
    are the Clopper-Pearson, Wilson and continuity-corrected Wilson intervals
    of ``pi`` (Newcombe 1998, *Stat Med* 17:857-872); with ``d = (m / n) (2
    pi - 1)`` they give an interval of the accuracy difference that contains
    0 exactly when the matching test does not reject at ``1 -
    confidence_level`` (the conditional interval of Newcombe 1998, *Stat
    Med* 17:2635-2650). It treats ``m / n`` as known, so it is narrower than
    an unconditional interval when discordance is rare.

    Parameters
    ----------
    b, c, n : int
        Discordant counts (A right and B wrong, and the reverse), and images.
    kind : {"exact", "wilson", "corrected"}
        Which test it inverts.
    confidence_level : float

    Returns
    -------
    ci : tuple of (float, float)
        ``(nan, nan)`` without discordant images (``b + c = 0``).
    """
    from statsmodels.stats.proportion import proportion_confint

    m = b + c
    if m == 0:
        return (np.nan, np.nan)
    alpha = 1 - confidence_level
    if kind == "corrected":
        low, high = _wilson_corrected(b, m, _st.norm.ppf(1 - alpha / 2))
    else:
        method = "beta" if kind == "exact" else "wilson"
        low, high = proportion_confint(b, m, alpha=alpha, method=method)
    share = m / n
    return (float(share * (2 * low - 1)), float(share * (2 * high - 1)))


def _wilson_corrected(x, m, z):
    """Wilson's interval with continuity correction (Newcombe 1998, method 4)."""
    p = x / m
    denominator = 2 * (m + z**2)
    low = (
        0.0
        if x == 0
        else (
            2 * m * p
            + z**2
            - 1
            - z * np.sqrt(z**2 - 2 - 1 / m + 4 * p * (m * (1 - p) + 1))
        )
        / denominator
    )
    high = (
        1.0
        if x == m
        else (
            2 * m * p
            + z**2
            + 1
            + z * np.sqrt(z**2 + 2 - 1 / m + 4 * p * (m * (1 - p) - 1))
        )
        / denominator
    )
    return max(low, 0.0), min(high, 1.0)


def score_difference_ci(units, weights, factor, confidence_level):
    """Interval of ``sum(u) / sum(w)`` that inverts a clustered McNemar test.

    The clustered tests have the statistic ``T(0) = (sum u_k)^2 / (f sum
    u_k^2)``: Obuchowski's with ``u_k = d_k``, ``w_k = n_k``, ``f = K / (K -
    1)``, Durkalski's with ``u_k = d_k / n_k``, ``w_k = 1``, ``f = 1``. The
    interval is every ``delta`` with ``T(delta) = (sum u_k - delta sum
    w_k)^2 / (f sum (u_k - delta w_k)^2) <= chi2_1(level)``: the variance of
    the test, evaluated at each hypothesised difference (a score-type
    interval). So it contains 0 exactly when the test does not reject. The
    set is the solution of a quadratic inequality, clipped to ``[-1, 1]``.

    Returns
    -------
    ci : tuple of (float, float)
        ``(nan, nan)`` when every ``u_k`` is zero (the test is 0/0).
    note : str or None
        Set when, with very few patients, the solution set is not one
        interval and its hull is returned.
    """
    units = np.asarray(units, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if not np.any(units):
        return (np.nan, np.nan), None
    crit = factor * _st.chi2(1).ppf(confidence_level)
    total_u, total_w = units.sum(), weights.sum()
    a = total_w**2 - crit * np.sum(weights**2)
    half_b = total_u * total_w - crit * np.sum(units * weights)
    const = total_u**2 - crit * np.sum(units**2)
    estimate = total_u / total_w
    if a > 0:  # q(delta) = a delta^2 - 2 half_b delta + const <= 0 between roots
        root = np.sqrt(max(half_b**2 - a * const, 0.0))
        low, high = (half_b - root) / a, (half_b + root) / a
        return (float(max(low, -1.0)), float(min(high, 1.0))), None
    # Few patients: the set is unbounded on the -1 or 1 side (or both); on
    # [-1, 1] it is one or two pieces. Return the hull of the pieces.
    grid = np.linspace(-1, 1, 4001)
    inside = a * grid**2 - 2 * half_b * grid + const <= 0
    inside |= np.isclose(grid, estimate, atol=5e-4)
    low, high = float(grid[inside].min()), float(grid[inside].max())
    note = None
    if const > 0 and low < 0 < high:
        note = (
            "With so few patients the set of differences the test does not "
            "reject is two pieces; the interval is their hull and contains 0 "
            "although the test rejects."
        )
    return (low, high), note


#: Scales of :func:`fold_mean_ci`: where the t interval is built.
FOLD_MEAN_SCALES = ("logit", "identity")

#: Intervals of :func:`fold_mean_ci` on ``scale="logit"``.
FOLD_MEAN_METHODS = ("korn_graubard", "logit_t")


class FoldMeanInterval(NamedTuple):
    """Mean of the defined fold scores of one metric, with its interval."""

    mean: float
    sd: float
    ci_low: float
    ci_high: float
    n_defined: int
    n_splits: int
    method: str


@validate_params(
    {
        "scores": ["array-like"],
        # Both or neither (checked below); one size, or one per split.
        "n_train": [Interval(Real, 0, None, closed="neither"), "array-like", None],
        "n_test": [Interval(Real, 0, None, closed="neither"), "array-like", None],
        "scale": [StrOptions(set(FOLD_MEAN_SCALES))],
        "method": [StrOptions(set(FOLD_MEAN_METHODS))],
        "confidence_level": CONFIDENCE_LEVEL,
    },
    prefer_skip_nested_validation=True,
)
def fold_mean_ci(
    scores,
    *,
    n_train=None,
    n_test=None,
    scale="logit",
    method="korn_graubard",
    confidence_level=0.95,
):
    """Confidence interval of the mean of cross-validation fold scores.

    The t interval of the mean of the ``J`` defined fold scores (NaN
    scores, folds where the metric is undefined, are left out and
    counted), with the Nadeau and Bengio (2003) corrected variance
    ``(1 / J + n_test / n_train) s^2`` when ``n_train`` and ``n_test`` are
    given (the overlap of training sets makes ``s^2 / J`` too small), else
    the naive ``s^2 / J``; ``J - 1`` degrees of freedom.

    ``scale="identity"`` is ``mean +/- t SE``, which can leave ``[0, 1]``
    for a metric near a bound (e.g. PPV ``[-0.42, 1.11]`` on a small data
    set). ``scale="logit"`` builds the same interval on the logit scale,
    with the standard error carried over by the delta method,
    ``expit(logit(m) +/- t SE / (m (1 - m)))``: it lies inside ``(0, 1)``,
    stretches towards the farther bound, and equals the identity interval
    to first order for a mean near 0.5 (the logit interval for a
    proportion, discussed by Brown, Cai and DasGupta 2001, *Statistical
    Science* 16:101-133, here applied to a mean of fold scores).
    Use it for metrics bounded by ``[0, 1]``: every clinical metric of
    :mod:`mammoclf.metrics`.

    **Korn-Graubard (``method="korn_graubard"``, the default on the logit
    scale).** Wilson's score interval (Wilson 1927) of a proportion
    ``mean`` of ``n* = mean (1 - mean) / var`` cases, with ``var`` the
    (corrected) variance of the mean and the ``t_{J-1}`` critical value:
    the effective sample size of Korn and Graubard (1998, *Survey
    Methodology* 24:193-201). With ``n_train`` and ``n_test``, ``n*`` is
    capped at ``n_eff = n_test / (1 / J + n_test / n_train)``, the number
    of test images whose binomial variance equals the Nadeau-Bengio
    corrected variance of a mean of fold proportions: folds that agree by
    chance (every fold 1.0, which happens in a quarter of 5-fold runs of a
    metric whose true value is 0.98) or nearly agree then get the interval
    of ``n_eff`` images rather than none or an absurdly narrow one. It
    stays inside ``[0, 1]`` and reaches the bound the mean sits on. For a
    metric whose denominator is a subset of the test images (sensitivity
    counts malignant ones only), ``n_eff`` is an upper bound. The coverage
    table in ``docs/user_guide/evaluation.md`` shows it covers at
    0.977-0.996 for accuracies 0.5-0.98, narrower than ``logit_t`` near 1.

    **Logit t (``method="logit_t"``).** The corrected t interval on the
    logit scale above; where the folds agree, the Wilson interval at
    ``n_eff`` (``method`` then says so). Where the folds nearly agree it
    can be far too narrow (``[0.95] * 4 + [18 / 19]`` gives ``[0.947,
    0.952]`` from 100 test images).

    Otherwise the interval is NaN when it is undefined: fewer than 2
    defined folds, or a standard deviation of zero on the identity scale or
    without ``n_train`` and ``n_test`` (a zero-width interval would claim
    certainty the folds do not give).

    Parameters
    ----------
    scores : array-like of shape (n_splits,)
        The metric in each split; NaN where it is undefined.
    n_train, n_test : int or array-like of int, default=None
        Training and test set sizes (per-split arrays are averaged), for
        the corrected variance; both or neither.
    scale : {"logit", "identity"}, default="logit"
        Where the interval is built; ``"logit"`` needs scores in ``[0, 1]``.
    method : {"korn_graubard", "logit_t"}, default="korn_graubard"
        The interval on ``scale="logit"`` (ignored on ``"identity"``).
    confidence_level : float, default=0.95
        Level of the interval.

    Returns
    -------
    interval : FoldMeanInterval
        Named tuple ``(mean, sd, ci_low, ci_high, n_defined, n_splits,
        method)``; ``method`` describes the interval for a caption.

    Examples
    --------
    >>> from mammoclf.stats import fold_mean_ci
    >>> ppv = [1.0, 0.5, float("nan"), 0.0, 1.0]       # fold 3: no malignant calls
    >>> r = fold_mean_ci(ppv, n_train=80, n_test=20)
    >>> r.n_defined, r.n_splits, round(r.mean, 3)
    (4, 5, 0.625)
    >>> 0 < r.ci_low < r.mean < r.ci_high < 1
    True
    >>> t = fold_mean_ci(ppv, n_train=80, n_test=20, scale="identity")
    >>> round(t.ci_low, 3), round(t.ci_high, 3)          # leaves [0, 1]
    (-0.452, 1.702)
    >>> near = [0.95, 0.95, 0.95, 0.95, 18 / 19]         # folds nearly agree
    >>> k = fold_mean_ci(near, n_train=80, n_test=20)
    >>> round(k.ci_low, 3), round(k.ci_high, 3)
    (0.776, 0.99)
    >>> lt = fold_mean_ci(near, n_train=80, n_test=20, method="logit_t")
    >>> round(lt.ci_low, 3), round(lt.ci_high, 3)        # far too narrow
    (0.947, 0.952)
    >>> a = fold_mean_ci([1.0] * 5, n_train=80, n_test=20)  # the folds agree
    >>> round(a.ci_low, 3), a.ci_high
    (0.852, 1.0)
    """
    if (n_train is None) != (n_test is None):
        raise ValueError("Give both n_train and n_test (corrected variance) or none.")
    values = as_real(scores, "scores").ravel()
    if np.any(np.isinf(values)):
        raise ValueError("scores must be finite or NaN (undefined); got infinity.")
    defined = values[~np.isnan(values)]
    if scale == "logit" and np.any((defined < 0) | (defined > 1)):
        raise ValueError(
            "scale='logit' needs scores in [0, 1]; use scale='identity' for "
            "unbounded metrics."
        )
    n = defined.size
    corrected = n_train is not None
    if corrected:  # validates the sizes even when no interval results
        corrected_variance_factor(1, n_train=n_train, n_test=n_test)
    caption = _method_name(scale, corrected, confidence_level, method)
    if n == 0:
        return FoldMeanInterval(np.nan, np.nan, np.nan, np.nan, 0, values.size, caption)
    mean = float(defined.mean())
    sd = float(defined.std(ddof=1)) if n > 1 else np.nan
    low = high = np.nan
    if n > 1:
        factor = (
            corrected_variance_factor(n, n_train=n_train, n_test=n_test)
            if corrected
            else 1 / n
        )
        t_crit = _st.t.ppf(0.5 + confidence_level / 2, n - 1)
        spread = not is_round_off(sd, defined)
        if scale == "logit" and method == "korn_graubard":
            n_cap = _mean_test_size(n_test) / factor if corrected else np.inf
            variance = factor * sd**2 if spread else 0.0
            low, high = _korn_graubard(mean, variance, n_cap, t_crit)
        elif spread:
            low, high = _t_interval(mean, sd * np.sqrt(factor) * t_crit, scale)
        elif scale == "logit" and corrected:
            # logit_t with folds that agree: the fold spread says nothing, so
            # the spread a proportion of the test images would have is used.
            low, high = _wilson(mean, _mean_test_size(n_test) / factor, t_crit)
            caption = _method_name(
                scale, corrected, confidence_level, method, fallback=True
            )
    return FoldMeanInterval(
        mean, sd, float(low), float(high), int(n), int(values.size), caption
    )


def _t_interval(mean, half, scale):
    """``mean +/- half``, on the logit scale by the delta method if asked."""
    if scale == "identity":
        return mean - half, mean + half
    if not 0 < mean < 1:
        return np.nan, np.nan
    center = np.log(mean / (1 - mean))
    half_logit = half / (mean * (1 - mean))
    return (
        float(_st.logistic.cdf(center - half_logit)),
        float(_st.logistic.cdf(center + half_logit)),
    )


def _korn_graubard(mean, variance, n_cap, critical):
    """Wilson interval at Korn and Graubard's effective sample size.

    ``n* = mean (1 - mean) / variance``, capped at ``n_cap`` (the number of
    test images whose binomial variance equals the corrected variance of a
    mean of fold proportions); ``n_cap`` itself when the folds agree.
    """
    n_star = n_cap if variance == 0 else min(mean * (1 - mean) / variance, n_cap)
    if not np.isfinite(n_star):
        return np.nan, np.nan
    return _wilson(mean, n_star, critical)


def _mean_test_size(n_test):
    return float(np.mean(np.asarray(n_test, dtype=np.float64)))


def _wilson(p, n_effective, critical):
    """Wilson's score interval of a proportion ``p`` of ``n_effective`` cases."""
    c2 = critical**2 / n_effective
    center = (p + c2 / 2) / (1 + c2)
    half = (
        critical
        / (1 + c2)
        * np.sqrt(p * (1 - p) / n_effective + c2 / (4 * n_effective))
    )
    low = 0.0 if p == 0 else max(center - half, 0.0)
    return low, 1.0 if p == 1 else min(center + half, 1.0)


def _method_name(scale, corrected, confidence_level, method, fallback=False):
    level = f"{100 * confidence_level:g}%"
    if fallback:
        return (
            f"{level} CI: the folds agree, so Wilson score interval at the "
            "Nadeau-Bengio effective number of test images (inside [0, 1])"
        )
    kind = "Nadeau-Bengio corrected" if corrected else "naive"
    if scale == "logit" and method == "korn_graubard":
        return (
            f"{level} CI: Korn-Graubard interval (Wilson score interval at the "
            f"effective number of test images, from the {kind} variance; "
            "inside [0, 1])"
        )
    kind = "Nadeau-Bengio corrected t" if corrected else "t"
    if scale == "logit":
        return f"{level} CI: {kind} interval on the logit scale (inside [0, 1])"
    return f"{level} CI: {kind} interval"
