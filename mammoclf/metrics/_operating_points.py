"""Operating points on the ROC curve: sensitivity at a fixed specificity, and back.

A screening programme fixes how many benign cases it can afford to recall
(specificity) and asks how many cancers a model then finds (sensitivity), or
the reverse. These functions read that off the empirical ROC curve.

The rule
--------
A threshold ``t`` calls an image malignant when its score is ``>= t``; the
candidate thresholds are the distinct scores, plus ``+inf`` (nothing called
malignant). Tied scores are therefore always called together: no operating
point splits a tie. For "sensitivity at specificity ``s``" the chosen
threshold is, among those whose specificity is **at least** ``s``, the one
with the highest sensitivity (and among equal sensitivities the highest
specificity): the upper-left-most attainable ROC point. Symmetrically for
"specificity at sensitivity ``s``".

No interpolation between ROC points: an interpolated point is a randomised
mix of two thresholds, not something a single threshold achieves, and it
would report a sensitivity that no threshold attains at that specificity.
The attained specificity (or sensitivity) is returned with the threshold, so
a reader sees when it overshoots the target, as it must with few benign
cases.

The threshold is a property of the data it was read from. Reading it off the
test set and then reporting binary metrics at it uses the test set twice;
a deployable threshold is chosen on the training data (scikit-learn's
``TunedThresholdClassifierCV``) and reported with
:func:`mammoclf.model_selection.decision_threshold`.
"""

from numbers import Real
from typing import NamedTuple

import numpy as np
from sklearn.utils._param_validation import Interval

from mammoclf.metrics._labels import check_targets, resolve_pos_label
from mammoclf.utils._validation import validate_params

__all__ = [
    "OperatingPoint",
    "roc_operating_point",
    "sensitivity_at_specificity",
    "specificity_at_sensitivity",
]


class OperatingPoint(NamedTuple):
    """A point of the empirical ROC curve and the threshold that attains it.

    Attributes
    ----------
    threshold : float
        The score from which an image is called malignant (``score >=
        threshold``); ``inf`` calls nothing malignant.
    sensitivity : float
        Fraction of malignant images called malignant at the threshold.
    specificity : float
        Fraction of benign images called benign at the threshold.
    """

    threshold: float
    sensitivity: float
    specificity: float


def roc_points(y_true, y_score, pos_label, *, caller):
    """Thresholds and their sensitivity and specificity, thresholds decreasing.

    Counts are exact integers, so a specificity of 18/20 compares equal to a
    target of 0.9 (both are the double nearest to 0.9).
    """
    if np.ndim(y_score) != 1:
        raise ValueError(
            f"y_score must be 1-D scores of the positive class; got shape "
            f"{np.shape(y_score)}."
        )
    y_true, scores = check_targets(
        y_true, y_score, response="score", names=("y_score",), caller=caller
    )
    scores = scores.astype(np.float64)
    positive = y_true == resolve_pos_label(y_true, pos_label)
    n_positive = int(positive.sum())
    n_negative = positive.size - n_positive
    if n_positive == 0 or n_negative == 0:
        raise ValueError(
            "Operating points are undefined when y_true holds a single class: "
            "sensitivity needs malignant cases and specificity benign ones."
        )
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores = scores[order]
    # Last index of each block of tied scores: the ROC moves one block at a time.
    block_ends = np.append(np.flatnonzero(np.diff(sorted_scores)), scores.size - 1)
    true_positives = np.cumsum(positive[order])[block_ends]
    false_positives = block_ends + 1 - true_positives
    thresholds = np.append(np.inf, sorted_scores[block_ends])
    sensitivity = np.append(0, true_positives) / n_positive
    specificity = (n_negative - np.append(0, false_positives)) / n_negative
    return thresholds, sensitivity, specificity


