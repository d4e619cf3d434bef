"""Tests across all models of a :class:`~mammoclf.model_selection.ComparisonResult`."""

import itertools
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from mammoclf.stats._bootstrap import ADJUST_METHODS, adjust_pvalues
from mammoclf.stats._omnibus import anova_oneway, anova_repeated_measures, friedman_test
from mammoclf.stats._paired import (
    corrected_resampled_ttest,
    f_test_5x2cv,
    paired_ttest,
    paired_ttest_5x2cv,
    wilcoxon_test,
)
from mammoclf.stats._predictions import delong_test, mcnemar_test
from mammoclf.utils._validation import CONFIDENCE_LEVEL, validate_params

__all__ = ["PAIRWISE_TESTS", "omnibus_test", "pairwise_tests"]

#: Names accepted by :func:`pairwise_tests` ``test=``.
PAIRWISE_TESTS = (
    "corrected_t",
    "paired_t",
    "wilcoxon",
    "5x2cv_t",
    "5x2cv_f",
    "mcnemar",
    "delong",
)
# Tests on pooled out-of-fold predictions always compare one fixed metric.
_PREDICTION_TEST_METRIC = {"mcnemar": "accuracy", "delong": "roc_auc"}
_OMNIBUS = {
    "friedman": friedman_test,
    "rm_anova": anova_repeated_measures,
    "anova": anova_oneway,
}

_COLUMNS = [
    "model_a",
    "model_b",
    "metric",
    "test",
    "statistic",
    "df",
    "pvalue",
    "pvalue_adjusted",
    "reject",
    "effect_size",
    "effect_size_name",
    "ci_low",
    "ci_high",
    "result",
]


def _resolve_metric(result, test, metric):
    if test in _PREDICTION_TEST_METRIC:
        fixed = _PREDICTION_TEST_METRIC[test]
        if metric is not None and metric != fixed:
            raise ValueError(f"test={test!r} compares {fixed}; got metric={metric!r}.")
        return fixed
    metric = "roc_auc" if metric is None else metric
    if metric not in result.metric_names:
        raise ValueError(
            f"metric={metric!r} was not scored; the comparison has "
            f"{list(result.metric_names)}."
        )
    return metric


def _five_by_two_scores(result, metric):
    table = result.fold_scores(metric)
    repeats = table.index.get_level_values("repeat")
    folds = table.index.get_level_values("fold")
    if (
        sorted(set(repeats)) != list(range(5))
        or len(table) != 10
        or set(folds) != {0, 1}
    ):
        raise ValueError(
            "5x2cv tests need 5 repeats of 2-fold CV: run "
            "compare_models(..., cv=2, n_repeats=5). This comparison has "
            f"{result.n_repeats} repeat(s) and {len(table)} splits."
        )
    return table


def _one_pair(result, test, metric, first, second, repeat, confidence_level):
    labels = (first, second)
    if test == "delong":
        a = result.out_of_fold(first, repeat=repeat)
        b = result.out_of_fold(second, repeat=repeat)
        return delong_test(
            a["y_true"],
            a["y_score"],
            b["y_score"],
            pos_label=result.pos_label,
            labels=labels,
            confidence_level=confidence_level,
        )
    if test == "mcnemar":
        a = result.out_of_fold(first, repeat=repeat)
        b = result.out_of_fold(second, repeat=repeat)
        return mcnemar_test(
            a["y_true"],
            a["y_pred"],
            b["y_pred"],
            labels=labels,
            confidence_level=confidence_level,
        )
    if test in ("5x2cv_t", "5x2cv_f"):
        table = _five_by_two_scores(result, metric)
        func = paired_ttest_5x2cv if test == "5x2cv_t" else f_test_5x2cv
        return func(
            table[first].to_numpy().reshape(5, 2),
            table[second].to_numpy().reshape(5, 2),
            labels=labels,
            metric=metric,
        )
    table = result.fold_scores(metric)
    a, b = table[first].to_numpy(), table[second].to_numpy()
    if test == "corrected_t":
        return corrected_resampled_ttest(
            a,
            b,
            n_train=result.n_train,
            n_test=result.n_test,
            labels=labels,
            metric=metric,
            confidence_level=confidence_level,
        )
    if test == "paired_t":
        return paired_ttest(
            a, b, labels=labels, metric=metric, confidence_level=confidence_level
        )
    return wilcoxon_test(a, b, labels=labels, metric=metric)


