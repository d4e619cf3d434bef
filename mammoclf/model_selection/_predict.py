"""The one predict-and-score step of model selection.

Every prediction that an evaluation reads goes through
:func:`predict_and_score`: the test fold of a cross-validation split
(``_fit.fit_and_predict``), the test set of :func:`~mammoclf.evaluate_holdout`
and the saved models of ``mammoclf evaluate``
(:func:`~mammoclf.model_selection.evaluate_fitted`). It predicts labels,
the positive class's scores (``predict_proba``, else the oriented
``decision_function``; none for a labels-only model) and reads the decision
threshold behind the labels, so the three paths cannot drift apart.
"""

import sys
import time
from dataclasses import dataclass

import numpy as np
from sklearn.utils.validation import _num_samples

from mammoclf.metrics import positive_class_scores
from mammoclf.model_selection._threshold import DecisionThreshold, decision_threshold

__all__ = ["ModelPredictions", "predict_and_score", "predict_models", "progress_line"]


@dataclass(frozen=True)
class ModelPredictions:
    """One fitted model's predictions of one set of inputs.

    Attributes
    ----------
    y_pred : ndarray of shape (n_samples,)
        Predicted labels.
    y_score : ndarray of shape (n_samples,) or None
        Scores of the positive class; None when the model has neither
        ``predict_proba`` nor ``decision_function``.
    score_method : {"predict_proba", "decision_function"} or None
        Where ``y_score`` comes from.
    threshold : DecisionThreshold
        The threshold behind ``y_pred``.
    predict_time : float
        Wall-clock seconds of ``predict`` and the scores.
    """

    y_pred: np.ndarray
    y_score: np.ndarray | None
    score_method: str | None
    threshold: DecisionThreshold
    predict_time: float


def predict_and_score(estimator, X, *, pos_label):
    """Labels, positive-class scores and decision threshold of a fitted classifier.

    Parameters
    ----------
    estimator : fitted classifier
    X : array-like
        Inputs the estimator accepts.
    pos_label : label
        The positive (malignant) class, one of ``estimator.classes_``.

    Returns
    -------
    predictions : ModelPredictions
    """
    started = time.perf_counter()
    y_pred = np.asarray(estimator.predict(X))
    y_score = score_method = None
    if hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function"):
        y_score, score_method = positive_class_scores(estimator, X, pos_label=pos_label)
    return ModelPredictions(
        y_pred=y_pred,
        y_score=y_score,
        score_method=score_method,
        threshold=decision_threshold(estimator),
        predict_time=time.perf_counter() - started,
    )


def predict_models(fitted, X, *, pos_label, progress=None):
    """:func:`predict_and_score` of every fitted model on the same inputs.

    Parameters
    ----------
    fitted : dict of str to fitted classifier
    X : array-like
    pos_label : label
    progress : str or None, default=None
        The caller's name: a line per model on standard error
        (``[caller] 1/2 name: predicted 40 test images in 0.3 s``).

    Returns
    -------
    predictions : dict of str to ModelPredictions
        In the order of ``fitted``.
    """
    predictions = {}
    n_samples = _num_samples(X)
    for number, (name, estimator) in enumerate(fitted.items(), start=1):
        predicted = predict_and_score(estimator, X, pos_label=pos_label)
        if predicted.y_pred.shape != (n_samples,):
            raise ValueError(
                f"{name!r}.predict returned shape {predicted.y_pred.shape} "
                f"for {n_samples} inputs; expected ({n_samples},)."
            )
        predictions[name] = predicted
        if progress:
            progress_line(
                progress,
                f"{number}/{len(fitted)} {name}: predicted {n_samples} test images "
                f"in {predicted.predict_time:.1f} s",
            )
    return predictions


def progress_line(caller, message):
    """``[caller] message`` on standard error, at once."""
    print(f"[{caller}] {message}", file=sys.stderr, flush=True)
