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
    "FOLD_MEAN_SCALES",
    "FoldMeanInterval",
    "bounded_difference_ci",
    "fold_mean_ci",
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


#: Scales of :func:`fold_mean_ci`: where the t interval is built.
FOLD_MEAN_SCALES = ("logit", "identity")


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

    The interval is NaN when it is undefined: fewer than 2 defined folds, a
    standard deviation of zero (up to round-off; a zero-width interval
    would claim certainty the folds do not give), or, on the logit scale, a
    mean of exactly 0 or 1.

    Parameters
    ----------
    scores : array-like of shape (n_splits,)
        The metric in each split; NaN where it is undefined.
    n_train, n_test : int or array-like of int, default=None
        Training and test set sizes (per-split arrays are averaged), for
        the corrected variance; both or neither.
    scale : {"logit", "identity"}, default="logit"
        Where the interval is built; ``"logit"`` needs scores in ``[0, 1]``.
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
    method = _method_name(scale, corrected, confidence_level)
    if n == 0:
        return FoldMeanInterval(np.nan, np.nan, np.nan, np.nan, 0, values.size, method)
    mean = float(defined.mean())
    sd = float(defined.std(ddof=1)) if n > 1 else np.nan
    low = high = np.nan
    if n > 1 and not is_round_off(sd, defined):
        factor = (
            corrected_variance_factor(n, n_train=n_train, n_test=n_test)
            if corrected
            else 1 / n
        )
        se = sd * np.sqrt(factor)
        half = _st.t.ppf(0.5 + confidence_level / 2, n - 1) * se
        if scale == "identity":
            low, high = mean - half, mean + half
        elif 0 < mean < 1:
            center = np.log(mean / (1 - mean))
            half_logit = half / (mean * (1 - mean))
            low = float(_st.logistic.cdf(center - half_logit))
            high = float(_st.logistic.cdf(center + half_logit))
    return FoldMeanInterval(
        mean, sd, float(low), float(high), int(n), int(values.size), method
    )


def _method_name(scale, corrected, confidence_level):
    level = f"{100 * confidence_level:g}%"
    kind = "Nadeau-Bengio corrected t" if corrected else "t"
    if scale == "logit":
        return f"{level} CI: {kind} interval on the logit scale (inside [0, 1])"
    return f"{level} CI: {kind} interval"
