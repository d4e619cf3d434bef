"""McNemar's test of two models' paired predictions, image-level or clustered."""

import warnings

import numpy as np
from scipy import stats as _st
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_consistent_length

from mammoclf.metrics import check_targets
from mammoclf.stats._clusters import cluster_index
from mammoclf.stats._intervals import bounded_difference_ci
from mammoclf.stats._numerics import TooFewCasesError
from mammoclf.stats._results import HypothesisTestResult
from mammoclf.utils._validation import (
    CONFIDENCE_LEVEL,
    WRAPPER_FRAMES,
    validate_params,
)

__all__ = ["mcnemar_test"]

# Below this many discordant pairs the chi-square approximation of McNemar's
# statistic is poor; the exact binomial test is used instead (a common rule).
_MCNEMAR_EXACT_BELOW = 25


def _check_mcnemar_options(exact, correction, clustered):
    if clustered and exact is True:
        raise ValueError(
            "The clustered McNemar test (Obuchowski 1998) has no exact version; "
            "use exact='auto' (or False) with groups, or groups=None for the "
            "image-level exact binomial test."
        )
    if clustered and correction:
        raise ValueError(
            "The clustered McNemar test (Obuchowski 1998) has no continuity "
            "correction; leave correction=None with groups."
        )


@validate_params(
    {
        "y_true": ["array-like"],
        "y_pred_a": ["array-like"],
        "y_pred_b": ["array-like"],
        "groups": ["array-like", None],
        "exact": [StrOptions({"auto"}), "boolean"],
        "correction": ["boolean", None],
        "confidence_level": CONFIDENCE_LEVEL,
        "labels": [tuple, list],
    },
    prefer_skip_nested_validation=True,
)
def mcnemar_test(
    y_true,
    y_pred_a,
    y_pred_b,
    *,
    groups=None,
    exact="auto",
    correction=None,
    confidence_level=0.95,
    labels=("A", "B"),
):
    """McNemar's test of two classifiers' accuracy on the same images.

    Counts the discordant images, ``b`` (A right, B wrong) and ``c`` (A
    wrong, B right), and tests whether the two accuracies differ.

    **Image-level** (``groups=None``): statsmodels'
    :func:`~statsmodels.stats.contingency_tables.mcnemar`, the exact
    binomial test or the chi-square statistic ``(|b - c| - 1)^2 / (b + c)``
    with Edwards' continuity correction. Images are assumed independent.

    **Clustered** (``groups`` = patient ids): Obuchowski's (1998) test for
    clustered matched pairs. With ``d_k = b_k - c_k`` the discordance
    difference of patient ``k`` and ``K`` patients,

    ``X^2 = (K - 1) / K * (sum_k d_k)^2 / sum_k d_k^2``  (chi-square, 1 df),

    the squared accuracy difference over its Rao-Scott ratio-estimator
    variance ``K / (K - 1) sum_k d_k^2 / N^2`` under the null hypothesis
    (Yang, Sun and Hardin 2010 give this closed form). It is chosen over
    Durkalski et al. (2003), whose statistic averages per-patient
    proportions ``d_k / n_k``, because (1) its numerator ``b - c`` is the
    image-level accuracy difference this function reports, whereas
    Durkalski's weighs a patient with two images like one with four, a
    different estimand when the number of images per patient varies; and
    (2) it is the same ratio estimator, with the same ``K / (K - 1)``
    factor, as the clustered DeLong test (Obuchowski 1997), so both
    prediction tests treat patients alike. **With one image per patient**
    it equals the image-level chi-square without continuity correction
    times ``(K - 1) / K``. There is no exact or continuity-corrected
    version; it is asymptotic in the number of patients (on 4,000 simulated
    null data sets of 60-200 patients with 2-4 images each it rejected at
    0.051 for alpha 0.05, the image-level chi-square at 0.085; see
    ``docs/user_guide/evaluation.md``).

    On out-of-fold predictions of :func:`mammoclf.compare_models`, each
    model's predictions come from several fitted models (one per fold); the
    test then compares those particular predictions, not the training
    algorithms, and ignores training-set variation (Dietterich 1998).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred_a, y_pred_b : array-like of shape (n_samples,)
        Predicted labels of models A and B for the same images.
    groups : array-like of shape (n_samples,), default=None
        Patient id of each image: the clustered test (Obuchowski 1998).
    exact : "auto" or bool, default="auto"
        Image-level only: exact binomial test; ``"auto"`` uses it when
        ``b + c < 25``. With ``groups``, ``"auto"`` means the clustered
        chi-square and ``True`` is an error.
    correction : bool or None, default=None
        Continuity correction of the image-level chi-square (when not
        exact); None means True there. With ``groups`` it must be None or
        False.
    confidence_level : float, default=0.95
        Level of the interval of the accuracy difference.
    labels : tuple of (str, str), default=("A", "B")
        Names of the two models.

    Returns
    -------
    result : HypothesisTestResult
        ``effect_size`` is the accuracy difference ``(b - c) / n``. Its
        interval is the Wald interval on the atanh scale (as in
        :func:`delong_test`), inside ``(-1, 1)``, with the variance
        ``sum (x_i - mean)^2 / n^2`` of the per-image differences, or with
        ``groups`` the ratio-estimator variance ``K / (K - 1) sum_k (d_k -
        n_k (b - c) / n)^2 / n^2`` of the per-patient ones; it is NaN when
        that variance is zero. ``details`` has ``b``, ``c``, ``n``,
        ``exact``, the 2x2 ``table``, ``clustered`` and ``n_clusters``.

    Examples
    --------
    >>> from mammoclf.stats import mcnemar_test
    >>> y = ["M", "M", "B", "B", "M", "B", "M", "B", "M", "B"]
    >>> a = ["M", "M", "B", "B", "M", "B", "M", "B", "B", "B"]
    >>> b = ["B", "M", "M", "B", "B", "M", "M", "B", "M", "B"]
    >>> r = mcnemar_test(y, a, b)
    >>> r.details["b"], r.details["c"], round(r.pvalue, 3)
    (4, 1, 0.375)
    >>> patients = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    >>> rc = mcnemar_test(y, a, b, groups=patients)
    >>> rc.details["n_clusters"], round(rc.statistic, 4)  # 4/5 * 3^2 / (1+1+4+0+1)
    (5, 1.0286)
    """
    y_true, y_pred_a, y_pred_b = check_targets(
        y_true,
        y_pred_a,
        y_pred_b,
        names=("y_pred_a", "y_pred_b"),
        caller="mcnemar_test",
    )
    check_consistent_length(y_true, y_pred_a, y_pred_b, groups)
    clustered = groups is not None
    _check_mcnemar_options(exact, correction, clustered)
    right_a = y_pred_a == y_true
    right_b = y_pred_b == y_true
    table = np.array(
        [
            [np.sum(right_a & right_b), np.sum(right_a & ~right_b)],
            [np.sum(~right_a & right_b), np.sum(~right_a & ~right_b)],
        ]
    )
    b, c, n = int(table[0, 1]), int(table[1, 0]), int(y_true.size)
    difference = (b - c) / n
    per_image = right_a.astype(np.float64) - right_b.astype(np.float64)
    details = {"b": b, "c": c, "n": n, "table": table.tolist()}
    if clustered:
        outcome = _obuchowski_1998(per_image, groups, difference, confidence_level)
    else:
        outcome = _image_level(table, exact, correction)
        se = np.sqrt(np.sum((per_image - difference) ** 2)) / n
        outcome["ci"] = bounded_difference_ci(difference, se, confidence_level)
    details.update(outcome.pop("details"))
    first, second = labels
    unit = (
        f"{n} paired images of {details['n_clusters']} patients"
        if clustered
        else f"{n} paired images"
    )
    return HypothesisTestResult(
        compared=f"accuracy: {first!r} vs {second!r} ({unit})",
        effect_size=float(difference),
        effect_size_name="accuracy difference (A - B)",
        confidence_level=confidence_level,
        details=details,
        **outcome,
    )


