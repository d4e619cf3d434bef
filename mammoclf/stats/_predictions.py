"""McNemar's test of two models' paired predictions, image-level or clustered."""

import warnings

import numpy as np
from scipy import stats as _st
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_consistent_length

from mammoclf.metrics import check_targets
from mammoclf.stats._clusters import cluster_index
from mammoclf.stats._intervals import conditional_difference_ci, score_difference_ci
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


def _check_mcnemar_options(exact, correction, clustered, method):
    if not clustered and method != "obuchowski":
        raise ValueError(
            f"method={method!r} is a clustered McNemar test: give groups (patient "
            "ids), or leave method='obuchowski' for the image-level test."
        )
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
        "method": [StrOptions({"obuchowski", "durkalski"})],
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
    method="obuchowski",
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
    (Yang, Sun and Hardin 2010 give this closed form). Its numerator ``b -
    c`` is the image-level accuracy difference, and it is the same ratio
    estimator, with the same ``K / (K - 1)`` factor, as the clustered DeLong
    test (Obuchowski 1997), so both prediction tests treat patients alike.
    **With one image per patient** it equals the image-level chi-square
    without continuity correction times ``(K - 1) / K``. There is no exact or
    continuity-corrected version; it is asymptotic in the number of
    patients: on simulated null data (2-4 images per patient) its size at
    alpha 0.05 was 0.027, 0.037, 0.042 and 0.049 at 10, 20, 50 and 100
    patients (``benchmarks/sim_small_sample_mcnemar.py``).

    ``method="durkalski"``: Durkalski et al. (2003, *Stat Med*
    22:2417-2428), ``X^2 = (sum_k r_k)^2 / sum_k r_k^2`` with ``r_k = d_k /
    n_k`` the accuracy difference within patient ``k``. Every patient weighs
    the same, so its effect is the **patient-averaged** accuracy difference,
    a different estimand from ``(b - c) / N`` when the number of images per
    patient varies. Yang, Sun and Hardin (2010) recommend it below about 50
    patients with unequal cluster sizes; in the same simulation its size
    was 0.037, 0.047, 0.047 and 0.052, so :func:`pairwise_tests` and the
    report use it below 50 patients.

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
        Patient id of each image: the clustered test of ``method``.
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
    method : {"obuchowski", "durkalski"}, default="obuchowski"
        The clustered test (with ``groups`` only): Obuchowski (1998) or
        Durkalski et al. (2003).

    Returns
    -------
    result : HypothesisTestResult
        ``effect_size`` is the accuracy difference ``(b - c) / n`` (with
        ``method="durkalski"`` its patient average). Its interval inverts
        the test, so it **excludes 0 exactly when the test rejects** at
        ``1 - confidence_level``: image-level, the Clopper-Pearson (exact),
        continuity-corrected Wilson or Wilson interval of the share ``b /
        (b + c)`` of discordant images favouring A, scaled by ``(b + c) /
        n`` (Newcombe 1998); clustered, every
        difference whose statistic, with the test's variance evaluated at
        that difference, stays below the critical value (a score-type
        interval). NaN without discordance. ``details`` has ``b``, ``c``,
        ``n``,
        ``exact``, the 2x2 ``table``, ``clustered``, ``n_clusters``, and
        with groups ``method`` (and a ``note`` in the rare case of very few
        patients where the interval is the hull of two pieces).

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
    _check_mcnemar_options(exact, correction, clustered, method)
    right_a = y_pred_a == y_true
    right_b = y_pred_b == y_true
    table = np.array(
        [
            [np.sum(right_a & right_b), np.sum(right_a & ~right_b)],
            [np.sum(~right_a & right_b), np.sum(~right_a & ~right_b)],
        ]
    )
    b, c, n = int(table[0, 1]), int(table[1, 0]), int(y_true.size)
    per_image = right_a.astype(np.float64) - right_b.astype(np.float64)
    details = {"b": b, "c": c, "n": n, "table": table.tolist()}
    if clustered:
        outcome = _clustered(per_image, groups, method, confidence_level)
    else:
        outcome = _image_level(table, exact, correction, confidence_level)
    details.update(outcome.pop("details"))
    first, second = labels
    unit = (
        f"{n} paired images of {details['n_clusters']} patients"
        if clustered
        else f"{n} paired images"
    )
    return HypothesisTestResult(
        compared=f"accuracy: {first!r} vs {second!r} ({unit})",
        confidence_level=confidence_level,
        details=details,
        **outcome,
    )


def _image_level(table, exact, correction, confidence_level):
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
        name, kind = "McNemar test (exact binomial)", "exact"
    elif correction:
        name, kind = "McNemar test (chi-square, continuity-corrected)", "corrected"
    else:
        name, kind = "McNemar test (chi-square)", "wilson"
    return {
        "test": name,
        "statistic": float(bunch.statistic),
        "pvalue": float(bunch.pvalue),
        "statistic_name": "min(b, c)" if use_exact else "chi2",
        "df": None if use_exact else 1.0,
        "effect_size": (b - c) / n,
        "effect_size_name": "accuracy difference (A - B)",
        "ci": conditional_difference_ci(b, c, n, kind, confidence_level),
        "details": {"exact": use_exact, "clustered": False, "n_clusters": n},
    }


def _clustered(per_image, groups, method, confidence_level):
    """Obuchowski's (1998) or Durkalski's (2003) clustered McNemar test."""
    n = per_image.size
    cluster, n_clusters = cluster_index(groups, n)
    if n_clusters < 2:
        raise TooFewCasesError(
            f"The clustered McNemar test needs at least 2 patients; got {n_clusters}."
        )
    d_k = np.bincount(cluster, weights=per_image, minlength=n_clusters)
    n_k = np.bincount(cluster, minlength=n_clusters).astype(np.float64)
    if method == "durkalski":
        # Each patient's own accuracy difference, every patient weighing one.
        units, weights, factor = d_k / n_k, np.ones(n_clusters), 1.0
        name = "Clustered McNemar test (Durkalski 2003)"
        effect_name = "patient-averaged accuracy difference (A - B)"
    else:
        units, weights, factor = d_k, n_k, n_clusters / (n_clusters - 1)
        name = "Clustered McNemar test (Obuchowski 1998)"
        effect_name = "accuracy difference (A - B)"
    null_sum = float(np.sum(units**2))
    if null_sum == 0:  # d_k all zero: exact, no round-off possible
        warnings.warn(
            "Clustered McNemar test: in every patient the two models are right "
            "on the same number of images, so the statistic is 0/0 and "
            "undefined (NaN).",
            RuntimeWarning,
            stacklevel=4 + WRAPPER_FRAMES,
        )
        statistic = pvalue = np.nan
    else:
        statistic = float(np.sum(units) ** 2 / (factor * null_sum))
        pvalue = float(_st.chi2(1).sf(statistic))
    ci, note = score_difference_ci(units, weights, factor, confidence_level)
    details = {"exact": False, "clustered": True, "n_clusters": n_clusters}
    details["method"] = method
    if note:
        details["note"] = note
    return {
        "test": name,
        "statistic": statistic,
        "pvalue": pvalue,
        "statistic_name": "chi2",
        "df": 1.0,
        "effect_size": float(np.sum(units) / np.sum(weights)),
        "effect_size_name": effect_name,
        "ci": ci,
        "details": details,
    }
