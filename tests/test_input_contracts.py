"""Type contracts of every public metric, test and interval, on bad input.

Each function in the ``__all__`` of :mod:`mammoclf.metrics` and
:mod:`mammoclf.stats` is fed mixed label types, NaN and infinite
predictions, NaN patient ids, empty input and a single class. It must raise
a clear ``ValueError`` or return a documented NaN (with a warning), never a
number computed from a silent coercion. The functions are enumerated from
``__all__``: a new one fails :func:`test_every_public_function_is_covered`
until it has a call below or a reason in ``NOT_FED``.
"""

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest

from mammoclf import metrics, stats

# How each function is called on (y_true, predictions, groups). "label":
# predicted labels; "score": scores or probabilities in [0, 1].
_LAB = "label"
_SCO = "score"


def _sens_at_spec(y, p, g):
    return metrics.sensitivity_at_specificity(y, p)


CALLS = {
    "accuracy_score": (_LAB, lambda y, p, g: metrics.accuracy_score(y, p)),
    "balanced_accuracy_score": (
        _LAB,
        lambda y, p, g: metrics.balanced_accuracy_score(y, p),
    ),
    "confusion_counts": (_LAB, lambda y, p, g: metrics.confusion_counts(y, p)),
    "f1_weighted_score": (_LAB, lambda y, p, g: metrics.f1_weighted_score(y, p)),
    "npv_score": (_LAB, lambda y, p, g: metrics.npv_score(y, p)),
    "ppv_score": (_LAB, lambda y, p, g: metrics.ppv_score(y, p)),
    "sensitivity_score": (_LAB, lambda y, p, g: metrics.sensitivity_score(y, p)),
    "specificity_score": (_LAB, lambda y, p, g: metrics.specificity_score(y, p)),
    "check_targets": (_LAB, lambda y, p, g: metrics.check_targets(y, p)),
    "roc_auc_score": (_SCO, lambda y, p, g: metrics.roc_auc_score(y, p)),
    "brier_score": (_SCO, lambda y, p, g: metrics.brier_score(y, p)),
    "calibration_intercept": (
        _SCO,
        lambda y, p, g: metrics.calibration_intercept(y, p),
    ),
    "calibration_slope": (_SCO, lambda y, p, g: metrics.calibration_slope(y, p)),
    "reliability_curve": (_SCO, lambda y, p, g: metrics.reliability_curve(y, p)),
    "roc_operating_point": (
        _SCO,
        lambda y, p, g: metrics.roc_operating_point(y, p, min_specificity=0.5),
    ),
    "sensitivity_at_specificity": (_SCO, _sens_at_spec),
    "specificity_at_sensitivity": (
        _SCO,
        lambda y, p, g: metrics.specificity_at_sensitivity(y, p),
    ),
    "breast_level": (
        _SCO,
        lambda y, p, g: metrics.breast_level(
            y, p, patients=g, laterality=["L"] * len(y)
        ),
    ),
    "mcnemar_test": (_LAB, lambda y, p, g: stats.mcnemar_test(y, p, y, groups=g)),
    "delong_test": (
        _SCO,
        lambda y, p, g: stats.delong_test(y, p, np.arange(len(p)) % 3, groups=g),
    ),
    "delong_roc_covariance": (
        _SCO,
        lambda y, p, g: stats.delong_roc_covariance(y, [p], groups=g),
    ),
    "bootstrap_ci": (
        _SCO,
        lambda y, p, g: stats.bootstrap_ci(
            "roc_auc", y, p, groups=g, n_resamples=20, random_state=0
        ),
    ),
}

# Functions of fold scores or p-values: no labels, so "mixed" means text.
_A = np.array([0.80, 0.82, 0.79, 0.85, 0.81, 0.80, 0.83, 0.84, 0.80, 0.82])
_B = _A - np.linspace(0.01, 0.03, 10)
SCORE_CALLS = {
    "paired_ttest": lambda a: stats.paired_ttest(a, _B),
    "corrected_resampled_ttest": lambda a: stats.corrected_resampled_ttest(
        a, _B, n_train=80, n_test=20
    ),
    "wilcoxon_test": lambda a: stats.wilcoxon_test(a, _B),
    "paired_ttest_5x2cv": lambda a: stats.paired_ttest_5x2cv(
        a.reshape(5, 2), _B.reshape(5, 2)
    ),
    "f_test_5x2cv": lambda a: stats.f_test_5x2cv(a.reshape(5, 2), _B.reshape(5, 2)),
    "friedman_test": lambda a: stats.friedman_test(np.column_stack([a, _B, _B + 0.01])),
    "anova_repeated_measures": lambda a: stats.anova_repeated_measures(
        np.column_stack([a, _B, _B + 0.01])
    ),
    "anova_oneway": lambda a: stats.anova_oneway(np.column_stack([a, _B, _B + 0.01])),
    "fold_mean_ci": lambda a: stats.fold_mean_ci(a, n_train=80, n_test=20),
    "adjust_pvalues": lambda a: stats.adjust_pvalues(a),
}
# NaN is a documented input of these two: an undefined fold, an undefined test.
NAN_DOCUMENTED = {"fold_mean_ci", "adjust_pvalues"}

