"""The predictions an evaluation table reads: cross-validated or held out, never mixed.

A :class:`Predictions` holds one set of predictions of every model:

* ``"cv"``: the pooled out-of-fold predictions of repeat 0 of a
  :class:`ComparisonResult`, every image predicted once by a fold model that
  never saw its patient, with the threshold of that fold model;
* ``"holdout"``: a :class:`HoldoutResult`'s test-set predictions (attached to
  a comparison with ``with_holdout``, or alone for an external evaluation).

:func:`result_parts` is the one place that tells a comparison from a
held-out evaluation; :class:`SummaryInputs` holds both parts of what a
summary reports, with their predictions. The small helpers below word the
captions of the evaluation tables the same way for both sets.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mammoclf.evaluation._evaluation import evaluate_predictions, table_seed
from mammoclf.utils._formatting import format_estimate_interval

__all__ = [
    "Predictions",
    "SummaryInputs",
    "WarnOnce",
    "bootstrap_options",
    "interval_cell",
    "interval_words",
    "result_parts",
    "set_description",
    "set_title",
]

_SET_TITLES = {"cv": "cross-validation", "holdout": "held-out test set"}


@dataclass(frozen=True, eq=False)
class Predictions:
    """Who predicted what: one set of predictions of every model, never mixed.

    Out-of-fold predictions of a cross-validation (every image predicted
    once per repeat by a fold model that never saw its patient), or the
    predictions of a held-out test set. Each image keeps its patient, its
    true label, the fold model that predicted it (cross-validation) and the
    decision threshold behind its predicted label. Every evaluation table
    reads predictions through this object; build it with
    :meth:`from_comparison` or :meth:`from_holdout`.

    Attributes
    ----------
    which : {"cv", "holdout"}
        Out-of-fold predictions of one repeat, or a held-out test set.
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
    sample : ndarray of shape (n_images,)
        Each image's row in the data the result was computed on.
    fold : ndarray of shape (n_images,) or None
        The fold whose model predicted each image (None: held out, predicted
        by the model fitted on all training data).
    paths : ndarray of shape (n_images,) or None
        Each image's file, where known.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mammoclf.evaluation import Predictions
    >>> from mammoclf.model_selection import compare_models
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3))
    >>> y = np.where(X[:, 0] > 0, "MALIGNANT", "BENIGN")
    >>> result = compare_models(
    ...     {"logreg": LogisticRegression()}, X, y, groups=np.arange(40) // 2, cv=2
    ... )
    >>> predictions = Predictions.from_comparison(result)
    >>> predictions.to_frame().columns.tolist()
    ['sample', 'patient', 'fold', 'model', 'y_true', 'threshold', 'y_score', 'y_pred']
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
    sample: np.ndarray | None = None
    fold: np.ndarray | None = None
    paths: np.ndarray | None = None

    @classmethod
    def from_comparison(cls, result, *, repeat=0, paths=None):
        """The out-of-fold predictions of one repeat of a comparison.

        Parameters
        ----------
        result : ComparisonResult
            From :func:`~mammoclf.model_selection.compare_models`.
        repeat : int, default=0
            Which repeat of the cross-validation.
        paths : array-like of shape (n_samples,), default=None
            The image file of each sample of the comparison, if known.

        Returns
        -------
        predictions : Predictions
        """
        comparison, _ = result_parts(result)
        if comparison is None:
            raise TypeError(
                "Predictions.from_comparison needs a ComparisonResult (from "
                f"compare_models); got {type(result).__name__}. Use from_holdout "
                "for a held-out evaluation."
            )
        result = comparison
        n_repeats, fold_ids = result.n_repeats, result.fold_ids
        if not 0 <= repeat < n_repeats:
            raise ValueError(f"repeat must be in [0, {n_repeats}); got {repeat}.")
        folds = fold_ids[repeat]
        tested = np.flatnonzero(folds >= 0)
        y_pred, y_score, thresholds = {}, {}, {}
        for model in result.model_names:
            y_pred[model] = result.y_pred[model][repeat, tested]
            has_scores = result.score_method[model] is not None
            y_score[model] = (
                result.y_score[model][repeat, tested] if has_scores else None
            )
            per_image = np.full(result.y_true.shape[0], np.nan)
            for index, split in enumerate(result.splits):
                if split.repeat == repeat and result.thresholds is not None:
                    per_image[split.test] = result.thresholds[model][index].threshold
            thresholds[model] = per_image[tested]
        metadata = result.metadata
        return cls(
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
            sample=tested,
            fold=folds[tested],
            paths=_paths(paths, result.y_true.shape[0], tested),
        )

    @classmethod
    def from_holdout(cls, result, *, paths=None):
        """The predictions of a held-out test set.

        Parameters
        ----------
        result : HoldoutResult or ComparisonResult
            From :func:`~mammoclf.model_selection.evaluate_holdout`, or a
            comparison with one attached (``with_holdout``).
        paths : array-like of shape (n_test,), default=None
            The image file of each test image, if known.

        Returns
        -------
        predictions : Predictions
        """
        comparison, holdout = result_parts(result)
        if holdout is None:
            raise TypeError(
                "Predictions.from_holdout needs a HoldoutResult (from "
                "evaluate_holdout) or a ComparisonResult with one attached; got "
                f"{type(result).__name__}"
                + (" without a held-out evaluation." if comparison is not None else ".")
            )
        n_test = holdout.y_true.shape[0]
        return cls(
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
            sample=np.arange(n_test),
            paths=_paths(paths, n_test, slice(None)),
        )

    def evaluate(
        self,
        metrics=None,
        *,
        n_resamples=2000,
        confidence_level=0.95,
        random_state=None,
    ):
        """Metrics of every model on these predictions, with patient-bootstrap intervals.

        Each model's table is :func:`evaluate_predictions` of its
        predictions, with the same resamples for every model (one seed).

        Parameters
        ----------
        metrics : list of str, default=None
            Clinical metric names; None means all.
        n_resamples : int, default=2000
            Bootstrap resamples.
        confidence_level : float, default=0.95
            Level of the intervals.
        random_state : int, RandomState instance or None, default=None
            Seeds the resampling.

        Returns
        -------
        table : pandas.DataFrame
            Index (``model``, ``metric``); the columns of
            :func:`evaluate_predictions` and ``threshold``, the decision
            threshold behind the label metrics (NaN where it is not stated
            or differs between the images, as between the fold models of a
            cross-validation).

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from mammoclf.evaluation import Predictions
        >>> from mammoclf.model_selection import evaluate_holdout
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(80, 3))
        >>> y = np.where(X[:, 0] > 0, "MALIGNANT", "BENIGN")
        >>> patients = np.arange(80) // 2
        >>> result = evaluate_holdout({"logreg": LogisticRegression()},
        ...                           X[:60], y[:60], X[60:], y[60:],
        ...                           groups_train=patients[:60],
        ...                           groups_test=patients[60:])
        >>> table = Predictions.from_holdout(result).evaluate(
        ...     ["roc_auc"], n_resamples=50, random_state=0)
        >>> table.index.tolist()
        [('logreg', 'roc_auc')]
        """
        seed = table_seed(random_state)
        tables = []
        for model in self.model_names:
            table = evaluate_predictions(
                self.y_true,
                y_pred=self.y_pred[model],
                y_score=self.y_score[model],
                groups=self.groups,
                metrics=metrics,
                n_resamples=n_resamples,
                confidence_level=confidence_level,
                pos_label=self.pos_label,
                random_state=seed,
            )
            thresholds = np.unique(self.thresholds[model])
            threshold = thresholds[0] if thresholds.size == 1 else np.nan
            tables.append(table.assign(threshold=threshold))
        return pd.concat(tables, keys=list(self.model_names), names=["model", "metric"])

    @property
    def probability_models(self):
        """The models whose scores are probabilities (``predict_proba``)."""
        return [m for m in self.model_names if self.score_method[m] == "predict_proba"]

    @property
    def scored_models(self):
        """The models with positive-class scores."""
        return [m for m in self.model_names if self.y_score[m] is not None]

    def to_frame(self):
        """One row per image and model: who predicted what, with which threshold.

        Returns
        -------
        frame : pandas.DataFrame
            ``sample``, ``patient`` (when known), ``path`` (when known),
            ``fold`` (cross-validation), ``model``, ``y_true``, ``threshold``,
            ``y_score`` (NaN without scores) and ``y_pred``; labels as words.
        """
        n_images = self.y_true.shape[0]
        frames = []
        for model in self.model_names:
            columns = {"sample": self.sample}
            if self.groups is not None:
                columns["patient"] = [str(g) for g in self.groups]
            if self.paths is not None:
                columns["path"] = self.paths
            if self.fold is not None:
                columns["fold"] = self.fold
            scores = self.y_score[model]
            columns |= {
                "model": model,
                "y_true": [str(v) for v in self.y_true],
                "threshold": self.thresholds[model],
                "y_score": np.full(n_images, np.nan) if scores is None else scores,
                "y_pred": [str(v) for v in self.y_pred[model]],
            }
            frames.append(pd.DataFrame(columns))
        return pd.concat(frames, ignore_index=True)


