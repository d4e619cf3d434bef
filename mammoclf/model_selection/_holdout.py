"""A separate test set: refit on all training data, evaluate once, no shared patient.

Cross-validation (:func:`~mammoclf.compare_models`) estimates how a
modelling *procedure* performs; a fixed test set, such as CBIS-DDSM's
official split, measures the one model that the procedure produced on the
whole training set. Published CBIS-DDSM numbers mostly come from the
official test set, and cross-validated numbers on the same data are
typically higher (Petrini et al. found 0.93 against 0.85), so a report keeps
the two apart: choose the model by cross-validation on the training split,
then call :func:`evaluate_holdout` once.
"""

import time
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import column_or_1d
from sklearn.utils.validation import _num_samples

from mammoclf.exceptions import GroupLeakageWarning
from mammoclf.metrics import resolve_pos_label
from mammoclf.model_selection._compare import _named_estimators as named_estimators
from mammoclf.model_selection._predict import predict_models, progress_line
from mammoclf.model_selection._result import SummaryAlias
from mammoclf.model_selection._threshold import DecisionThreshold, decision_threshold
from mammoclf.utils._deprecation import deprecated_alias_module
from mammoclf.utils._routing import fit_with_groups
from mammoclf.utils._validation import validate_params

__all__ = [
    "DecisionThreshold",
    "HoldoutResult",
    "decision_threshold",
    "evaluate_holdout",
]


@dataclass(frozen=True, repr=False, eq=False)
class HoldoutResult(SummaryAlias):
    """Models refitted on the training set and evaluated once on the test set.

    Attributes
    ----------
    model_names : tuple of str
        The models, in input order.
    classes : ndarray of shape (2,)
        The training labels' classes.
    pos_label : label
        The positive (malignant) class.
    y_true : ndarray of shape (n_test,)
        Test labels.
    groups : ndarray of shape (n_test,) or None
        Test patient ids.
    y_pred : dict of str to ndarray
        Predicted test labels per model.
    y_score : dict of str to ndarray
        Positive-class test scores per model (NaN when the model has
        neither ``predict_proba`` nor ``decision_function``).
    score_method : dict of str to str or None
        ``"predict_proba"`` or ``"decision_function"`` per model.
    thresholds : dict of str to DecisionThreshold
        The threshold behind each model's ``y_pred``.
    fit_time : dict of str to float
        Wall-clock seconds of each refit on the training set.
    estimators : dict of str to estimator
        The refitted models.
    training : dict
        What the training (development) data were: ``n_images``,
        ``n_patients`` (None without groups), ``n_positive``, ``prevalence``
        and ``image_shape`` (None unless ``X_train`` is an array).
    metadata : pandas.DataFrame or None
        ``metadata_test`` of :func:`evaluate_holdout`: one row per test
        image, ``laterality`` for breast-level scores and subgroup columns.
    kind : str
        ``"holdout"``, for every HoldoutResult: what
        :mod:`mammoclf.evaluation` reads to tell it from a
        :class:`ComparisonResult` (``"comparison"``).
    """

    kind: ClassVar[str] = "holdout"

    model_names: tuple
    classes: np.ndarray
    pos_label: object
    y_true: np.ndarray
    groups: np.ndarray | None
    y_pred: dict
    y_score: dict
    score_method: dict
    thresholds: dict
    fit_time: dict
    estimators: dict
    training: dict
    metadata: pd.DataFrame | None = None

    def __repr__(self):
        return (
            f"HoldoutResult(models={list(self.model_names)}, n_test={self.y_true.size}, "
            f"n_train={self.training['n_images']})"
        )

    def scores(
        self,
        metrics=None,
        *,
        n_resamples=2000,
        confidence_level=0.95,
        random_state=None,
    ):
        """Deprecated: ``Predictions.from_holdout(result).evaluate(...)``.

        Use :meth:`mammoclf.evaluation.Predictions.evaluate` of
        :meth:`Predictions.from_holdout
        <mammoclf.evaluation.Predictions.from_holdout>`, with the same
        parameters and result; this alias is removed in the next release.

        Returns
        -------
        table : pandas.DataFrame
            See :meth:`mammoclf.evaluation.Predictions.evaluate`.
        """
        # Imported by name when called: evaluation sits above model_selection.
        evaluation = deprecated_alias_module(
            "HoldoutResult.scores(...)",
            "mammoclf.evaluation.Predictions.from_holdout(result).evaluate(...)",
            "mammoclf.evaluation",
        )
        return evaluation.Predictions.from_holdout(self).evaluate(
            metrics,
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            random_state=random_state,
        )