def _image_level(table, exact, correction):
    from statsmodels.stats.contingency_tables import mcnemar

    b, c, n = int(table[0, 1]), int(table[1, 0]), int(table.sum())
    correction = True if correction is None else bool(correction)
    use_exact = (b + c < _MCNEMAR_EXACT_BELOW) if exact == "auto" else bool(exact)
    if b + c == 0 and not use_exact:
        raise ValueError(
            "The two models make exactly the same errors (no discordant pairs): the "
            "chi-square statistic is undefined. Use exact=True (p-value 1)."
        )
    bunch = mcnemar(table, exact=use_exact, correction=correction)
    if use_exact:
        name = "McNemar test (exact binomial)"
    else:
        name = "McNemar test (chi-square" + (
            ", continuity-corrected)" if correction else ")"
        )
    return {
        "test": name,
        "statistic": float(bunch.statistic),
        "pvalue": float(bunch.pvalue),
        "statistic_name": "min(b, c)" if use_exact else "chi2",
        "df": None if use_exact else 1.0,
        "details": {"exact": use_exact, "clustered": False, "n_clusters": n},
    }


def _obuchowski_1998(per_image, groups, difference, confidence_level):
    n = per_image.size
    cluster, n_clusters = cluster_index(groups, n)
    if n_clusters < 2:
        raise TooFewCasesError(
            f"The clustered McNemar test needs at least 2 patients; got {n_clusters}."
        )
    d_k = np.bincount(cluster, weights=per_image, minlength=n_clusters)
    n_k = np.bincount(cluster, minlength=n_clusters)
    factor = n_clusters / (n_clusters - 1)
    null_sum = float(np.sum(d_k**2))
    if null_sum == 0:  # sums of +-1 and 0: exact, no round-off possible
        warnings.warn(
            "Clustered McNemar test: in every patient the two models are right "
            "on the same number of images, so the statistic is 0/0 and "
            "undefined (NaN).",
            RuntimeWarning,
            stacklevel=3 + WRAPPER_FRAMES,
        )
        statistic = pvalue = np.nan
    else:
        statistic = float(np.sum(d_k) ** 2 / (factor * null_sum))
        pvalue = float(_st.chi2(1).sf(statistic))
    se = np.sqrt(factor * np.sum((d_k - n_k * difference) ** 2)) / n
    return {
        "test": "Clustered McNemar test (Obuchowski 1998)",
        "statistic": statistic,
        "pvalue": pvalue,
        "statistic_name": "chi2",
        "df": 1.0,
        "ci": bounded_difference_ci(difference, se, confidence_level),
        "details": {"exact": False, "clustered": True, "n_clusters": n_clusters},
    }