NOT_FED = {
    "clinical_scorers": "builds scorers; the scorers call the metrics above",
    "make_clinical_scorer": "builds a scorer; it calls the metrics above",
    "positive_class_scores": "takes a fitted estimator, not predictions",
    "laterality_from_metadata": "reads a metadata table, not predictions",
    "resolve_pos_label": "labels only; its rule is tested in tests/metrics",
    "corrected_variance_factor": "takes set sizes, not data",
}


def _public_functions():
    names = []
    for module in (metrics, stats):
        names += [n for n in module.__all__ if inspect.isfunction(getattr(module, n))]
    return sorted(names)


def test_every_public_function_is_covered():
    covered = set(CALLS) | set(SCORE_CALLS) | set(NOT_FED)
    assert set(_public_functions()) - covered == set()
    assert covered - set(_public_functions()) == set()


Y = np.array(["MALIGNANT", "BENIGN"] * 6)
P_LABEL = np.array(["MALIGNANT", "BENIGN", "BENIGN"] * 4)
P_SCORE = np.linspace(0.05, 0.95, 12)
GROUPS = np.arange(12) // 2


def _inputs(kind):
    return Y.copy(), (P_LABEL if kind == _LAB else P_SCORE).copy(), GROUPS.copy()


@pytest.mark.parametrize("name", sorted(CALLS))
def test_mixed_label_types_are_an_error(name):
    kind, call = CALLS[name]
    y, p, g = _inputs(kind)
    wrong = (p == "MALIGNANT").astype(int) if kind == _LAB else p.astype(str)
    with pytest.raises(ValueError, match=r"mix of label input types|numeric scores"):
        call(y, wrong, g)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_non_finite_predictions_are_an_error_that_counts_them(name, bad):
    kind, call = CALLS[name]
    y, p, g = _inputs(kind)
    p = p.astype(object) if kind == _LAB else p
    p[[1, 4]] = bad
    with pytest.raises(ValueError, match=rf"{name}: .* 2 (missing|non-finite)"):
        call(y, p, g)


GROUPED = [
    "bootstrap_ci",
    "breast_level",
    "delong_roc_covariance",
    "delong_test",
    "mcnemar_test",
]


@pytest.mark.parametrize("name", GROUPED)
def test_nan_patient_ids_are_an_error(name):
    kind, call = CALLS[name]
    y, p, g = _inputs(kind)
    g = g.astype(float)
    g[[0, 5, 7]] = np.nan
    with pytest.raises(ValueError, match="3 missing|missing ids"):
        call(y, p, g)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_empty_input_is_an_error(name):
    kind, call = CALLS[name]
    y, p, g = _inputs(kind)
    with pytest.raises(ValueError):
        call(y[:0], p[:0], g[:0])


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_single_class_is_an_error_a_warning_or_defined(name):
    """A single class: an error, or a value with a warning where undefined.

    Accuracy, weighted F1, the counts and the calibration-in-the-large of
    one class are defined; every other result must not be a silent number.
    """
    kind, call = CALLS[name]
    y, p, g = _inputs(kind)
    y[:] = "BENIGN"
    defined_anyway = {
        "accuracy_score",
        "confusion_counts",
        "f1_weighted_score",
        "check_targets",
        "brier_score",
        "reliability_curve",
        "specificity_score",
        "npv_score",
        "ppv_score",
        "mcnemar_test",
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call(y, p, g)
        except ValueError as exc:
            assert str(exc)
            return
    assert caught or name in defined_anyway, name


@pytest.mark.parametrize("bad", ["nan", "inf", "empty", "text"])
@pytest.mark.parametrize("name", sorted(SCORE_CALLS))
def test_fold_score_functions_refuse_bad_scores(name, bad):
    a = _A.copy()
    if bad == "text":
        a = a.astype(str)
    elif bad == "empty":
        a = a[:0]
    else:
        a[2] = np.nan if bad == "nan" else np.inf
    if bad == "nan" and name in NAN_DOCUMENTED:
        result = SCORE_CALLS[name](a)
        if name == "adjust_pvalues":
            assert np.isnan(result.pvalues_adjusted[2]) and result.n_tests == 9
        else:
            assert result.n_defined == 9 and result.n_splits == 10
        return
    if bad == "empty" and name in NAN_DOCUMENTED:
        result = SCORE_CALLS[name](a)
        assert (
            result.n_tests == 0 if name == "adjust_pvalues" else result.n_defined == 0
        )
        return
    with pytest.raises(ValueError):
        SCORE_CALLS[name](a)


def test_a_dataframe_of_text_scores_is_refused():
    table = pd.DataFrame({"a": _A.astype(str), "b": _B, "c": _B + 0.01})
    with pytest.raises(ValueError, match="must hold numbers"):
        stats.friedman_test(table)