def _check_patients(groups_train, groups_test, n_train, n_test):
    if groups_train is None and groups_test is None:
        warnings.warn(
            "groups_train and groups_test are None, so nothing checks that no patient "
            "has images in both sets; a shared patient inflates every test score. Pass "
            "the patient ids of both sets.",
            GroupLeakageWarning,
            stacklevel=4,
        )
        return None, None
    if groups_train is None or groups_test is None:
        raise ValueError(
            "Give patient ids for both sets (groups_train and groups_test) or neither: "
            "the check that no patient is in both needs both."
        )
    groups_train, groups_test = column_or_1d(groups_train), column_or_1d(groups_test)
    for groups, n, what in (
        (groups_train, n_train, "train"),
        (groups_test, n_test, "test"),
    ):
        if groups.shape[0] != n:
            raise ValueError(
                f"groups_{what} has {groups.shape[0]} entries for {n} images."
            )
    shared = np.intersect1d(groups_train, groups_test)
    if shared.size:
        raise ValueError(
            f"{shared.size} patient(s) have images in both the training and the test "
            f"set (e.g. {shared[:3].tolist()}); a held-out test set must not share "
            "patients with the training data."
        )
    return groups_train, groups_test


@validate_params(
    {
        "estimators": [dict, list, tuple],
        "X_train": ["array-like", "sparse matrix"],
        "y_train": ["array-like"],
        "X_test": ["array-like", "sparse matrix"],
        "y_test": ["array-like"],
        "groups_train": ["array-like", None],
        "groups_test": ["array-like", None],
        "pos_label": "no_validation",  # checked by resolve_pos_label
        "verbose": ["verbose"],
        "metadata_test": [pd.DataFrame, None],
    },
    prefer_skip_nested_validation=True,
)
def evaluate_holdout(
    estimators,
    X_train,
    y_train,
    X_test,
    y_test,
    *,
    groups_train=None,
    groups_test=None,
    pos_label="auto",
    verbose=0,
    metadata_test=None,
):
    """Refit each model on the whole training set and evaluate it once on a test set.

    The companion of :func:`~mammoclf.compare_models` for a separate test
    set (CBIS-DDSM's official split, an external data set): cross-validate
    on the training set to choose, then call this once. Each model is
    cloned, fitted on all of ``X_train`` (estimators whose ``fit`` consumes
    ``groups``, such as ``TunedThresholdClassifierCV`` with a
    ``StratifiedGroupKFold``, get ``groups_train`` through scikit-learn's
    metadata routing) and predicts ``X_test``. Nothing about the test set
    reaches a fit.

    Parameters
    ----------
    estimators : dict, list of (name, estimator) or list of estimators
        The models; unnamed ones are named after their class.
    X_train : array-like or sequence of paths
        Training inputs (images, flattened images, or file paths for a
        pipeline that starts with a loader).
    y_train : array-like of shape (n_train,)
        Training labels, of two classes.
    X_test : array-like or sequence of paths
        Test inputs, of the same kind as ``X_train``.
    y_test : array-like of shape (n_test,)
        Test labels, among the training labels' classes.
    groups_train, groups_test : array-like, default=None
        Patient ids of the two sets. A patient in both is refused. Without
        them a :class:`~mammoclf.exceptions.GroupLeakageWarning` says that
        nothing was checked.
    pos_label : "auto" or label, default="auto"
        The positive (malignant) class.
    verbose : int, default=0
        1 prints a line per model fitted.
    metadata_test : pandas.DataFrame, default=None
        One row per test image (``laterality``, subgroup columns such as
        breast density), kept on the result for breast-level and subgroup
        tables of its summary; no fit sees it.

    Returns
    -------
    result : HoldoutResult
        Test predictions, thresholds, fit times, the refitted models, a
        summary of the training data; :func:`mammoclf.evaluation.summarize`
        gives its tables, and ``Predictions.from_holdout(result).evaluate()``
        the metrics with patient-bootstrap intervals.

    Raises
    ------
    ValueError
        When a patient is in both sets, or the labels are not binary.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mammoclf.model_selection import evaluate_holdout
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 3))
    >>> y = np.where(X[:, 0] > 0, "MALIGNANT", "BENIGN")
    >>> patients = np.arange(80) // 2
    >>> result = evaluate_holdout({"logreg": LogisticRegression()},
    ...                           X[:60], y[:60], X[60:], y[60:],
    ...                           groups_train=patients[:60], groups_test=patients[60:])
    >>> from mammoclf.evaluation import Predictions
    >>> predictions = Predictions.from_holdout(result)
    >>> table = predictions.evaluate(["roc_auc"], n_resamples=50, random_state=0)
    >>> table.index.tolist()
    [('logreg', 'roc_auc')]
    >>> bool(table["estimate"].iloc[0] > 0.9)
    True
    """
    pairs = named_estimators(estimators)
    data = _check_holdout_inputs(
        X_train, y_train, X_test, y_test, groups_train, groups_test, metadata_test
    )
    pos_label = resolve_pos_label(data.classes, pos_label)
    fitted, fit_time = {}, {}
    for number, (name, estimator) in enumerate(pairs, start=1):
        started = time.perf_counter()
        fitted[name] = fit_with_groups(
            clone(estimator), X_train, data.y_train, data.groups_train
        )
        fit_time[name] = time.perf_counter() - started
        if verbose:
            progress_line(
                "evaluate_holdout",
                f"{number}/{len(pairs)} {name}: fitted on {data.y_train.size} images in "
                f"{fit_time[name]:.1f} s",
            )
    return _holdout_result(
        fitted,
        X_test,
        data,
        pos_label,
        fit_time=fit_time,
        training=_describe_training(
            X_train, data.y_train, data.groups_train, pos_label
        ),
        progress="evaluate_holdout" if verbose else None,
    )