_TARGET = [Interval(Real, 0, 1, closed="both")]


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "min_specificity": [*_TARGET, None],
        "min_sensitivity": [*_TARGET, None],
        "pos_label": "no_validation",  # checked by resolve_pos_label
    },
    prefer_skip_nested_validation=True,
)
def roc_operating_point(
    y_true, y_score, *, min_specificity=None, min_sensitivity=None, pos_label="auto"
):
    """The ROC point of highest sensitivity (or specificity) under a constraint.

    Give exactly one of ``min_specificity`` and ``min_sensitivity``. With
    ``min_specificity=s`` the result is, among thresholds whose specificity
    is at least ``s``, the one with the highest sensitivity (ties: the
    highest specificity); ``min_sensitivity`` is the mirror image. See the
    module docstring for the threshold rule and why there is no
    interpolation.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; exactly two classes.
    y_score : array-like of shape (n_samples,)
        Scores that increase with the likelihood of ``pos_label``.
    min_specificity : float in [0, 1], default=None
        Least acceptable specificity.
    min_sensitivity : float in [0, 1], default=None
        Least acceptable sensitivity.
    pos_label : "auto" or label, default="auto"
        The positive class, see :func:`resolve_pos_label`.

    Returns
    -------
    point : OperatingPoint
        ``(threshold, sensitivity, specificity)``; an image is called
        malignant when ``score >= threshold``.

    Raises
    ------
    ValueError
        When ``y_true`` holds a single class, or not exactly one constraint
        is given.

    Examples
    --------
    >>> from mammoclf.metrics import roc_operating_point
    >>> y = ["BENIGN"] * 5 + ["MALIGNANT"] * 5
    >>> scores = [0.1, 0.2, 0.3, 0.4, 0.7, 0.5, 0.6, 0.8, 0.9, 0.95]
    >>> roc_operating_point(y, scores, min_specificity=0.8)
    OperatingPoint(threshold=0.5, sensitivity=1.0, specificity=0.8)
    >>> roc_operating_point(y, scores, min_specificity=1.0)
    OperatingPoint(threshold=0.8, sensitivity=0.6, specificity=1.0)
    """
    if (min_specificity is None) == (min_sensitivity is None):
        raise ValueError("Give exactly one of min_specificity and min_sensitivity.")
    return _operating_point(
        y_true,
        y_score,
        min_specificity,
        min_sensitivity,
        pos_label,
        "roc_operating_point",
    )


def _operating_point(
    y_true, y_score, min_specificity, min_sensitivity, pos_label, caller
):
    thresholds, sensitivity, specificity = roc_points(
        y_true, y_score, pos_label, caller=caller
    )
    if min_specificity is not None:
        # specificity falls as the threshold falls: the feasible points are a
        # prefix, whose last point has the highest sensitivity; the first
        # point with that sensitivity has the highest specificity.
        last = np.flatnonzero(specificity >= min_specificity)[-1]
        index = np.flatnonzero(sensitivity == sensitivity[last])[0]
    else:
        first = np.flatnonzero(sensitivity >= min_sensitivity)[0]
        index = np.flatnonzero(specificity == specificity[first])[-1]
    return OperatingPoint(
        float(thresholds[index]), float(sensitivity[index]), float(specificity[index])
    )


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "specificity": _TARGET,
        "pos_label": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def sensitivity_at_specificity(y_true, y_score, *, specificity=0.9, pos_label="auto"):
    """Highest sensitivity among thresholds with at least the given specificity.

    The sensitivity of :func:`roc_operating_point` with
    ``min_specificity=specificity``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; exactly two classes.
    y_score : array-like of shape (n_samples,)
        Scores that increase with the likelihood of ``pos_label``.
    specificity : float in [0, 1], default=0.9
        Least acceptable specificity.
    pos_label : "auto" or label, default="auto"
        The positive class, see :func:`resolve_pos_label`.

    Returns
    -------
    sensitivity : float
        The sensitivity of the chosen threshold.

    Examples
    --------
    >>> from mammoclf.metrics import sensitivity_at_specificity
    >>> y = ["BENIGN"] * 5 + ["MALIGNANT"] * 5
    >>> scores = [0.1, 0.2, 0.3, 0.4, 0.7, 0.5, 0.6, 0.8, 0.9, 0.95]
    >>> sensitivity_at_specificity(y, scores, specificity=0.9)
    0.6
    """
    return _operating_point(
        y_true, y_score, specificity, None, pos_label, "sensitivity_at_specificity"
    ).sensitivity


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "sensitivity": _TARGET,
        "pos_label": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def specificity_at_sensitivity(y_true, y_score, *, sensitivity=0.9, pos_label="auto"):
    """Highest specificity among thresholds with at least the given sensitivity.

    The specificity of :func:`roc_operating_point` with
    ``min_sensitivity=sensitivity``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; exactly two classes.
    y_score : array-like of shape (n_samples,)
        Scores that increase with the likelihood of ``pos_label``.
    sensitivity : float in [0, 1], default=0.9
        Least acceptable sensitivity.
    pos_label : "auto" or label, default="auto"
        The positive class, see :func:`resolve_pos_label`.

    Returns
    -------
    specificity : float
        The specificity of the chosen threshold.

    Examples
    --------
    >>> from mammoclf.metrics import specificity_at_sensitivity
    >>> y = ["BENIGN"] * 5 + ["MALIGNANT"] * 5
    >>> scores = [0.1, 0.2, 0.3, 0.4, 0.7, 0.5, 0.6, 0.8, 0.9, 0.95]
    >>> specificity_at_sensitivity(y, scores, sensitivity=0.9)
    0.8
    """
    return _operating_point(
        y_true, y_score, None, sensitivity, pos_label, "specificity_at_sensitivity"
    ).specificity
