"""Metrics per subgroup (breast density, lesion type, ...), with sizes and intervals.

A model can do well on average and badly on dense breasts or on
calcifications; CLAIM 2024 and TRIPOD+AI ask for results per subgroup. A
subgroup of a handful of patients, however, gives an interval that means
nothing: its percentile bootstrap resamples the same few patients, and with
fewer than about ten malignant (or benign) patients sensitivity (or
specificity) can take only a few values. Such subgroups are flagged and
warned about, with their size, rather than hidden.
"""

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_consistent_length

from mammoclf.evaluation._evaluation import (
    BOOTSTRAP_PARAMS,
    evaluate_predictions,
    table_seed,
)
from mammoclf.metrics import resolve_pos_label
from mammoclf.utils._validation import validate_params

__all__ = ["evaluate_subgroups"]

MISSING = "(missing)"


def _subgroup_values(subgroup):
    """The subgroup of each image (missing values as one subgroup) and their order."""
    values = pd.Series(column_or_1d(subgroup), dtype=object)
    missing = values.isna().to_numpy()
    values[missing] = MISSING
    present = pd.unique(values[~missing])
    try:
        order = sorted(present)
    except TypeError:  # values of mixed types cannot be ordered: first seen
        order = list(present)
    return values.to_numpy(dtype=object), order + ([MISSING] if missing.any() else [])


@validate_params(
    {
        "y_true": ["array-like"],
        "subgroup": ["array-like"],
        "y_pred": ["array-like", None],
        "y_score": ["array-like", None],
        "metrics": [list, tuple, None],
        "min_cases": [Interval(Integral, 1, None, closed="left")],
        "name": [str],
        **BOOTSTRAP_PARAMS,
    },
    prefer_skip_nested_validation=True,
)
def evaluate_subgroups(
    y_true,
    subgroup,
    *,
    y_pred=None,
    y_score=None,
    groups=None,
    metrics=None,
    min_cases=10,
    name="subgroup",
    n_resamples=2000,
    confidence_level=0.95,
    pos_label="auto",
    random_state=None,
):
    """Metrics with patient-bootstrap intervals and counts for each subgroup.

    For each value of ``subgroup`` (a metadata column: breast density,
    abnormality type, subtlety, scanner, ...) the images with that value
    are evaluated by :func:`evaluate_predictions`; missing values form a
    subgroup of their own, ``"(missing)"``, so no image is lost. A subgroup
    with fewer than ``min_cases`` malignant or benign patients (images,
    without ``groups``) is flagged ``too_small`` and named in a warning with
    its size: its interval is shown but should not be read as a measure of
    uncertainty.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    subgroup : array-like of shape (n_samples,)
        The subgroup of each image.
    y_pred : array-like of shape (n_samples,), default=None
        Predicted labels, for the label metrics.
    y_score : array-like of shape (n_samples,), default=None
        Positive-class scores, for ``roc_auc``.
    groups : array-like of shape (n_samples,), default=None
        Patient id of each image; None resamples (and counts) images.
    metrics : list of str, default=None
        Clinical metric names; None means all the predictions allow.
    min_cases : int, default=10
        Fewest malignant and fewest benign patients for an interval to be
        worth reading.
    name : str, default="subgroup"
        What the subgroup is (e.g. ``"breast_density"``): the index name of
        the table and the wording of the warning.
    n_resamples : int, default=2000
        Bootstrap resamples.
    confidence_level : float, default=0.95
        Level of the intervals.
    pos_label : "auto" or label, default="auto"
        The positive (malignant) class, resolved once from all images.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling (the same seed for every subgroup).

    Returns
    -------
    table : pandas.DataFrame
        Index (``name``, ``metric``); the columns of
        :func:`evaluate_predictions`, then ``n_images``, ``n_patients``,
        ``n_positive`` and ``n_negative`` (malignant and benign images),
        ``n_positive_patients``, ``n_negative_patients`` and ``too_small``.

    Warns
    -----
    UserWarning
        Naming the subgroups that are too small, with their sizes.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.evaluation import evaluate_subgroups
    >>> rng = np.random.default_rng(0)
    >>> y = np.tile(["BENIGN", "MALIGNANT"], 60)
    >>> scores = (y == "MALIGNANT") + rng.normal(size=120)
    >>> density = np.repeat([1, 2, 3], 40)
    >>> table = evaluate_subgroups(y, density, y_score=scores, name="density",
    ...                            n_resamples=50, random_state=0)
    >>> table.index.tolist()
    [(1, 'roc_auc'), (2, 'roc_auc'), (3, 'roc_auc')]
    >>> table["estimate"].round(2).tolist(), table["n_images"].tolist()
    ([0.91, 0.7, 0.82], [40, 40, 40])
    """
    y_true = column_or_1d(y_true)
    check_consistent_length(y_true, subgroup, y_pred, y_score, groups)
    pos_label = resolve_pos_label(
        y_true if y_pred is None else np.concatenate([y_true, column_or_1d(y_pred)]),
        pos_label,
    )
    values, order = _subgroup_values(subgroup)
    clusters = np.arange(y_true.shape[0]) if groups is None else column_or_1d(groups)
    seed = table_seed(random_state)
    tables, small = [], []
    for value in order:
        members = values == value
        positive = y_true[members] == pos_label
        table = evaluate_predictions(
            y_true[members],
            y_pred=None if y_pred is None else column_or_1d(y_pred)[members],
            y_score=None if y_score is None else column_or_1d(y_score)[members],
            groups=None if groups is None else clusters[members],
            metrics=metrics,
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            pos_label=pos_label,
            random_state=seed,
        )
        sizes = {
            "n_images": int(members.sum()),
            "n_patients": int(np.unique(clusters[members]).size),
            "n_positive": int(positive.sum()),
            "n_negative": int((~positive).sum()),
            "n_positive_patients": int(np.unique(clusters[members][positive]).size),
            "n_negative_patients": int(np.unique(clusters[members][~positive]).size),
        }
        sizes["too_small"] = (
            min(sizes["n_positive_patients"], sizes["n_negative_patients"]) < min_cases
        )
        if sizes["too_small"]:
            small.append(
                f"{value} ({sizes['n_patients']} patients: "
                f"{sizes['n_positive_patients']} with malignant and "
                f"{sizes['n_negative_patients']} with benign images)"
            )
        tables.append(table.assign(**sizes))
    result = pd.concat(tables, keys=order, names=[name, "metric"])
    if small:
        warnings.warn(
            f"{len(small)} {name} subgroup(s) have fewer than {min_cases} malignant or "
            f"benign patients, too few for their intervals to mean anything: "
            f"{'; '.join(small)}.",
            UserWarning,
            stacklevel=3,
        )
    return result