def _holdout_result(fitted, X_test, data, pos_label, *, fit_time, training, progress):
    """Predict the test set with every fitted model: the HoldoutResult.

    The one predict loop of a held-out evaluation (:func:`predict_models`);
    a labels-only model's scores are NaN.
    """
    predicted = predict_models(fitted, X_test, pos_label=pos_label, progress=progress)
    return HoldoutResult(
        model_names=tuple(fitted),
        classes=data.classes,
        pos_label=pos_label,
        y_true=data.y_test,
        groups=data.groups_test,
        y_pred={name: p.y_pred for name, p in predicted.items()},
        y_score={
            name: np.full(data.n_test, np.nan) if p.y_score is None else p.y_score
            for name, p in predicted.items()
        },
        score_method={name: p.score_method for name, p in predicted.items()},
        thresholds={name: p.threshold for name, p in predicted.items()},
        fit_time=fit_time,
        estimators=dict(fitted),
        training=training,
        metadata=data.metadata_test,
    )


@dataclass(frozen=True)
class _HoldoutInputs:
    """``evaluate_holdout``'s checked inputs."""

    y_train: np.ndarray
    y_test: np.ndarray
    n_test: int
    classes: np.ndarray
    groups_train: np.ndarray | None
    groups_test: np.ndarray | None
    metadata_test: pd.DataFrame | None


def _check_metadata_test(metadata_test, n_test):
    """``metadata_test`` with one row per test image, indexed from 0 (or None)."""
    if metadata_test is None:
        return None
    if len(metadata_test) != n_test:
        raise ValueError(
            f"metadata_test has {len(metadata_test)} rows for {n_test} test images."
        )
    return metadata_test.reset_index(drop=True)


def _check_holdout_inputs(
    X_train, y_train, X_test, y_test, groups_train, groups_test, metadata_test
):
    y_train, y_test = column_or_1d(y_train), column_or_1d(y_test)
    n_train, n_test = _num_samples(X_train), _num_samples(X_test)
    if n_train != y_train.shape[0] or n_test != y_test.shape[0]:
        raise ValueError(
            f"X_train/y_train have {n_train}/{y_train.shape[0]} and X_test/y_test "
            f"{n_test}/{y_test.shape[0]} samples: each pair must match."
        )
    classes = np.unique(y_train)
    if classes.size != 2:
        raise ValueError(f"y_train must have two classes; it has {classes.tolist()}.")
    unseen = np.setdiff1d(np.unique(y_test), classes)
    if unseen.size:
        raise ValueError(f"y_test has labels not in y_train: {unseen.tolist()}.")
    groups_train, groups_test = _check_patients(
        groups_train, groups_test, n_train, n_test
    )
    metadata_test = _check_metadata_test(metadata_test, n_test)
    return _HoldoutInputs(
        y_train=y_train,
        y_test=y_test,
        n_test=n_test,
        classes=classes,
        groups_train=groups_train,
        groups_test=groups_test,
        metadata_test=metadata_test,
    )


def _describe_training(X_train, y_train, groups_train, pos_label):
    """What a later external evaluation needs to know of the development data."""
    positive = y_train == pos_label
    return {
        "n_images": int(y_train.shape[0]),
        "n_patients": None
        if groups_train is None
        else int(np.unique(groups_train).size),
        "n_positive": int(positive.sum()),
        "prevalence": float(positive.mean()),
        "image_shape": tuple(X_train.shape[1:]) if hasattr(X_train, "shape") else None,
    }
