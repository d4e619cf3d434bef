"""Clinical classification metrics for benign-vs-malignant decisions.

All metrics are written from the 2x2 confusion counts of the positive
(malignant) class, with the formulas spelled out, because published
mammography studies have printed wrong ones: the study mammoclf reproduces
gave accuracy as ``(TP + FP) / (TP + TN + FP + FN)``, which is the fraction
of images *called* malignant, not the fraction classified correctly.
"""

import warnings
from numbers import Real
from typing import NamedTuple

import numpy as np
from sklearn import metrics as _skm
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.utils._param_validation import Options, StrOptions
from sklearn.utils.validation import check_consistent_length

from mammoclf.metrics._labels import (
    _check_weights,
    check_binary_targets,
    check_targets,
)
from mammoclf.utils._ranking import mann_whitney_auc
from mammoclf.utils._validation import WRAPPER_FRAMES, validate_params

__all__ = [
    "ConfusionCounts",
    "accuracy_score",
    "balanced_accuracy_score",
    "confusion_counts",
    "f1_weighted_score",
    "npv_score",
    "ppv_score",
    "roc_auc_score",
    "sensitivity_score",
    "specificity_score",
]


class ConfusionCounts(NamedTuple):
    """Counts (or summed sample weights) of the 2x2 confusion matrix."""

    tp: float
    fp: float
    tn: float
    fn: float

    @property
    def total(self):
        return self.tp + self.fp + self.tn + self.fn


# The label arguments every clinical metric takes. ``pos_label`` is a label of
# ``y_true``: resolve_pos_label checks it against the data.
_LABEL_CONSTRAINTS = {
    "y_true": ["array-like"],
    "y_pred": ["array-like"],
    "pos_label": "no_validation",
    "sample_weight": ["array-like", None],
}
_ZERO_DIVISION = {
    "zero_division": [Options(Real, {0.0, 1.0}), "nan", StrOptions({"warn"})]
}


@validate_params(_LABEL_CONSTRAINTS, prefer_skip_nested_validation=True)
def confusion_counts(y_true, y_pred, *, pos_label="auto", sample_weight=None):
    """True/false positives and negatives with respect to ``pos_label``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; at most two classes.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    pos_label : "auto" or label, default="auto"
        The positive (malignant) class; ``"auto"`` applies the rule of
        :func:`resolve_pos_label` to the labels of ``y_true`` and ``y_pred``.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights; counts are then sums of weights.

    Returns
    -------
    counts : ConfusionCounts
        Named tuple ``(tp, fp, tn, fn)`` of floats.

    Examples
    --------
    >>> from mammoclf.metrics import confusion_counts
    >>> confusion_counts(["MALIGNANT", "BENIGN", "BENIGN", "MALIGNANT"],
    ...                  ["MALIGNANT", "MALIGNANT", "BENIGN", "BENIGN"])
    ConfusionCounts(tp=1.0, fp=1.0, tn=1.0, fn=1.0)
    """
    y_true, y_pred, pos_label, weights = check_binary_targets(
        y_true,
        y_pred,
        pos_label=pos_label,
        sample_weight=sample_weight,
        caller="confusion_counts",
    )
    return _counts(y_true, y_pred, pos_label, weights)


def _counts(y_true, y_pred, pos_label, weights):
    if weights is None:
        weights = np.ones(y_true.shape[0])
    true_pos = y_true == pos_label
    pred_pos = y_pred == pos_label
    return ConfusionCounts(
        tp=float(weights[true_pos & pred_pos].sum()),
        fp=float(weights[~true_pos & pred_pos].sum()),
        tn=float(weights[~true_pos & ~pred_pos].sum()),
        fn=float(weights[true_pos & ~pred_pos].sum()),
    )


def _ratio(numerator, denominator, *, zero_division, name, undefined_when):
    if denominator > 0:
        return float(numerator / denominator)
    if isinstance(zero_division, str) and zero_division == "warn":
        warnings.warn(
            f"{name} is undefined {undefined_when}; returning 0.0. Set "
            "zero_division to silence this warning or to return 1.0 or nan.",
            UndefinedMetricWarning,
            stacklevel=3 + WRAPPER_FRAMES,
        )
        return 0.0
    return float(zero_division)  # 0.0, 1.0 or nan: validated by the metric