@validate_params(
    {
        "result": [HasMethods(["fold_scores"])],  # a ComparisonResult
        "test": [StrOptions(set(PAIRWISE_TESTS))],
        "metric": [str, None],
        "correction": [StrOptions(set(ADJUST_METHODS))],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "reference": [str, None],  # a model name, checked below
        "repeat": [Interval(Integral, 0, None, closed="left")],
        "confidence_level": CONFIDENCE_LEVEL,
    },
    prefer_skip_nested_validation=True,
)
def pairwise_tests(
    result,
    *,
    test="corrected_t",
    metric=None,
    correction="holm",
    alpha=0.05,
    reference=None,
    repeat=0,
    confidence_level=0.95,
):
    """Run one test on every pair of models and adjust the p-values.

    Parameters
    ----------
    result : ComparisonResult
        Output of :func:`mammoclf.compare_models`.
    test : str, default="corrected_t"
        One of :data:`PAIRWISE_TESTS`:

        * on fold scores: ``"corrected_t"`` (Nadeau-Bengio, the recommended
          default for k-fold CV), ``"paired_t"`` (naive, anti-conservative),
          ``"wilcoxon"``, ``"5x2cv_t"`` and ``"5x2cv_f"`` (need ``cv=2,
          n_repeats=5``);
        * on pooled out-of-fold predictions of one repeat: ``"mcnemar"``
          (accuracy) and ``"delong"`` (ROC AUC).
    metric : str, default=None
        Metric compared by fold-score tests; None means ``"roc_auc"``.
        McNemar always compares accuracy and DeLong ROC AUC.
    correction : {"holm", "bonferroni", "none"}, default="holm"
        Adjustment across the pairs (the family is this call's pairs).
    alpha : float, default=0.05
        Family-wise error rate of the ``reject`` column.
    reference : str, default=None
        Compare every other model with this one only (fewer tests, more
        power) instead of all pairs.
    repeat : int, default=0
        Which repeat's out-of-fold predictions McNemar and DeLong use.
    confidence_level : float, default=0.95
        Level of the effect-size intervals.

    Returns
    -------
    table : pandas.DataFrame
        One row per pair: ``model_a``, ``model_b``, ``metric``, ``test``,
        ``statistic``, ``df``, ``pvalue``, ``pvalue_adjusted``, ``reject``,
        ``effect_size`` (A - B), ``effect_size_name``, ``ci_low``,
        ``ci_high`` and ``result`` (the :class:`HypothesisTestResult`).
        ``table.attrs`` records ``correction`` and ``alpha``.
    """
    metric = _resolve_metric(result, test, metric)
    names = list(result.model_names)
    if len(names) < 2:
        raise ValueError("Pairwise tests need at least two models.")
    if reference is None:
        pairs = list(itertools.combinations(names, 2))
    elif reference in names:
        pairs = [(reference, other) for other in names if other != reference]
    else:
        raise ValueError(f"reference={reference!r} is not one of the models {names}.")
    outcomes = [
        _one_pair(result, test, metric, a, b, repeat, confidence_level)
        for a, b in pairs
    ]
    adjustment = adjust_pvalues(
        [o.pvalue for o in outcomes], method=correction, alpha=alpha
    )
    rows = []
    for (a, b), outcome, adjusted, reject in zip(
        pairs, outcomes, adjustment.pvalues_adjusted, adjustment.reject
    ):
        ci = outcome.ci if outcome.ci is not None else (np.nan, np.nan)
        rows.append(
            [
                a,
                b,
                metric,
                outcome.test,
                outcome.statistic,
                outcome.df,
                outcome.pvalue,
                adjusted,
                bool(reject),
                outcome.effect_size,
                outcome.effect_size_name,
                ci[0],
                ci[1],
                outcome,
            ]
        )
    table = pd.DataFrame(rows, columns=_COLUMNS)
    table.attrs.update(correction=correction, alpha=alpha)
    return table


@validate_params(
    {
        "result": [HasMethods(["fold_scores"])],  # a ComparisonResult
        "test": [StrOptions(set(_OMNIBUS))],
        "metric": [str, None],
    },
    prefer_skip_nested_validation=True,
)
def omnibus_test(result, *, test="friedman", metric="roc_auc"):
    """Test whether any of the compared models differs, on fold scores.

    Parameters
    ----------
    result : ComparisonResult
        Output of :func:`mammoclf.compare_models`.
    test : {"friedman", "rm_anova", "anova"}, default="friedman"
        :func:`friedman_test` (three or more models),
        :func:`anova_repeated_measures` or the study's
        :func:`anova_oneway` (which ignores that folds are shared).
    metric : str, default="roc_auc"
        Metric compared.

    Returns
    -------
    result : HypothesisTestResult
    """
    metric = _resolve_metric(result, "omnibus", metric)
    return _OMNIBUS[test](result.fold_scores(metric), metric=metric)
