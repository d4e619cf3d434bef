"""Tests across all models of a :class:`~mammoclf.model_selection.ComparisonResult`."""

import dataclasses
import itertools
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from mammoclf.stats import (
    ADJUST_METHODS,
    HypothesisTestResult,
    TooFewCasesError,
    adjust_pvalues,
    anova_oneway,
    anova_repeated_measures,
    corrected_resampled_ttest,
    delong_test,
    f_test_5x2cv,
    friedman_test,
    mcnemar_test,
    paired_ttest,
    paired_ttest_5x2cv,
    wilcoxon_test,
)
from mammoclf.utils._validation import (
    CONFIDENCE_LEVEL,
    WRAPPER_FRAMES,
    validate_params,
)

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
# Below this many patients the clustered McNemar test is Durkalski's: it holds
# its size there, where Obuchowski's is conservative (sim_small_sample_mcnemar;
# Yang, Sun and Hardin 2010 recommend it below 50 with unequal cluster sizes).
SMALL_SAMPLE_PATIENTS = 50
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


def _patient_groups(result, clustered):
    """Patient ids for the prediction tests, or None for the image-level ones."""
    has_groups = getattr(result, "groups", None) is not None
    if clustered is True and not has_groups:
        raise ValueError(
            "clustered=True needs patient groups: run compare_models(..., "
            "groups=patient_ids)."
        )
    return has_groups and clustered is not False


def _prediction_test(result, test, first, second, repeat, clustered, level):
    try:
        return _run_prediction_test(
            result, test, first, second, repeat, clustered, level
        )
    except TooFewCasesError as exc:
        # One pair that cannot be tested (e.g. a single malignant patient)
        # should not stop the other rows of a summary: NaN, and say why.
        warnings.warn(
            f"{test} test of {first!r} vs {second!r} is undefined: {exc}",
            RuntimeWarning,
            stacklevel=5 + WRAPPER_FRAMES,
        )
        name = {"delong": "DeLong test", "mcnemar": "McNemar test"}[test]
        return HypothesisTestResult(
            test=("Clustered " + name if clustered else name) + " (undefined)",
            compared=f"{_PREDICTION_TEST_METRIC[test]}: {first!r} vs {second!r}",
            statistic=np.nan,
            pvalue=np.nan,
            details={"undefined": str(exc)},
        )


def _run_prediction_test(result, test, first, second, repeat, clustered, level):
    a = result.out_of_fold(first, repeat=repeat)
    b = result.out_of_fold(second, repeat=repeat)
    groups = a["group"].to_numpy() if clustered else None
    if test == "delong":
        return delong_test(
            a["y_true"],
            a["y_score"],
            b["y_score"],
            pos_label=result.pos_label,
            groups=groups,
            labels=(first, second),
            confidence_level=level,
        )
    return mcnemar_test(
        a["y_true"],
        a["y_pred"],
        b["y_pred"],
        groups=groups,
        labels=(first, second),
        confidence_level=level,
        method=_mcnemar_method(groups),
    )


def _mcnemar_method(groups):
    """Durkalski's clustered McNemar below SMALL_SAMPLE_PATIENTS, else Obuchowski's."""
    if groups is None or len(set(groups.tolist())) >= SMALL_SAMPLE_PATIENTS:
        return "obuchowski"
    return "durkalski"


def _undefined_pair(test, labels, metric, n_defined, n_splits):
    warnings.warn(
        f"{metric} is defined for both {labels[0]!r} and {labels[1]!r} in only "
        f"{n_defined} of {n_splits} splits: the {test} test needs at least 2; "
        "its row is NaN.",
        RuntimeWarning,
        stacklevel=4 + WRAPPER_FRAMES,
    )
    return HypothesisTestResult(
        test=test,
        compared=f"{metric}: {labels[0]!r} vs {labels[1]!r} ({n_defined} of "
        f"{n_splits} splits defined)",
        statistic=np.nan,
        pvalue=np.nan,
        details={"n_defined": n_defined, "n_splits": n_splits},
    )