_COMMON_PARAMS = """
    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; at most two classes.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    pos_label : "auto" or label, default="auto"
        The positive (malignant) class; ``"auto"`` applies the rule of
        :func:`resolve_pos_label`: the label spelled ``"malignant"`` in any
        case, or ``1`` for 0/1 labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.
    zero_division : {"warn", 0.0, 1.0, np.nan}, default="warn"
        Value returned when the denominator is zero. ``"warn"`` returns 0.0
        and emits :class:`sklearn.exceptions.UndefinedMetricWarning`, as
        scikit-learn does.

    Returns
    -------
    score : float
"""


@validate_params(
    {**_LABEL_CONSTRAINTS, **_ZERO_DIVISION}, prefer_skip_nested_validation=True
)
def sensitivity_score(
    y_true, y_pred, *, pos_label="auto", sample_weight=None, zero_division="warn"
):
    """Sensitivity (recall, true positive rate) of the malignant class.

    ``TP / (TP + FN)``: the fraction of malignant cases called malignant.
    Equal to scikit-learn's ``recall_score`` with the same ``pos_label``.
    {params}
    Examples
    --------
    >>> from mammoclf.metrics import sensitivity_score
    >>> sensitivity_score(["MALIGNANT", "MALIGNANT", "BENIGN"],
    ...                   ["MALIGNANT", "BENIGN", "BENIGN"])
    0.5
    """
    y_true, y_pred, pos_label, weights = check_binary_targets(
        y_true,
        y_pred,
        pos_label=pos_label,
        sample_weight=sample_weight,
        caller="sensitivity_score",
    )
    c = _counts(y_true, y_pred, pos_label, weights)
    return _ratio(
        c.tp,
        c.tp + c.fn,
        zero_division=zero_division,
        name="Sensitivity",
        undefined_when="without positive cases",
    )


@validate_params(
    {**_LABEL_CONSTRAINTS, **_ZERO_DIVISION}, prefer_skip_nested_validation=True
)
def specificity_score(
    y_true, y_pred, *, pos_label="auto", sample_weight=None, zero_division="warn"
):
    """Specificity (true negative rate): the fraction of benign cases called benign.

    ``TN / (TN + FP)``; the recall of the negative class.
    {params}
    Examples
    --------
    >>> from mammoclf.metrics import specificity_score
    >>> specificity_score(["BENIGN", "BENIGN", "BENIGN", "MALIGNANT"],
    ...                   ["BENIGN", "BENIGN", "MALIGNANT", "MALIGNANT"])
    0.6666666666666666
    """
    y_true, y_pred, pos_label, weights = check_binary_targets(
        y_true,
        y_pred,
        pos_label=pos_label,
        sample_weight=sample_weight,
        caller="specificity_score",
    )
    c = _counts(y_true, y_pred, pos_label, weights)
    return _ratio(
        c.tn,
        c.tn + c.fp,
        zero_division=zero_division,
        name="Specificity",
        undefined_when="without negative cases",
    )


@validate_params(
    {**_LABEL_CONSTRAINTS, **_ZERO_DIVISION}, prefer_skip_nested_validation=True
)
def ppv_score(
    y_true, y_pred, *, pos_label="auto", sample_weight=None, zero_division="warn"
):
    """Positive predictive value (precision): how often a malignant call is right.

    ``TP / (TP + FP)``. Unlike sensitivity and specificity it depends on the
    prevalence of malignancy in the evaluated images, so values from a
    case-enriched data set (CBIS-DDSM) do not transfer to screening.
    {params}
    Examples
    --------
    >>> from mammoclf.metrics import ppv_score
    >>> ppv_score(["MALIGNANT", "BENIGN", "BENIGN"],
    ...           ["MALIGNANT", "MALIGNANT", "BENIGN"])
    0.5
    """
    y_true, y_pred, pos_label, weights = check_binary_targets(
        y_true,
        y_pred,
        pos_label=pos_label,
        sample_weight=sample_weight,
        caller="ppv_score",
    )
    c = _counts(y_true, y_pred, pos_label, weights)
    return _ratio(
        c.tp,
        c.tp + c.fp,
        zero_division=zero_division,
        name="PPV",
        undefined_when="without positive predictions",
    )


