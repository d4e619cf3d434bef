"""The threshold behind a fitted classifier's ``predict``, for a report to state.

A sensitivity or specificity means little without the threshold that produced
it, and that threshold must have been chosen without the test data.
:func:`decision_threshold` reads it off scikit-learn's
``TunedThresholdClassifierCV`` and ``FixedThresholdClassifier`` and off
mammoclf classifiers, so :func:`~mammoclf.compare_models` (per split),
:func:`~mammoclf.model_selection.evaluate_holdout` and the reports state it.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import FixedThresholdClassifier, TunedThresholdClassifierCV
from sklearn.utils._param_validation import HasMethods

from mammoclf.utils._validation import validate_params

__all__ = ["DecisionThreshold", "decision_threshold"]


@dataclass(frozen=True)
class DecisionThreshold:
    """The threshold behind a fitted classifier's ``predict``, for a report to state.

    Attributes
    ----------
    threshold : float
        The value of ``response`` from which ``positive_class`` is predicted;
        NaN when the estimator does not say.
    response : str
        What the threshold applies to: ``"predict_proba"`` (the probability
        of ``positive_class``) or ``"decision_function"``.
    positive_class : label or None
        The class predicted at or above the threshold.
    source : str
        How the threshold was set, in words.
    """

    threshold: float
    response: str
    positive_class: object
    source: str


@validate_params(
    {"estimator": [HasMethods(["predict"])]}, prefer_skip_nested_validation=True
)
def decision_threshold(estimator):
    """Which threshold a fitted classifier's ``predict`` applies, and who chose it.

    * scikit-learn's ``TunedThresholdClassifierCV``: its ``best_threshold_``,
      chosen by cross-validation inside the data it was fitted on;
    * ``FixedThresholdClassifier``: its ``threshold`` (``"auto"`` is 0.5 on
      probabilities, 0 on decision functions);
    * a mammoclf classifier, or a pipeline ending in one: 0.5 on the
      probability of ``classes_[1]`` (``predict`` calls it when the logit is
      above 0);
    * anything else: NaN, "the estimator's own predict".

    Parameters
    ----------
    estimator : fitted classifier
        The model whose ``predict`` gave the binary metrics.

    Returns
    -------
    threshold : DecisionThreshold
        The threshold, what it applies to, and its source in words.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import FixedThresholdClassifier
    >>> from mammoclf.model_selection import decision_threshold
    >>> X = np.arange(20.0).reshape(-1, 1)
    >>> y = np.where(X[:, 0] > 9, "MALIGNANT", "BENIGN")
    >>> clf = FixedThresholdClassifier(LogisticRegression(), threshold=0.3).fit(X, y)
    >>> decision_threshold(clf).threshold
    0.3
    """
    classes = getattr(estimator, "classes_", None)
    default_positive = None if classes is None or len(classes) != 2 else classes[1]
    if isinstance(estimator, TunedThresholdClassifierCV):
        positive = getattr(estimator, "pos_label", None)
        return DecisionThreshold(
            float(estimator.best_threshold_),
            _response_of(estimator),
            default_positive if positive is None else positive,
            f"tuned by TunedThresholdClassifierCV (scoring={estimator.scoring!r}, "
            f"cv={estimator.cv!r}) inside the training data",
        )
    if isinstance(estimator, FixedThresholdClassifier):
        response = _response_of(estimator)
        threshold = estimator.threshold
        if isinstance(threshold, str):  # "auto"
            threshold = 0.5 if response == "predict_proba" else 0.0
        positive = estimator.pos_label
        return DecisionThreshold(
            float(threshold),
            response,
            default_positive if positive is None else positive,
            "fixed by FixedThresholdClassifier",
        )
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    if type(final).__module__.startswith("mammoclf.classifiers"):
        return DecisionThreshold(
            0.5,
            "predict_proba",
            default_positive,
            "mammoclf default: probability above 0.5",
        )
    return DecisionThreshold(
        np.nan, "predict_proba", default_positive, "the estimator's own predict"
    )


def _response_of(estimator):
    method = getattr(estimator, "response_method", "auto")
    if method == "auto":
        inner = getattr(estimator, "estimator_", estimator)
        return (
            "predict_proba" if hasattr(inner, "predict_proba") else "decision_function"
        )
    return method