def _paths(paths, n_samples, rows):
    if paths is None:
        return None
    paths = np.asarray(paths, dtype=object)
    if paths.shape != (n_samples,):
        raise ValueError(
            f"paths must have one entry per sample ({n_samples}); got shape "
            f"{paths.shape}."
        )
    return paths[rows]


def _negative(classes, pos_label):
    return next(c for c in classes if c != pos_label)


def result_parts(result):
    """The cross-validation and the held-out evaluation in ``result``.

    The one place where evaluation tells its inputs apart, by the ``kind``
    that :class:`~mammoclf.model_selection.ComparisonResult` (``"comparison"``)
    and :class:`~mammoclf.model_selection.HoldoutResult` (``"holdout"``)
    declare; everything downstream reads the two parts (or the
    :class:`Predictions` built from them), never the type of ``result``.

    Returns
    -------
    comparison : ComparisonResult or None
        ``result`` when it is a comparison.
    holdout : HoldoutResult or None
        ``result`` when it is a held-out evaluation, else the one attached
        to the comparison (``with_holdout``), if any.
        Both are None for anything else.
    """
    kind = getattr(type(result), "kind", None)
    if kind == "comparison":
        return result, result.holdout
    if kind == "holdout":
        return None, result
    return None, None


@dataclass(frozen=True, eq=False)
class SummaryInputs:
    """What a summary reports: a cross-validation, a held-out evaluation, or both.

    Every builder of :data:`~mammoclf.evaluation.SUMMARY_TABLES` reads it:
    the cross-validated tables :attr:`comparison` (None: not reported), the
    held-out ones :attr:`holdout`, and the evaluation tables the
    :class:`Predictions` of either set, built once here.

    Attributes
    ----------
    comparison : ComparisonResult or None
    holdout : HoldoutResult or None
    out_of_fold : Predictions or None
        The pooled out-of-fold predictions of repeat 0 of :attr:`comparison`.
    held_out : Predictions or None
        The test-set predictions of :attr:`holdout`.
    """

    comparison: object
    holdout: object
    out_of_fold: Predictions | None
    held_out: Predictions | None

    @classmethod
    def from_result(cls, result):
        """The parts of a ComparisonResult or a HoldoutResult (TypeError otherwise)."""
        comparison, holdout = result_parts(result)
        if comparison is None and holdout is None:
            raise TypeError(
                "A summary needs a ComparisonResult (from compare_models) or a "
                f"HoldoutResult (from evaluate_holdout); got {type(result).__name__}."
            )
        return cls(
            comparison=comparison,
            holdout=holdout,
            out_of_fold=None
            if comparison is None
            else Predictions.from_comparison(comparison),
            held_out=None if holdout is None else Predictions.from_holdout(holdout),
        )

    def predictions(self, which):
        """The :class:`Predictions` ``which`` (``"cv"`` or ``"holdout"``), or None."""
        return self.out_of_fold if which == "cv" else self.held_out


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