@validate_params(
    {**_LABEL_CONSTRAINTS, **_ZERO_DIVISION}, prefer_skip_nested_validation=True
)
def npv_score(
    y_true, y_pred, *, pos_label="auto", sample_weight=None, zero_division="warn"
):
    """Negative predictive value: how often a benign call is right.

    ``TN / (TN + FN)``; prevalence-dependent like :func:`ppv_score`.
    {params}
    Examples
    --------
    >>> from mammoclf.metrics import npv_score
    >>> npv_score(["MALIGNANT", "BENIGN", "BENIGN"],
    ...           ["BENIGN", "BENIGN", "BENIGN"])
    0.6666666666666666
    """
    y_true, y_pred, pos_label, weights = check_binary_targets(
        y_true,
        y_pred,
        pos_label=pos_label,
        sample_weight=sample_weight,
        caller="npv_score",
    )
    c = _counts(y_true, y_pred, pos_label, weights)
    return _ratio(
        c.tn,
        c.tn + c.fn,
        zero_division=zero_division,
        name="NPV",
        undefined_when="without negative predictions",
    )


for _func in (sensitivity_score, specificity_score, ppv_score, npv_score):
    if _func.__doc__ is None:  # python -OO strips docstrings
        continue
    # The blank line keeps "Examples" a section of its own for numpydoc.
    _func.__doc__ = _func.__doc__.replace(
        "    {params}", _COMMON_PARAMS.rstrip("\n") + "\n"
    )


