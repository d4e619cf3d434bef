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

from mammoclf.classifiers import shared_activation_store
from mammoclf.model_selection._memory import PeakMemorySampler
from mammoclf.model_selection._predict import predict_and_score
from mammoclf.storage import is_memory_mapped, take_rows
from mammoclf.utils._estimators import final_estimator
from mammoclf.utils._orphans import exit_with_parent
from mammoclf.utils._routing import fit_with_groups

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
    threshold: Any = None
    activations_shared: float = math.nan


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
    stages = getattr(final, "stages_", None)
    return {
        "n_epochs": math.nan if n_epochs is None else float(n_epochs),
        "history": history,
        "stages": stages,
        "train_time": math.nan if train_time is None else float(train_time),
        "activations_shared": _activations_shared(stages),
    }


def _activations_shared(stages):
    """Fraction of the frozen activations of a fit read from a shared store.

    NaN when no stage used a store.
    """
    records = [s for s in stages or () if isinstance(s, dict)]
    read = sum(s.get("store_rows_read", 0) for s in records)
    computed = sum(s.get("store_rows_computed", 0) for s in records)
    return read / (read + computed) if read + computed else math.nan


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
    groups=None,
    activation_store=None,
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
    groups : ndarray or None, default=None
        Patient ids of all inputs; ``groups[train]`` reaches estimators
        whose ``fit`` consumes groups (see :func:`fit_with_groups`).
    activation_store : ActivationStore or None, default=None
        Study-wide store of frozen activations, activated around the fit
        and the predictions (in a worker process, reopened from its
        directory).

    Returns
    -------
    output : FoldOutput
    """
    # A memory-mapped data set's folds stay on disk (not loaded whole).
    exit_with_parent()  # a worker ends with its parent (kill -9, SIGTERM)
    index = take_rows if is_memory_mapped(X) else _safe_indexing
    X_train, X_test = index(X, train), index(X, test)
    sampler = PeakMemorySampler() if measure_memory else contextlib.nullcontext()
    sharing = (
        contextlib.nullcontext()
        if activation_store is None
        else shared_activation_store(activation_store)
    )
    try:
        with sharing:
            with sampler:
                started = time.perf_counter()
                fit_with_groups(
                    estimator,
                    X_train,
                    y[train],
                    None if groups is None else groups[train],
                )
                fit_time = time.perf_counter() - started
            predicted = predict_and_score(estimator, X_test, pos_label=pos_label)
    except Exception as exc:
        # Say which task failed: a traceback from a worker process alone does not.
        if hasattr(exc, "add_note"):
            exc.add_note(
                f"compare_models: while fitting/predicting {model!r} on {describe}."
            )
        raise
    if predicted.y_pred.shape != (len(test),):
        raise ValueError(
            f"{model!r}.predict returned shape {predicted.y_pred.shape} for {len(test)} test "
            f"images ({describe}); expected ({len(test)},)."
        )
    info = training_info(estimator)
    return FoldOutput(
        model=model,
        split_index=split_index,
        y_pred=predicted.y_pred,
        y_score=predicted.y_score,
        score_method=predicted.score_method,
        fit_time=fit_time,
        predict_time=predicted.predict_time,
        train_time=info["train_time"],
        n_epochs=info["n_epochs"],
        history=info["history"],
        stages=info["stages"],
        peak_memory_bytes=float(sampler.peak_bytes) if measure_memory else math.nan,
        baseline_memory_bytes=float(sampler.baseline_bytes)
        if measure_memory
        else math.nan,
        estimator=estimator if return_estimator else None,
        threshold=predicted.threshold,
        activations_shared=info["activations_shared"],
    )
