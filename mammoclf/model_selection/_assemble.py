"""Assemble the per-(model, split) outputs of a comparison into its result."""

import math

import numpy as np
import pandas as pd

from mammoclf.model_selection._result import ComparisonResult

__all__ = ["assemble_result"]

_MB = 1024**2

_COMPUTE_COLUMNS = [
    "fit_time",
    "train_time",
    "predict_time",
    "n_epochs",
    "time_per_epoch",
    "peak_memory_mb",
    "memory_increase_mb",
    "activations_shared",
]


def _compute_row(out):
    epoch_time = out.train_time if math.isfinite(out.train_time) else out.fit_time
    return [
        out.fit_time,
        out.train_time,
        out.predict_time,
        out.n_epochs,
        epoch_time / out.n_epochs if out.n_epochs > 0 else math.nan,
        out.peak_memory_bytes / _MB,
        (out.peak_memory_bytes - out.baseline_memory_bytes) / _MB,
        out.activations_shared,
    ]


def _score_row(out, split, inputs):
    return [
        scorer.score_predictions(
            inputs.y[split.test],
            y_pred=out.y_pred,
            y_score=out.y_score,
            pos_label=inputs.pos_label,
        )
        for scorer in inputs.scorers.values()
    ]


def _per_split_frames(inputs, splits, outputs):
    """Scores and compute costs, one row per (model, repeat, fold)."""
    index = [
        (out.model, splits[out.split_index].repeat, splits[out.split_index].fold)
        for out in outputs
    ]
    multi_index = pd.MultiIndex.from_tuples(index, names=["model", "repeat", "fold"])
    scores = pd.DataFrame(
        [_score_row(out, splits[out.split_index], inputs) for out in outputs],
        index=multi_index,
        columns=list(inputs.scorers),
    )
    compute = pd.DataFrame(
        [_compute_row(out) for out in outputs],
        index=multi_index,
        columns=_COMPUTE_COLUMNS,
    )
    return scores, compute


def _out_of_fold(inputs, splits, outputs):
    """Predictions per repeat and per-split training records, keyed by model."""
    names = inputs.names
    n_repeats = max(split.repeat for split in splits) + 1
    shape = (n_repeats, inputs.y.shape[0])
    y_pred = {name: np.full(shape, None, dtype=object) for name in names}
    y_score = {name: np.full(shape, np.nan) for name in names}
    score_method = dict.fromkeys(names)
    per_split = {
        key: {name: [None] * len(splits) for name in names}
        for key in ("history", "stages", "estimator", "threshold")
    }
    for out in outputs:
        split = splits[out.split_index]
        y_pred[out.model][split.repeat, split.test] = out.y_pred
        if out.y_score is not None:
            y_score[out.model][split.repeat, split.test] = out.y_score
            score_method[out.model] = out.score_method
        for key, records in per_split.items():
            records[out.model][out.split_index] = getattr(out, key)
    per_split = {
        key: {name: tuple(values) for name, values in records.items()}
        for key, records in per_split.items()
    }
    return y_pred, y_score, score_method, per_split


def assemble_result(inputs, splits, description, outputs, *, return_estimators):
    """The :class:`ComparisonResult` of the per-split outputs.

    ``inputs`` are the checked arguments of :func:`compare_models` (models,
    labels, groups, classes, positive class, scorers); ``outputs`` the
    :class:`FoldOutput` of every (model, split), in any order.
    """
    scores, compute = _per_split_frames(inputs, splits, outputs)
    y_pred, y_score, score_method, per_split = _out_of_fold(inputs, splits, outputs)
    return ComparisonResult(
        model_names=tuple(inputs.names),
        metric_names=tuple(inputs.scorers),
        classes=inputs.classes,
        pos_label=inputs.pos_label,
        y_true=inputs.y,
        groups=inputs.groups,
        splits=tuple(splits),
        cv_description=description,
        scores=scores,
        compute=compute,
        y_pred=y_pred,
        y_score=y_score,
        score_method=score_method,
        histories=per_split["history"],
        stages=per_split["stages"],
        estimators=per_split["estimator"] if return_estimators else None,
        thresholds=per_split["threshold"],
        metadata=inputs.metadata,
    )