@validate_params(
    {
        "y_true": ["array-like"],
        "y_pred": ["array-like"],
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def accuracy_score(y_true, y_pred, *, sample_weight=None):
    """Fraction of correctly classified images, ``(TP + TN) / (TP + TN + FP + FN)``.

    Note the numerator: ``TP + TN``, the correct calls of either class. The
    study mammoclf reproduces printed ``(TP + FP) / (TP + TN + FP + FN)``,
    which is the fraction of images *predicted malignant* (it does not even
    depend on which of them are right) and is not an accuracy. Accuracy does
    not depend on which class is positive, so there is no ``pos_label``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from mammoclf.metrics import accuracy_score
    >>> y_true = ["MALIGNANT", "MALIGNANT", "BENIGN", "BENIGN"]
    >>> y_pred = ["MALIGNANT", "BENIGN", "BENIGN", "BENIGN"]
    >>> accuracy_score(y_true, y_pred)  # (TP + TN) / N = (1 + 2) / 4
    0.75
    """
    y_true, y_pred = check_targets(y_true, y_pred, caller="accuracy_score")
    check_consistent_length(y_true, y_pred, sample_weight)
    weights = _check_weights(sample_weight, y_true.shape[0])
    correct = (y_true == y_pred).astype(np.float64)
    if weights is None:
        return float(correct.mean())
    if weights.sum() == 0:
        raise ValueError("sample_weight sums to zero: accuracy is undefined.")
    return float(np.average(correct, weights=weights))


@validate_params(_LABEL_CONSTRAINTS, prefer_skip_nested_validation=True)
def balanced_accuracy_score(y_true, y_pred, *, pos_label="auto", sample_weight=None):
    """Mean of sensitivity and specificity, ``(TPR + TNR) / 2``.

    Insensitive to class imbalance: always 0.5 for a constant prediction.
    Symmetric in the two classes, so ``pos_label`` only matters for
    validating the labels. When ``y_true`` holds one class only, the other
    rate is undefined and scikit-learn's convention applies (the mean over
    the classes present, with a warning).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; at most two classes.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    pos_label : "auto" or label, default="auto"
        The positive class, see :func:`resolve_pos_label`.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from mammoclf.metrics import balanced_accuracy_score
    >>> balanced_accuracy_score(["MALIGNANT", "BENIGN", "BENIGN", "BENIGN"],
    ...                         ["BENIGN", "BENIGN", "BENIGN", "BENIGN"])
    0.5
    """
    y_true, y_pred, pos_label, weights = check_binary_targets(
        y_true,
        y_pred,
        pos_label=pos_label,
        sample_weight=sample_weight,
        caller="balanced_accuracy_score",
    )
    c = _counts(y_true, y_pred, pos_label, weights)
    if c.tp + c.fn > 0 and c.tn + c.fp > 0:
        return float((c.tp / (c.tp + c.fn) + c.tn / (c.tn + c.fp)) / 2)
    return float(_skm.balanced_accuracy_score(y_true, y_pred, sample_weight=weights))


@validate_params(
    {
        "y_true": ["array-like"],
        "y_pred": ["array-like"],
        "sample_weight": ["array-like", None],
        **_ZERO_DIVISION,
    },
    prefer_skip_nested_validation=True,
)
def f1_weighted_score(y_true, y_pred, *, sample_weight=None, zero_division="warn"):
    """F1 score of each class, averaged with weights equal to class support.

    The study's "F1": ``sum_k n_k F1_k / n`` where ``F1_k`` is the harmonic
    mean of precision and recall of class ``k``. Symmetric in the classes, so
    there is no ``pos_label``. Weighting by support lets the majority class
    dominate; report sensitivity and specificity alongside it.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.
    zero_division : {"warn", 0.0, 1.0, np.nan}, default="warn"
        As in scikit-learn's ``f1_score``.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from mammoclf.metrics import f1_weighted_score
    >>> round(f1_weighted_score(["M", "M", "B", "B"], ["M", "B", "B", "B"]), 4)
    0.7333
    """
    y_true, y_pred = check_targets(y_true, y_pred, caller="f1_weighted_score")
    if sample_weight is None:
        direct = _binary_f1_weighted(y_true, y_pred)
        if direct is not None:
            return direct
    return float(
        _skm.f1_score(
            y_true,
            y_pred,
            average="weighted",
            sample_weight=sample_weight,
            zero_division=zero_division,
        )
    )


def _binary_f1_weighted(y_true, y_pred):
    """``f1_score(average="weighted")`` of unweighted binary labels, or None.

    A bootstrap evaluates this metric thousands of times on a few hundred
    labels, where scikit-learn's input checks cost ~100x the arithmetic.
    Over the labels present in either vector, ``F1_k = 2 TP_k / (n_true_k +
    n_pred_k)`` is never 0/0, so ``zero_division`` never applies. None for
    what this shortcut does not cover (more than two labels, labels of
    different kinds), which scikit-learn then checks and scores.
    """
    kinds = {y_true.dtype.kind, y_pred.dtype.kind}
    if y_true.shape != y_pred.shape or not (
        kinds <= {"U", "S"} or kinds <= {"i", "u", "b"}
    ):
        return None
    labels = np.unique(np.concatenate([y_true, y_pred]))
    if labels.size > 2 or y_true.size == 0:
        return None
    total = 0.0
    for label in labels:
        is_true, is_pred = y_true == label, y_pred == label
        n_true = int(is_true.sum())
        if n_true:
            tp = int(np.count_nonzero(is_true & is_pred))
            total += n_true * 2.0 * tp / (n_true + int(is_pred.sum()))
    return total / y_true.size


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "pos_label": "no_validation",
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def roc_auc_score(y_true, y_score, *, pos_label="auto", sample_weight=None):
    """Area under the ROC curve of scores for the positive (malignant) class.

    The probability that a random malignant case scores higher than a random
    benign one (ties count one half). Threshold-free, so it ignores
    calibration and the operating point; report it with sensitivity and
    specificity at the operating threshold. With a single class in
    ``y_true`` the AUC is undefined: scikit-learn's convention then applies
    (NaN with an ``UndefinedMetricWarning``).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; at most two classes.
    y_score : array-like of shape (n_samples,)
        Scores that increase with the likelihood of ``pos_label``: the
        positive class's column of ``predict_proba`` or the binary
        ``decision_function``. A 2-D array is rejected, because which column
        is positive would be a guess.
    pos_label : "auto" or label, default="auto"
        The positive class, see :func:`resolve_pos_label`.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.

    Returns
    -------
    auc : float

    Examples
    --------
    >>> from mammoclf.metrics import roc_auc_score
    >>> roc_auc_score(["BENIGN", "MALIGNANT", "BENIGN", "MALIGNANT"],
    ...               [0.1, 0.8, 0.4, 0.35])
    0.75
    """
    if np.ndim(y_score) != 1:
        raise ValueError(
            f"y_score must be 1-D scores of the positive class; got shape "
            f"{np.shape(y_score)}. Pass predict_proba(X)[:, column of pos_label]."
        )
    y_true, scores = check_targets(
        y_true, y_score, response="score", names=("y_score",), caller="roc_auc_score"
    )
    y_true, _, pos_label, weights = check_binary_targets(
        y_true,
        y_true,
        pos_label=pos_label,
        sample_weight=sample_weight,
        caller="roc_auc_score",
    )
    scores = scores.astype(np.float64)
    positive = y_true == pos_label
    n_positive = int(positive.sum())
    if weights is None and 0 < n_positive < positive.size:
        # A bootstrap calls this thousands of times, where scikit-learn's
        # per-call checks cost ~10x the ranking; the same area as its curve.
        return float(mann_whitney_auc(np.ones((1, scores.size)), positive, scores)[0])
    return float(_skm.roc_auc_score(positive, scores, sample_weight=weights))
