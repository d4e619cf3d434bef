"""scikit-learn scorers for the clinical metrics, and out-of-fold scoring.

A :class:`ClinicalScorer` works in two places:

* as a scikit-learn scorer, ``scorer(estimator, X, y)``, in ``cross_validate``
  and ``GridSearchCV``, with ``pos_label`` resolved from the estimator's
  ``classes_``;
* on stored predictions, ``scorer.score_predictions(y_true, y_pred=...,
  y_score=...)``, which :func:`mammoclf.compare_models` uses to score
  out-of-fold predictions. Computing scores from predictions rather than
  through estimator tags is what keeps AUCs of wrappers such as scikeras's
  ``KerasClassifier`` (not a "classifier" to ``is_classifier`` on
  scikit-learn >= 1.6) finite.
"""

import inspect

import numpy as np
from sklearn.utils._param_validation import StrOptions

from mammoclf.metrics._clinical import (
    accuracy_score,
    balanced_accuracy_score,
    f1_weighted_score,
    npv_score,
    ppv_score,
    roc_auc_score,
    sensitivity_score,
    specificity_score,
)
from mammoclf.metrics._labels import resolve_pos_label
from mammoclf.utils._validation import validate_params

__all__ = [
    "CLINICAL_METRICS",
    "ClinicalScorer",
    "clinical_scorers",
    "make_clinical_scorer",
    "positive_class_scores",
]

_RESPONSES = ("predict", "score")

# name -> (metric function, what it consumes). Order is the order of tables.
_CLINICAL = {
    "accuracy": (accuracy_score, "predict"),
    "sensitivity": (sensitivity_score, "predict"),
    "specificity": (specificity_score, "predict"),
    "ppv": (ppv_score, "predict"),
    "npv": (npv_score, "predict"),
    "balanced_accuracy": (balanced_accuracy_score, "predict"),
    "f1_weighted": (f1_weighted_score, "predict"),
    "roc_auc": (roc_auc_score, "score"),
}

#: Names of the clinical metrics, in the order tables show them.
CLINICAL_METRICS = tuple(_CLINICAL)

# The one name of each metric in every formatted table, report and console
# line (CSV files keep the metric keys above, which are machine-readable).
METRIC_DISPLAY_NAMES = {
    "accuracy": "accuracy",
    "sensitivity": "sensitivity (recall)",
    "specificity": "specificity",
    "ppv": "precision (PPV)",
    "npv": "NPV",
    "balanced_accuracy": "balanced accuracy",
    "f1_weighted": "weighted F1",
    "roc_auc": "ROC AUC",
}

# Ratios whose denominator can be zero in a fold or a bootstrap resample (no
# malignant case, no malignant call, ...). Their scorers return NaN there, not
# scikit-learn's 0.0: a 0.0 would enter fold means as a real score and bias
# them; a NaN is left out and counted as an undefined fold.
_UNDEFINED_AS_NAN = ("sensitivity", "specificity", "ppv", "npv")


