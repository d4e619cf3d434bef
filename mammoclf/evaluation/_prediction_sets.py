"""The predictions an evaluation table reads: cross-validated or held out, never mixed.

A :class:`PredictionSet` holds one set of predictions of every model:

* ``"cv"``: the pooled out-of-fold predictions of repeat 0 of a
  :class:`ComparisonResult`, every image predicted once by a fold model that
  never saw its patient, with the threshold of that fold model;
* ``"holdout"``: a :class:`HoldoutResult`'s test-set predictions (attached to
  a comparison with ``with_holdout``, or alone for an external evaluation).

The small helpers below word the captions of the evaluation tables the same
way for both sets.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mammoclf.utils._formatting import format_estimate_interval

__all__ = [
    "PredictionSet",
    "WarnOnce",
    "bootstrap_options",
    "holdout_of",
    "holdout_set",
    "interval_cell",
    "interval_words",
    "is_cross_validated",
    "prediction_set",
    "set_description",
    "set_title",
]

_SET_TITLES = {"cv": "cross-validation", "holdout": "held-out test set"}


@dataclass(frozen=True, eq=False)
class PredictionSet:
    """One set of predictions of every model, as the evaluation tables read it.

    Attributes
    ----------
    which : {"cv", "holdout"}
        Out-of-fold predictions of repeat 0, or a held-out test set.
    model_names : tuple of str
    pos_label, negative_label : label
        The malignant and the other class.
    y_true : ndarray of shape (n_images,)
    groups : ndarray of shape (n_images,) or None
        Patient ids.
    y_pred : dict of str to ndarray
    y_score : dict of str to ndarray or None
        Positive-class scores; None for a model without a score method.
    score_method : dict of str to str or None
    thresholds : dict of str to ndarray
        The decision threshold behind each image's ``y_pred`` (NaN unknown):
        in cross-validation, that of the fold model that predicted it.
    metadata : pandas.DataFrame or None
        One row per image.
    """

    which: str
    model_names: tuple
    pos_label: object
    negative_label: object
    y_true: np.ndarray
    groups: np.ndarray | None
    y_pred: dict
    y_score: dict
    score_method: dict
    thresholds: dict
    metadata: pd.DataFrame | None

    @property
    def probability_models(self):
        """The models whose scores are probabilities (``predict_proba``)."""
        return [m for m in self.model_names if self.score_method[m] == "predict_proba"]

    @property
    def scored_models(self):
        """The models with positive-class scores."""
        return [m for m in self.model_names if self.y_score[m] is not None]


def _negative(classes, pos_label):
    return next(c for c in classes if c != pos_label)


def _cv_set(result):
    tested = np.flatnonzero(result.fold_ids[0] >= 0)
    y_pred, y_score, thresholds = {}, {}, {}
    for model in result.model_names:
        y_pred[model] = result.y_pred[model][0, tested]
        has_scores = result.score_method[model] is not None
        y_score[model] = result.y_score[model][0, tested] if has_scores else None
        per_image = np.full(result.y_true.shape[0], np.nan)
        for index, split in enumerate(result.splits):
            if split.repeat == 0 and result.thresholds is not None:
                per_image[split.test] = result.thresholds[model][index].threshold
        thresholds[model] = per_image[tested]
    metadata = result.metadata
    return PredictionSet(
        which="cv",
        model_names=tuple(result.model_names),
        pos_label=result.pos_label,
        negative_label=_negative(result.classes, result.pos_label),
        y_true=result.y_true[tested],
        groups=None if result.groups is None else result.groups[tested],
        y_pred=y_pred,
        y_score=y_score,
        score_method=dict(result.score_method),
        thresholds=thresholds,
        metadata=None
        if metadata is None
        else metadata.iloc[tested].reset_index(drop=True),
    )


def holdout_set(holdout):
    n_test = holdout.y_true.shape[0]
    return PredictionSet(
        which="holdout",
        model_names=tuple(holdout.model_names),
        pos_label=holdout.pos_label,
        negative_label=_negative(holdout.classes, holdout.pos_label),
        y_true=holdout.y_true,
        groups=holdout.groups,
        y_pred={m: np.asarray(holdout.y_pred[m]) for m in holdout.model_names},
        y_score={
            m: None if holdout.score_method[m] is None else holdout.y_score[m]
            for m in holdout.model_names
        },
        score_method=dict(holdout.score_method),
        thresholds={
            m: np.full(n_test, holdout.thresholds[m].threshold)
            for m in holdout.model_names
        },
        metadata=holdout.metadata,
    )


def is_cross_validated(result):
    """Whether ``result`` is a comparison (else a held-out evaluation alone)."""
    return hasattr(result, "splits")


def holdout_of(result):
    """The held-out evaluation a summary reports: attached, or ``result`` itself."""
    return result.holdout if is_cross_validated(result) else result


def prediction_set(result, which):
    """The :class:`PredictionSet` ``which`` of ``result``, or None if it has none."""
    if which == "cv":
        return _cv_set(result) if is_cross_validated(result) else None
    holdout = holdout_of(result)
    return None if holdout is None else holdout_set(holdout)


def set_title(which, topic):
    """``topic (cross-validation)`` or ``topic (held-out test set)``."""
    return f"{topic} ({_SET_TITLES[which]})"


def bootstrap_options(options):
    """The bootstrap arguments of the evaluation functions, from the summary options."""
    return {
        "n_resamples": options.n_resamples,
        "confidence_level": options.confidence_level,
        "random_state": options.random_state,
    }


def interval_cell(row):
    """``estimate [low, high]`` of a row of an evaluation table."""
    return format_estimate_interval(row["estimate"], row["ci_low"], row["ci_high"])


def set_description(predictions):
    """Which predictions a table evaluates, in words."""
    n_patients = (
        ""
        if predictions.groups is None
        else (f" of {np.unique(predictions.groups).size} patients")
    )
    if predictions.which == "cv":
        return (
            f"pooled out-of-fold predictions of repeat 0 ({predictions.y_true.size} "
            f"images{n_patients}, each predicted by a model that never saw its patient)"
        )
    return f"the held-out test set ({predictions.y_true.size} images{n_patients})"


def interval_words(options, predictions):
    """The interval of a table, in words."""
    unit = "patient" if predictions.groups is not None else "image"
    return (
        f"[{options.level_percent}% {unit}-bootstrap percentile interval, "
        f"{options.n_resamples} resamples]"
    )


class WarnOnce:
    """Collect the warnings of a loop over models and re-issue each distinct one once."""

    def __enter__(self):
        self._context = warnings.catch_warnings(record=True)
        self.caught = self._context.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc_info):
        self._context.__exit__(*exc_info)
        seen = set()
        for item in self.caught:
            key = (item.category, str(item.message))
            if key not in seen:
                seen.add(key)
                warnings.warn(item.message, item.category, stacklevel=3)
        return False
