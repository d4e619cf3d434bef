"""One task of a comparison: fit one model on one split, predict its test set.

The task is a module-level function with picklable arguments and result, so
joblib can run it in worker processes or on a Dask cluster.
"""

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils import _safe_indexing

from mammoclf.metrics import positive_class_scores
from mammoclf.model_selection._memory import PeakMemorySampler
from mammoclf.utils._estimators import final_estimator

__all__ = ["FoldOutput", "fit_and_predict", "training_info"]


@dataclass
class FoldOutput:
    """What one (model, split) task sends back."""

    model: str
    split_index: int
    y_pred: np.ndarray
    y_score: np.ndarray | None
    score_method: str | None
    fit_time: float
    predict_time: float
    train_time: float
    n_epochs: float
    history: dict | None
    stages: Any
    peak_memory_bytes: float
    baseline_memory_bytes: float
    estimator: Any


def training_info(estimator):
    """Epochs, per-epoch history, stages and training time of a fitted estimator.

    Reads ``n_epochs_`` (else the length of ``history_``'s lists),
    ``history_`` (a mapping of metric name to per-epoch values, as mammoclf
    and scikeras estimators expose), ``stages_`` and ``fit_time_`` from the
    final estimator; missing ones are NaN or None.

    Returns
    -------
    info : dict
        ``n_epochs``, ``history``, ``stages`` and ``train_time``.
    """
    final = final_estimator(estimator)
    history = getattr(final, "history_", None)
    if hasattr(history, "items"):
        history = {str(k): [float(v) for v in values] for k, values in history.items()}
    else:
        history = None
    n_epochs = getattr(final, "n_epochs_", None)
    if n_epochs is None and history:
        n_epochs = max(len(values) for values in history.values())
    train_time = getattr(final, "fit_time_", None)
    return {
        "n_epochs": math.nan if n_epochs is None else float(n_epochs),
        "history": history,
        "stages": getattr(final, "stages_", None),
        "train_time": math.nan if train_time is None else float(train_time),
    }


def fit_and_predict(
    estimator,
    X,
    y,
    train,
    test,
    *,
    model,
    split_index,
    pos_label,
    measure_memory,
    return_estimator,
    describe,
):
    """Fit a clone on ``train``, predict labels and positive-class scores on ``test``.

    Parameters
    ----------
    estimator : unfitted estimator (a clone)
    X : array-like or sequence
        All inputs; indexed with scikit-learn's ``_safe_indexing`` so arrays,
        DataFrames and lists of file paths all work.
    y : ndarray
    train, test : ndarray of int
    model : str
        Name of the model, for the result and error messages.
    split_index : int
    pos_label : label
        Positive class, whose scores are returned.
    measure_memory : bool
        Sample the process RSS during ``fit`` (see ``_memory``).
    return_estimator : bool
        Send the fitted estimator back.
    describe : str
        "repeat r, fold f", for error messages.

    Returns
    -------
    output : FoldOutput
    """
    X_train = _safe_indexing(X, train)
    X_test = _safe_indexing(X, test)
    sampler = PeakMemorySampler() if measure_memory else contextlib.nullcontext()
    try:
        with sampler:
            started = time.perf_counter()
            estimator.fit(X_train, y[train])
            fit_time = time.perf_counter() - started
        started = time.perf_counter()
        y_pred = np.asarray(estimator.predict(X_test))
        y_score, score_method = None, None
        if hasattr(estimator, "predict_proba") or hasattr(
            estimator, "decision_function"
        ):
            y_score, score_method = positive_class_scores(
                estimator, X_test, pos_label=pos_label
            )
        predict_time = time.perf_counter() - started
    except Exception as exc:
        # Say which task failed: a traceback from a worker process alone does not.
        if hasattr(exc, "add_note"):
            exc.add_note(
                f"compare_models: while fitting/predicting {model!r} on {describe}."
            )
        raise
    if y_pred.shape != (len(test),):
        raise ValueError(
            f"{model!r}.predict returned shape {y_pred.shape} for {len(test)} test "
            f"images ({describe}); expected ({len(test)},)."
        )
    info = training_info(estimator)
    return FoldOutput(
        model=model,
        split_index=split_index,
        y_pred=y_pred,
        y_score=y_score,
        score_method=score_method,
        fit_time=fit_time,
        predict_time=predict_time,
        train_time=info["train_time"],
        n_epochs=info["n_epochs"],
        history=info["history"],
        stages=info["stages"],
        peak_memory_bytes=float(sampler.peak_bytes) if measure_memory else math.nan,
        baseline_memory_bytes=float(sampler.baseline_bytes)
        if measure_memory
        else math.nan,
        estimator=estimator if return_estimator else None,
    )
