"""Tests on two models' paired predictions for the same cases: McNemar and DeLong."""

import warnings

import numpy as np
from scipy import stats as _st
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_consistent_length

from mammoclf.metrics import resolve_pos_label
from mammoclf.stats._results import HypothesisTestResult
from mammoclf.utils._validation import (
    CONFIDENCE_LEVEL,
    WRAPPER_FRAMES,
    validate_params,
)

__all__ = ["delong_roc_covariance", "delong_test", "mcnemar_test"]

# Below this many discordant pairs the chi-square approximation of McNemar's
# statistic is poor; the exact binomial test is used instead (a common rule).
_MCNEMAR_EXACT_BELOW = 25


@validate_params(
    {
        "y_true": ["array-like"],
        "y_pred_a": ["array-like"],
        "y_pred_b": ["array-like"],
        "exact": [StrOptions({"auto"}), "boolean"],
        "correction": ["boolean"],
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
    exact="auto",
    correction=True,
    confidence_level=0.95,
    labels=("A", "B"),
):
    """McNemar's test of two classifiers' accuracy on the same cases.

    Builds the 2x2 table of correct/incorrect predictions of A and B and
    tests whether the discordant counts ``b`` (A right, B wrong) and ``c``
    (A wrong, B right) differ, with statsmodels'
    :func:`~statsmodels.stats.contingency_tables.mcnemar`: the exact binomial
    test, or the chi-square statistic ``(|b - c| - 1)^2 / (b + c)`` with
    continuity correction.

    On out-of-fold predictions of :func:`mammoclf.compare_models`, each
    model's predictions come from several fitted models (one per fold); the
    test then compares those particular predictions, not the training
    algorithms, and ignores training-set variation (Dietterich 1998).
    Cases are assumed independent: with several images per patient the
    p-value is optimistic.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred_a, y_pred_b : array-like of shape (n_samples,)
        Predicted labels of models A and B for the same cases.
    exact : "auto" or bool, default="auto"
        Exact binomial test; ``"auto"`` uses it when ``b + c < 25``.
    correction : bool, default=True
        Continuity correction of the chi-square statistic (when not exact).
    confidence_level : float, default=0.95
        Level of the Wald CI of the accuracy difference.
    labels : tuple of (str, str), default=("A", "B")
        Names of the two models.

    Returns
    -------
    result : HypothesisTestResult
        ``effect_size`` is the accuracy difference ``(b - c) / n`` with a
        Wald CI for paired proportions; ``details`` has ``b``, ``c``, ``n``,
        ``exact`` and the 2x2 ``table``.

    Examples
    --------
    >>> from mammoclf.stats import mcnemar_test
    >>> y = ["M", "M", "B", "B", "M", "B", "M", "B", "M", "B"]
    >>> a = ["M", "M", "B", "B", "M", "B", "M", "B", "B", "B"]
    >>> b = ["B", "M", "M", "B", "B", "M", "M", "B", "M", "B"]
    >>> r = mcnemar_test(y, a, b)
    >>> r.details["b"], r.details["c"], round(r.pvalue, 3)
    (4, 1, 0.375)
    """
    from statsmodels.stats.contingency_tables import mcnemar

    y_true = column_or_1d(y_true)
    y_pred_a = column_or_1d(y_pred_a)
    y_pred_b = column_or_1d(y_pred_b)
    check_consistent_length(y_true, y_pred_a, y_pred_b)
    if y_true.size == 0:
        raise ValueError("McNemar's test needs at least one case.")
    right_a = y_pred_a == y_true
    right_b = y_pred_b == y_true
    table = np.array(
        [
            [np.sum(right_a & right_b), np.sum(right_a & ~right_b)],
            [np.sum(~right_a & right_b), np.sum(~right_a & ~right_b)],
        ]
    )
    b, c, n = int(table[0, 1]), int(table[1, 0]), int(y_true.size)
    use_exact = (b + c < _MCNEMAR_EXACT_BELOW) if exact == "auto" else bool(exact)
    if b + c == 0 and not use_exact:
        raise ValueError(
            "The two models make exactly the same errors (no discordant pairs): the "
            "chi-square statistic is undefined. Use exact=True (p-value 1)."
        )
    bunch = mcnemar(table, exact=use_exact, correction=correction)
    difference = (b - c) / n
    se = np.sqrt(max(b + c - (b - c) ** 2 / n, 0.0)) / n
    half = _st.norm.ppf(0.5 + confidence_level / 2) * se
    name = (
        "McNemar test (exact binomial)"
        if use_exact
        else (
            "McNemar test (chi-square"
            + (", continuity-corrected)" if correction else ")")
        )
    )
    first, second = labels
    return HypothesisTestResult(
        test=name,
        compared=f"accuracy: {first!r} vs {second!r} ({n} paired cases)",
        statistic=float(bunch.statistic),
        pvalue=float(bunch.pvalue),
        statistic_name="min(b, c)" if use_exact else "chi2",
        df=None if use_exact else 1.0,
        effect_size=float(difference),
        effect_size_name="accuracy difference (A - B)",
        ci=(float(difference - half), float(difference + half)),
        confidence_level=confidence_level,
        details={"b": b, "c": c, "n": n, "exact": use_exact, "table": table.tolist()},
    )


@validate_params(
    {
        "y_true": ["array-like"],
        "y_scores": ["array-like"],
        "pos_label": "no_validation",  # a label, resolved against y_true
    },
    prefer_skip_nested_validation=True,
)
def delong_roc_covariance(y_true, y_scores, *, pos_label="auto"):
    """AUCs of several score vectors and DeLong's covariance matrix of them.

    The fast algorithm of Sun and Xu (2014): the structural components of
    DeLong, DeLong and Clarke-Pearson (1988) come from midranks, in
    ``O(k n log n)`` for ``k`` score vectors of ``n`` cases instead of the
    ``O(k n_pos n_neg)`` pairwise comparisons. Ties count one half.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, both classes present.
    y_scores : array-like of shape (n_scores, n_samples)
        Positive-class scores of each model on the same cases.
    pos_label : "auto" or label, default="auto"
        The positive class, see :func:`mammoclf.metrics.resolve_pos_label`.

    Returns
    -------
    aucs : ndarray of shape (n_scores,)
    covariance : ndarray of shape (n_scores, n_scores)
    """
    y_true = column_or_1d(y_true)
    scores = np.atleast_2d(np.asarray(y_scores, dtype=np.float64))
    if scores.ndim != 2 or scores.shape[1] != y_true.shape[0]:
        raise ValueError(
            f"y_scores must have shape (n_scores, {y_true.shape[0]}); got "
            f"{scores.shape}."
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("y_scores contains NaN or infinite values.")
    positive = y_true == resolve_pos_label(y_true, pos_label)
    m, n = int(positive.sum()), int((~positive).sum())
    if m < 2 or n < 2:
        raise ValueError(
            f"DeLong's variance needs at least 2 positive and 2 negative cases; got "
            f"{m} positive and {n} negative."
        )
    pos, neg = scores[:, positive], scores[:, ~positive]
    rank_pos = _st.rankdata(pos, axis=1)  # midranks among positives
    rank_neg = _st.rankdata(neg, axis=1)
    rank_all = _st.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    aucs = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    # Structural components: per positive case, the fraction of negatives it
    # outranks; per negative case, the fraction of positives that outrank it.
    v_pos = (rank_all[:, :m] - rank_pos) / n
    v_neg = 1.0 - (rank_all[:, m:] - rank_neg) / m
    covariance = np.atleast_2d(np.cov(v_pos)) / m + np.atleast_2d(np.cov(v_neg)) / n
    return aucs, covariance


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score_a": ["array-like"],
        "y_score_b": ["array-like"],
        "pos_label": "no_validation",  # a label, resolved against y_true
        "confidence_level": CONFIDENCE_LEVEL,
        "labels": [tuple, list],
    },
    prefer_skip_nested_validation=True,
)
def delong_test(
    y_true,
    y_score_a,
    y_score_b,
    *,
    pos_label="auto",
    confidence_level=0.95,
    labels=("A", "B"),
):
    """DeLong's test of two correlated ROC AUCs measured on the same cases.

    ``z = (AUC_A - AUC_B) / sqrt(Var_A + Var_B - 2 Cov_AB)`` with DeLong's
    non-parametric (co)variances (DeLong et al. 1988), computed with the
    fast algorithm of Sun and Xu (2014); two-sided normal p-value. The CI of
    the AUC difference is ``diff +/- z_(1 - alpha/2) * SE``.

    Caveats: asymptotic (normal approximation), less accurate for few cases
    or AUCs near 1. Cases are assumed independent: with several images per
    patient the variance is underestimated; use
    :func:`bootstrap_ci` with ``groups`` for patient-level inference. On
    pooled out-of-fold scores, each model's scores come from several fitted
    models whose calibration may differ between folds.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_score_a, y_score_b : array-like of shape (n_samples,)
        Positive-class scores of models A and B for the same cases.
    pos_label : "auto" or label, default="auto"
        The positive class, see :func:`mammoclf.metrics.resolve_pos_label`.
    confidence_level : float, default=0.95
        Level of the CI of the AUC difference.
    labels : tuple of (str, str), default=("A", "B")
        Names of the two models.

    Returns
    -------
    result : HypothesisTestResult
        ``effect_size`` is ``AUC_A - AUC_B``; ``details`` has ``auc_a``,
        ``auc_b``, ``var_a``, ``var_b`` and ``covariance``. Statistic and
        p-value are NaN (with a warning) when the variance of the difference
        is zero, e.g. both models separate the classes perfectly.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.stats import delong_test
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["BENIGN", "MALIGNANT"], 50)
    >>> signal = (y == "MALIGNANT").astype(float)
    >>> a = signal + rng.normal(scale=0.7, size=100)
    >>> b = signal + rng.normal(scale=1.5, size=100)
    >>> r = delong_test(y, a, b, labels=("sharp", "noisy"))
    >>> r.effect_size > 0, r.pvalue < 0.05
    (True, True)
    """
    a = column_or_1d(y_score_a)
    b = column_or_1d(y_score_b)
    check_consistent_length(y_true, a, b)
    aucs, cov = delong_roc_covariance(y_true, np.vstack([a, b]), pos_label=pos_label)
    difference = float(aucs[0] - aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if variance <= 1e-15:
        warnings.warn(
            "DeLong's test: the variance of the AUC difference is zero (e.g. both "
            "models separate the classes perfectly); statistic and p-value are NaN.",
            RuntimeWarning,
            stacklevel=2 + WRAPPER_FRAMES,
        )
        z = pvalue = np.nan
        ci = (difference, difference)
    else:
        se = np.sqrt(variance)
        z = difference / se
        pvalue = 2 * _st.norm.sf(abs(z))
        half = _st.norm.ppf(0.5 + confidence_level / 2) * se
        ci = (difference - half, difference + half)
    first, second = labels
    return HypothesisTestResult(
        test="DeLong test for correlated ROC AUCs",
        compared=f"roc_auc: {first!r} vs {second!r} ({len(a)} paired cases)",
        statistic=float(z),
        pvalue=float(pvalue),
        statistic_name="z",
        effect_size=difference,
        effect_size_name="AUC difference (A - B)",
        ci=(float(ci[0]), float(ci[1])),
        confidence_level=confidence_level,
        details={
            "auc_a": float(aucs[0]),
            "auc_b": float(aucs[1]),
            "var_a": float(cov[0, 0]),
            "var_b": float(cov[1, 1]),
            "covariance": float(cov[0, 1]),
        },
    )