class ClinicalScorer:
    """A scorer for a metric of labels or positive-class scores.

    Build one with :func:`make_clinical_scorer` or :func:`clinical_scorers`
    rather than directly.

    Parameters
    ----------
    score_func : callable
        ``score_func(y_true, y, **kwargs)`` where ``y`` is predicted labels
        (``response="predict"``) or positive-class scores
        (``response="score"``). It receives ``pos_label`` when its signature
        has that parameter.
    response : {"predict", "score"}
        What ``score_func`` consumes.
    pos_label : "auto" or label
        Positive class; ``"auto"`` follows :func:`resolve_pos_label`.
    greater_is_better : bool
        When False the scorer returns the negated metric, scikit-learn's
        convention for losses.
    kwargs : dict
        Extra keyword arguments of ``score_func``.
    """

    def __init__(self, score_func, response, pos_label, greater_is_better, kwargs):
        self.score_func = score_func
        self.response = response
        self.pos_label = pos_label
        self.greater_is_better = greater_is_better
        self.kwargs = dict(kwargs)

    @property
    def _takes_pos_label(self):
        try:
            return "pos_label" in inspect.signature(self.score_func).parameters
        except (TypeError, ValueError):  # builtins without a signature
            return False

    def __repr__(self):
        name = getattr(self.score_func, "__name__", repr(self.score_func))
        extra = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        sign = "" if self.greater_is_better else ", greater_is_better=False"
        return (
            f"make_clinical_scorer({name}, response={self.response!r}, "
            f"pos_label={self.pos_label!r}{sign}{extra})"
        )

    def score_predictions(
        self, y_true, *, y_pred=None, y_score=None, pos_label=None, sample_weight=None
    ):
        """Score stored predictions (e.g. out-of-fold ones).

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            True labels.
        y_pred : array-like of shape (n_samples,), default=None
            Predicted labels; required when ``response="predict"``.
        y_score : array-like of shape (n_samples,), default=None
            Positive-class scores; required when ``response="score"``.
        pos_label : label, default=None
            Overrides the scorer's ``pos_label`` (``compare_models`` resolves
            it once from all of ``y``).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights, when ``score_func`` accepts them.

        Returns
        -------
        score : float
            The metric, negated when ``greater_is_better=False``.
        """
        values = y_pred if self.response == "predict" else y_score
        if values is None:
            needed = "y_pred" if self.response == "predict" else "y_score"
            raise ValueError(f"{self!r} needs {needed}.")
        kwargs = dict(self.kwargs)
        if self._takes_pos_label:
            kwargs["pos_label"] = self.pos_label if pos_label is None else pos_label
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        sign = 1.0 if self.greater_is_better else -1.0
        return sign * float(self.score_func(y_true, values, **kwargs))

    def __call__(self, estimator, X, y_true, sample_weight=None):
        """Score a fitted ``estimator`` on ``(X, y_true)``, scikit-learn style."""
        # The estimator's classes_ name both classes even when a test fold
        # holds only one, so resolve pos_label there when it exists.
        if self.response == "predict":
            pos_label = None
            if self._takes_pos_label and hasattr(estimator, "classes_"):
                pos_label = resolve_pos_label(estimator.classes_, self.pos_label)
            return self.score_predictions(
                y_true,
                y_pred=estimator.predict(X),
                pos_label=pos_label,
                sample_weight=sample_weight,
            )
        pos_label = resolve_pos_label(_classes_of(estimator), self.pos_label)
        scores, _ = positive_class_scores(estimator, X, pos_label=pos_label)
        return self.score_predictions(
            y_true, y_score=scores, pos_label=pos_label, sample_weight=sample_weight
        )