def _fold_score_test(result, test, metric, first, second, level):
    labels = (first, second)
    table = result.fold_scores(metric)
    a, b = table[first].to_numpy(), table[second].to_numpy()
    if test in ("5x2cv_t", "5x2cv_f"):
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            raise ValueError(
                f"{metric} is undefined (NaN) in some of the 10 splits of "
                f"{first!r} or {second!r}; the 5x2cv tests need all of them."
            )
        func = paired_ttest_5x2cv if test == "5x2cv_t" else f_test_5x2cv
        return func(a.reshape(5, 2), b.reshape(5, 2), labels=labels, metric=metric)
    # A split where the metric is undefined for either model (e.g. PPV of a
    # fold without malignant calls) has no paired difference: it is left
    # out, and the result says how many splits were defined.
    defined = np.isfinite(a) & np.isfinite(b)
    n_defined, n_splits = int(defined.sum()), int(defined.size)
    if n_defined < 2:
        return _undefined_pair(test, labels, metric, n_defined, n_splits)
    a, b = a[defined], b[defined]
    if test == "corrected_t":
        outcome = corrected_resampled_ttest(
            a,
            b,
            n_train=result.n_train,
            n_test=result.n_test,
            labels=labels,
            metric=metric,
            confidence_level=level,
        )
    elif test == "paired_t":
        outcome = paired_ttest(
            a, b, labels=labels, metric=metric, confidence_level=level
        )
    else:
        outcome = wilcoxon_test(a, b, labels=labels, metric=metric)
    if n_defined == n_splits:
        return outcome
    return dataclasses.replace(
        outcome,
        compared=f"{outcome.compared[:-1]}; {metric} undefined in "
        f"{n_splits - n_defined} of {n_splits} splits, left out)",
        details={**outcome.details, "n_defined": n_defined, "n_splits": n_splits},
    )


def _one_pair(result, test, metric, first, second, repeat, clustered, level):
    if test in _PREDICTION_TEST_METRIC:
        return _prediction_test(result, test, first, second, repeat, clustered, level)
    if test in ("5x2cv_t", "5x2cv_f"):
        _five_by_two_scores(result, metric)  # checks the layout
    return _fold_score_test(result, test, metric, first, second, level)


@validate_params(
    {
        # A ComparisonResult: fold-score tests read its fold_scores,
        # prediction tests its out_of_fold.
        "result": [HasMethods(["fold_scores"]), HasMethods(["out_of_fold"])],
        "test": [StrOptions(set(PAIRWISE_TESTS))],
        "metric": [str, None],  # a scored metric, checked by _resolve_metric
        "correction": [StrOptions(set(ADJUST_METHODS))],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "reference": [str, None],  # a model name, checked below
        "repeat": [Interval(Integral, 0, None, closed="left")],
        "confidence_level": CONFIDENCE_LEVEL,
        "clustered": [StrOptions({"auto"}), "boolean"],
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
    clustered="auto",
):
    """Run one test on every pair of models and adjust the p-values.

    The tests on pooled out-of-fold predictions, ``"delong"`` and
    ``"mcnemar"``, are the **clustered** versions whenever the comparison
    has patient groups (Obuchowski 1997 for DeLong; for McNemar Obuchowski
    1998, or Durkalski et al. 2003 with fewer than 50 patients, where
    Obuchowski's test is conservative and Durkalski's holds its size, see
    ``benchmarks/RESULTS.md``; see :func:`delong_test` and
    :func:`mcnemar_test`): a patient's
    2-4 images are correlated, and the image-level tests then reject a true
    null hypothesis too often. The ``test`` column names the version used.

    A prediction test that the data cannot support (fewer than 2 patients
    with a malignant image, say) gives a NaN row with a warning rather than
    stopping the table.

    Splits in which the metric is undefined for either model of a pair
    (NaN fold scores, e.g. PPV of a fold without malignant calls) are left
    out of that pair's fold-score test; its ``compared`` text and
    ``details["n_defined"]`` say how many splits remained.

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
    clustered : "auto" or bool, default="auto"
        For ``"delong"`` and ``"mcnemar"``: ``"auto"`` uses the clustered
        tests when the comparison has groups and the image-level tests
        otherwise; ``False`` forces the image-level tests (they assume
        independent images, so their p-values are optimistic with several
        images per patient); ``True`` requires groups.

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
    clustered = _patient_groups(result, clustered)
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
        _one_pair(result, test, metric, a, b, repeat, clustered, confidence_level)
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
    table.attrs.update(
        correction=correction,
        alpha=alpha,
        clustered=bool(clustered and test in _PREDICTION_TEST_METRIC),
    )
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
    table = result.fold_scores(metric)
    # Splits where the metric is undefined (NaN) for some model are left
    # out: the tests need complete blocks. The folds count in the result
    # says how many remained.
    complete = table.dropna()
    if len(complete) < len(table):
        warnings.warn(
            f"{metric} is undefined for some model in {len(table) - len(complete)} "
            f"of {len(table)} splits; the {test} test uses the other "
            f"{len(complete)}.",
            RuntimeWarning,
            stacklevel=2 + WRAPPER_FRAMES,
        )
    return _OMNIBUS[test](complete, metric=metric)
