"""Fitted models evaluated once on a labelled test set: external validation.

:func:`evaluate_fitted` is :func:`~mammoclf.evaluate_holdout` without the
refit: models fitted elsewhere (saved by ``mammoclf compare`` and loaded
again, say) predict the test set through the same predict loop, and the
result is a :class:`HoldoutResult` whose summary an external validation
reports.
"""

import math

import numpy as np
import pandas as pd
from sklearn.utils import column_or_1d
from sklearn.utils.validation import _num_samples

from mammoclf.metrics import resolve_pos_label
from mammoclf.model_selection._compare import _named_estimators as named_estimators
from mammoclf.model_selection._holdout import (
    _check_metadata_test,
    _holdout_result,
    _HoldoutInputs,
)
from mammoclf.utils._validation import validate_params

__all__ = ["evaluate_fitted"]


@validate_params(
    {
        "estimators": [dict, list, tuple],
        "X_test": ["array-like", "sparse matrix"],
        "y_test": ["array-like"],
        "groups_test": ["array-like", None],
        "pos_label": "no_validation",  # checked by resolve_pos_label
        "training": [dict, None],
        "verbose": ["verbose"],
        "metadata_test": [pd.DataFrame, None],
    },
    prefer_skip_nested_validation=True,
)
def evaluate_fitted(
    estimators,
    X_test,
    y_test,
    *,
    groups_test=None,
    pos_label="auto",
    training=None,
    verbose=0,
    metadata_test=None,
):
    """Evaluate fitted models once on a labelled test set, without refitting.

    Each model predicts ``X_test`` as :func:`~mammoclf.evaluate_holdout`'s
    refitted models do (labels, positive-class scores, the threshold behind
    the labels). Nothing checks that the test data are new to the models:
    that needs the record of what they were developed on.

    Parameters
    ----------
    estimators : dict, list of (name, estimator) or list of estimators
        Fitted binary classifiers of the same two classes; unnamed ones are
        named after their class.
    X_test : array-like
        Test inputs the models accept.
    y_test : array-like of shape (n_test,)
        Test labels, among the models' classes.
    groups_test : array-like of shape (n_test,), default=None
        Patient ids; the intervals of the summary resample patients.
    pos_label : "auto" or label, default="auto"
        The positive (malignant) class.
    training : dict, default=None
        What the development data were, as :attr:`HoldoutResult.training`
        describes them (``n_images``, ``n_patients``, ``n_positive``,
        ``prevalence``, ``image_shape``); None: unknown.
    verbose : int, default=0
        1 prints a line per model on standard error.
    metadata_test : pandas.DataFrame, default=None
        One row per test image (``laterality``, subgroup columns).

    Returns
    -------
    result : HoldoutResult
        Its ``fit_time`` is NaN (nothing was fitted here).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mammoclf.model_selection import evaluate_fitted
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 3))
    >>> y = np.where(X[:, 0] > 0, "MALIGNANT", "BENIGN")
    >>> model = LogisticRegression().fit(X[:60], y[:60])
    >>> result = evaluate_fitted({"logreg": model}, X[60:], y[60:],
    ...                          groups_test=np.arange(20))
    >>> result.score_method
    {'logreg': 'predict_proba'}
    >>> from mammoclf.evaluation import Predictions
    >>> table = Predictions.from_holdout(result).evaluate(
    ...     ["roc_auc"], n_resamples=50, random_state=0)
    >>> bool(table["estimate"].iloc[0] > 0.9)
    True
    """
    fitted = dict(named_estimators(estimators))
    data = _check_test_inputs(fitted, X_test, y_test, groups_test, metadata_test)
    pos_label = resolve_pos_label(data.classes, pos_label)
    return _holdout_result(
        fitted,
        X_test,
        data,
        pos_label,
        fit_time=dict.fromkeys(fitted, math.nan),
        training=dict(_UNKNOWN_TRAINING if training is None else training),
        progress="evaluate_fitted" if verbose else None,
    )


_UNKNOWN_TRAINING = {
    "n_images": None,
    "n_patients": None,
    "n_positive": None,
    "prevalence": math.nan,
    "image_shape": None,
}


def _check_test_inputs(fitted, X_test, y_test, groups_test, metadata_test):
    classes = [np.asarray(getattr(e, "classes_", [])) for e in fitted.values()]
    if any(c.shape != (2,) for c in classes):
        raise ValueError(
            "evaluate_fitted needs fitted binary classifiers (classes_ of two labels)."
        )
    if any(not np.array_equal(c, classes[0]) for c in classes):
        raise ValueError(
            f"The models have different classes: {[c.tolist() for c in classes]}."
        )
    y_test = column_or_1d(y_test)
    n_test = _num_samples(X_test)
    if n_test != y_test.shape[0]:
        raise ValueError(f"X_test has {n_test} samples and y_test {y_test.shape[0]}.")
    unknown = np.setdiff1d(np.unique(y_test), classes[0])
    if unknown.size:
        raise ValueError(
            f"y_test has labels that are not classes of the models: "
            f"{[str(u) for u in unknown]}."
        )
    if groups_test is not None:
        groups_test = column_or_1d(groups_test)
        if groups_test.shape[0] != n_test:
            raise ValueError(
                f"groups_test has {groups_test.shape[0]} entries for {n_test} images."
            )
    metadata_test = _check_metadata_test(metadata_test, n_test)
    return _HoldoutInputs(
        y_train=None,
        y_test=y_test,
        n_test=n_test,
        classes=classes[0],
        groups_train=None,
        groups_test=groups_test,
        metadata_test=metadata_test,
    )