@validate_params(
    {
        "score_func": [StrOptions(set(_CLINICAL)), callable],
        "response": [StrOptions(set(_RESPONSES))],
        "pos_label": "no_validation",  # a label, resolved against the data
        "greater_is_better": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_clinical_scorer(
    score_func,
    *,
    response="predict",
    pos_label="auto",
    greater_is_better=True,
    **kwargs,
):
    """Make a scorer from a metric of labels or of positive-class scores.

    The scikit-learn analogue is :func:`sklearn.metrics.make_scorer`; the
    difference is how the positive class is found: ``pos_label="auto"``
    picks the label named ``"malignant"`` (see :func:`resolve_pos_label`)
    from the estimator's ``classes_``, and score-based metrics read that
    class's column of ``predict_proba`` (or the binary ``decision_function``,
    negated when the positive class is ``classes_[0]``).

    Parameters
    ----------
    score_func : callable or str
        A metric ``score_func(y_true, y, **kwargs)``, or the name of a
        clinical metric (one of :data:`CLINICAL_METRICS`), in which case
        ``response`` is taken from the metric. Named sensitivity,
        specificity, PPV and NPV scorers return NaN where the metric is
        undefined (``zero_division=np.nan``, e.g. PPV of a fold without
        malignant calls) instead of scikit-learn's 0.0, which would bias a
        mean over folds; pass ``zero_division`` to choose otherwise. ROC AUC
        is NaN without both classes anyway.
    response : {"predict", "score"}, default="predict"
        Whether ``score_func`` takes predicted labels or positive-class
        scores. Ignored for metric names.
    pos_label : "auto" or label, default="auto"
        The positive class, passed to ``score_func`` when it has a
        ``pos_label`` parameter.
    greater_is_better : bool, default=True
        False for losses; the scorer then returns the negated metric.
    **kwargs
        Further keyword arguments of ``score_func``.

    Returns
    -------
    scorer : ClinicalScorer
        Callable as ``scorer(estimator, X, y)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_val_score
    >>> from mammoclf.metrics import make_clinical_scorer, sensitivity_score
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3))
    >>> y = np.where(X[:, 0] > 0, "MALIGNANT", "BENIGN")
    >>> scorer = make_clinical_scorer(sensitivity_score)
    >>> cross_val_score(LogisticRegression(), X, y, cv=4, scoring=scorer).min() > 0.7
    np.True_
    """
    if isinstance(score_func, str):  # a known name: validate_params checked it
        if score_func in _UNDEFINED_AS_NAN:
            kwargs = {"zero_division": np.nan, **kwargs}
        score_func, response = _CLINICAL[score_func]
    return ClinicalScorer(
        score_func, response, pos_label, bool(greater_is_better), kwargs
    )


@validate_params(
    {"pos_label": "no_validation", "metrics": [list, tuple, None]},
    prefer_skip_nested_validation=True,
)
def clinical_scorers(*, pos_label="auto", metrics=None):
    """A ``scoring`` dict of the clinical metrics for scikit-learn or mammoclf.

    Parameters
    ----------
    pos_label : "auto" or label, default="auto"
        The positive (malignant) class, see :func:`resolve_pos_label`.
    metrics : sequence of str, default=None
        Subset of :data:`CLINICAL_METRICS`; None means all of them:
        accuracy, sensitivity, specificity, ppv, npv, balanced_accuracy,
        f1_weighted and roc_auc.

    Returns
    -------
    scoring : dict of str to ClinicalScorer
        Usable as ``scoring=`` in ``cross_validate``, ``GridSearchCV`` (with
        ``refit=`` one of the names) and :func:`mammoclf.compare_models`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_validate
    >>> from mammoclf.metrics import clinical_scorers
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3))
    >>> y = np.where(X[:, 0] > 0, "MALIGNANT", "BENIGN")
    >>> scoring = clinical_scorers(metrics=["specificity", "roc_auc"])
    >>> cv = cross_validate(LogisticRegression(), X, y, cv=4, scoring=scoring)
    >>> sorted(k for k in cv if k.startswith("test_"))
    ['test_roc_auc', 'test_specificity']
    """
    names = CLINICAL_METRICS if metrics is None else list(metrics)
    unknown = [name for name in names if name not in _CLINICAL]
    if unknown or not names:
        raise ValueError(
            f"metrics must be a non-empty subset of {list(CLINICAL_METRICS)}; "
            f"unknown: {unknown}."
        )
    return {name: make_clinical_scorer(name, pos_label=pos_label) for name in names}


@validate_params(
    {
        # What it must implement is checked below, with advice on scoring.
        "estimator": "no_validation",
        "X": ["array-like", "sparse matrix"],
        "pos_label": "no_validation",  # a class of the estimator, checked below
    },
    prefer_skip_nested_validation=False,
)
def positive_class_scores(estimator, X, *, pos_label):
    """Scores of ``pos_label`` from a fitted binary classifier, and their source.

    ``predict_proba`` is preferred (its column for ``pos_label``), because
    probabilities are what ROC plots, calibration checks and bootstrap CIs
    want; otherwise the binary ``decision_function`` (scikit-learn's
    convention: positive values favour ``classes_[1]``), negated when
    ``pos_label`` is ``classes_[0]``.

    Parameters
    ----------
    estimator : fitted classifier
        Must expose ``classes_`` and ``predict_proba`` or ``decision_function``.
    X : array-like
        Input accepted by ``estimator``.
    pos_label : label
        An element of ``estimator.classes_``.

    Returns
    -------
    scores : ndarray of shape (n_samples,), dtype float64
    method : {"predict_proba", "decision_function"}

    Raises
    ------
    ValueError
        When ``pos_label`` is not a class of the estimator or its output is
        not binary.
    TypeError
        When the estimator has neither ``predict_proba`` nor
        ``decision_function``.
    """
    classes = list(_classes_of(estimator))
    if pos_label not in classes:
        raise ValueError(
            f"pos_label={pos_label!r} is not among the classes {classes} the "
            f"{type(estimator).__name__} was fitted on (was it missing from the "
            "training fold?)."
        )
    if hasattr(estimator, "predict_proba"):
        proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        if proba.ndim != 2 or proba.shape[1] != len(classes):
            raise ValueError(
                f"{type(estimator).__name__}.predict_proba returned shape "
                f"{proba.shape}; expected (n_samples, {len(classes)})."
            )
        return proba[:, classes.index(pos_label)], "predict_proba"
    if hasattr(estimator, "decision_function"):
        decision = np.asarray(estimator.decision_function(X), dtype=np.float64)
        if decision.ndim != 1 or len(classes) != 2:
            raise ValueError(
                f"{type(estimator).__name__}.decision_function is not binary "
                f"(shape {decision.shape}); positive-class scores need two classes."
            )
        return (decision if classes.index(pos_label) == 1 else -decision), (
            "decision_function"
        )
    raise TypeError(
        f"{type(estimator).__name__} has neither predict_proba nor "
        "decision_function, so score-based metrics such as roc_auc cannot be "
        "computed for it; drop them from scoring."
    )


def _classes_of(estimator):
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise AttributeError(
            f"{type(estimator).__name__} has no classes_: score-based metrics need "
            "a fitted classifier."
        )
    return np.asarray(classes)
