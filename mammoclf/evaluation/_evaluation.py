"""Evaluations of one model's predictions, each with patient-bootstrap intervals.

The metrics themselves live in :mod:`mammoclf.metrics` and the interval in
:func:`mammoclf.stats.bootstrap_ci`; these functions put them together into
the tables a report shows: clinical metrics and ROC operating points here,
calibration and subgroups in their own modules. They live here rather than in :mod:`mammoclf.metrics`
because :mod:`mammoclf.stats` builds on the metrics (the layers are metrics,
then stats, then model selection).

Every table of one call draws the same patient resamples for all its rows
(one seed per call), so the intervals of two rows describe the same
resamples. A row whose metric is undefined (a single class) has NaN
estimates and intervals rather than an error, with the reason in ``note``.
"""

import inspect
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_consistent_length

from mammoclf.metrics import (
    CLINICAL_METRICS,
    make_clinical_scorer,
    resolve_pos_label,
    roc_operating_point,
)
from mammoclf.utils._validation import validate_params

__all__ = ["evaluate_operating_points", "evaluate_predictions"]

_MAX_SEED = 2**31 - 1
INTERVAL_COLUMNS = ["estimate", "ci_low", "ci_high", "n_failed", "note"]

BOOTSTRAP_PARAMS = {
    "groups": ["array-like", None],
    "n_resamples": [Interval(Integral, 10, None, closed="left")],
    "confidence_level": [Interval(Real, 0, 1, closed="neither")],
    "pos_label": "no_validation",  # checked by resolve_pos_label
    "random_state": ["random_state"],
}


def table_seed(random_state):
    """One bootstrap seed for a whole table: every row resamples the same patients."""
    return int(check_random_state(random_state).randint(_MAX_SEED))


def metric_with_interval(
    metric, y_true, values, *, groups, n_resamples, confidence_level, pos_label, seed
):
    """Estimate, percentile-bootstrap interval and failures of one metric.

    ``metric(y_true, values, pos_label=...)`` may raise ``ValueError`` or
    return NaN where it is undefined; the row then says so instead of
    failing the whole table. A clinical metric's name resamples all at once
    (see :func:`mammoclf.stats.bootstrap_ci`).
    """
    from mammoclf.stats import bootstrap_ci

    function = clinical_metric(metric) if isinstance(metric, str) else metric
    try:
        estimate = float(function(y_true, values, pos_label=pos_label))
    except ValueError as exc:
        return [np.nan, np.nan, np.nan, n_resamples, f"undefined: {exc}"]
    if not np.isfinite(estimate):
        return [estimate, np.nan, np.nan, n_resamples, "undefined on these data"]
    try:
        with warnings.catch_warnings():
            # The estimate's warnings were shown above, and n_failed is a
            # column of the table, of which the caller warns once.
            warnings.simplefilter("ignore", RuntimeWarning)
            result = bootstrap_ci(
                metric,
                y_true,
                values,
                groups=groups,
                n_resamples=n_resamples,
                confidence_level=confidence_level,
                pos_label=pos_label,
                random_state=seed,
            )
    except ValueError as exc:
        return [estimate, np.nan, np.nan, n_resamples, f"no interval: {exc}"]
    return [estimate, result.ci[0], result.ci[1], result.n_failed, ""]


def warn_failed_resamples(table, what):
    """One warning naming the rows whose interval dropped undefined resamples."""
    failed = table[(table["n_failed"] > 0) & table["ci_low"].notna()]
    if len(failed):
        rows = ", ".join(
            f"{index} ({int(n)})" for index, n in failed["n_failed"].items()
        )
        warnings.warn(
            f"{what}: some metrics were undefined on some bootstrap resamples (e.g. "
            "a resample with a single class, or for the calibration slope one whose "
            f"probabilities separate the classes); the intervals leave them out. "
            f"Resamples left out: {rows}.",
            RuntimeWarning,
            stacklevel=4,
        )


def clinical_metric(name):
    """The clinical metric ``name`` as ``metric(y_true, y, pos_label)``.

    Undefined values (no malignant case for sensitivity, ...) come out as
    NaN rather than scikit-learn's default 0.0, which would drag intervals
    down.
    """
    score_func = make_clinical_scorer(name).score_func
    parameters = inspect.signature(score_func).parameters
    extra = {"zero_division": np.nan} if "zero_division" in parameters else {}
    takes_pos_label = "pos_label" in parameters

    def metric(y_true, y, pos_label):
        if takes_pos_label:
            return score_func(y_true, y, pos_label=pos_label, **extra)
        return score_func(y_true, y, **extra)

    metric.__name__ = name
    return metric


def check_lengths(y_true, groups, *arrays):
    y_true = column_or_1d(y_true)
    arrays = [None if a is None else column_or_1d(a) for a in arrays]
    groups = None if groups is None else column_or_1d(groups)
    check_consistent_length(y_true, groups, *[a for a in arrays if a is not None])
    if y_true.shape[0] == 0:
        raise ValueError("y_true is empty: there is nothing to evaluate.")
    return y_true, groups, arrays


@validate_params(
    {
        "y_true": ["array-like"],
        "y_pred": ["array-like", None],
        "y_score": ["array-like", None],
        "metrics": [list, tuple, None],
        **BOOTSTRAP_PARAMS,
    },
    prefer_skip_nested_validation=True,
)
def evaluate_predictions(
    y_true,
    *,
    y_pred=None,
    y_score=None,
    groups=None,
    metrics=None,
    n_resamples=2000,
    confidence_level=0.95,
    pos_label="auto",
    random_state=None,
):
    """Clinical metrics of one set of predictions, with patient-bootstrap intervals.

    Each metric is :mod:`mammoclf.metrics`'s, and its interval is
    :func:`mammoclf.stats.bootstrap_ci` over ``groups`` (patients), the
    same resamples for every metric. Metrics undefined on the data (e.g.
    sensitivity without malignant cases) give NaN rows, not 0.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,), default=None
        Predicted labels, for the label metrics.
    y_score : array-like of shape (n_samples,), default=None
        Positive-class scores, for ``roc_auc``.
    groups : array-like of shape (n_samples,), default=None
        Patient id of each image; None resamples images.
    metrics : list of str, default=None
        Names from :data:`mammoclf.metrics.CLINICAL_METRICS`. None means
        every metric the given predictions allow.
    n_resamples : int, default=2000
        Bootstrap resamples.
    confidence_level : float, default=0.95
        Level of the intervals.
    pos_label : "auto" or label, default="auto"
        The positive (malignant) class.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling.

    Returns
    -------
    table : pandas.DataFrame
        Index ``metric``; columns ``estimate``, ``ci_low``, ``ci_high``,
        ``n_failed`` (resamples on which the metric was undefined, left out
        of the interval) and ``note`` (why a value is missing).

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.evaluation import evaluate_predictions
    >>> y = np.array(["BENIGN", "MALIGNANT"] * 20)
    >>> pred = np.where(np.arange(40) % 5 == 0, "BENIGN", y)
    >>> table = evaluate_predictions(y, y_pred=pred, groups=np.arange(40) // 2,
    ...                              metrics=["sensitivity", "specificity"],
    ...                              n_resamples=200, random_state=0)
    >>> table["estimate"].tolist()
    [0.8, 1.0]
    """
    y_true, groups, (y_pred, y_score) = check_lengths(y_true, groups, y_pred, y_score)
    pos_label = resolve_pos_label(
        y_true if y_pred is None else np.concatenate([y_true, y_pred]), pos_label
    )
    kinds = {name: make_clinical_scorer(name).response for name in CLINICAL_METRICS}
    if metrics is None:
        metrics = [
            name
            for name, kind in kinds.items()
            if (y_pred if kind == "predict" else y_score) is not None
        ]
    unknown = [name for name in metrics if name not in kinds]
    if unknown or not metrics:
        raise ValueError(
            f"metrics must be a non-empty list of {list(CLINICAL_METRICS)}; "
            f"unknown: {unknown}."
        )
    seed = table_seed(random_state)
    rows = []
    for name in metrics:
        values = y_pred if kinds[name] == "predict" else y_score
        if values is None:
            needed = "y_pred" if kinds[name] == "predict" else "y_score"
            raise ValueError(f"Metric {name!r} needs {needed}.")
        rows.append(
            metric_with_interval(
                name,
                y_true,
                values,
                groups=groups,
                n_resamples=n_resamples,
                confidence_level=confidence_level,
                pos_label=pos_label,
                seed=seed,
            )
        )
    table = pd.DataFrame(rows, index=pd.Index(metrics, name="metric"))
    table.columns = INTERVAL_COLUMNS
    warn_failed_resamples(table, "evaluate_predictions")
    return table


def _operating_metric(fixed, target):
    """``metric(y_true, score, pos_label)``: the free rate at a fixed one."""

    def metric(y_true, y_score, pos_label):
        constraint = {f"min_{fixed}": target}
        point = roc_operating_point(y_true, y_score, pos_label=pos_label, **constraint)
        return point.sensitivity if fixed == "specificity" else point.specificity

    metric.__name__ = f"{'sensitivity' if fixed == 'specificity' else 'specificity'}"
    return metric


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "specificities": [list, tuple],
        "sensitivities": [list, tuple],
        **BOOTSTRAP_PARAMS,
    },
    prefer_skip_nested_validation=True,
)
def evaluate_operating_points(
    y_true,
    y_score,
    *,
    groups=None,
    specificities=(0.8, 0.9, 0.95),
    sensitivities=(0.8, 0.9, 0.95),
    n_resamples=2000,
    confidence_level=0.95,
    pos_label="auto",
    random_state=None,
):
    """Sensitivity at fixed specificities and specificity at fixed sensitivities.

    Each row reads the ROC curve with
    :func:`mammoclf.metrics.roc_operating_point` (the best attainable point
    whose fixed rate is at least the target; no interpolation). The interval
    re-reads the curve in each patient-bootstrap resample, so it describes
    the ROC curve, not a fixed threshold; the ``threshold`` column is the
    score that attains the point on these data, and a threshold read off
    test data must not then be used to report binary metrics on them.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_score : array-like of shape (n_samples,)
        Positive-class scores.
    groups : array-like of shape (n_samples,), default=None
        Patient id of each image; None resamples images.
    specificities : sequence of float, default=(0.8, 0.9, 0.95)
        Fixed specificities at which to read the sensitivity.
    sensitivities : sequence of float, default=(0.8, 0.9, 0.95)
        Fixed sensitivities at which to read the specificity.
    n_resamples : int, default=2000
        Bootstrap resamples.
    confidence_level : float, default=0.95
        Level of the intervals.
    pos_label : "auto" or label, default="auto"
        The positive (malignant) class.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling.

    Returns
    -------
    table : pandas.DataFrame
        Index (``fixed``, ``target``), e.g. ``("specificity", 0.9)``;
        columns ``metric`` (the rate read off), ``estimate``, ``ci_low``,
        ``ci_high``, ``n_failed``, ``note``, ``threshold`` (``score >=
        threshold`` is called malignant) and ``attained`` (the fixed rate
        actually attained, at least ``target``).

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.evaluation import evaluate_operating_points
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["BENIGN", "MALIGNANT"], 50)
    >>> scores = (y == "MALIGNANT") + rng.normal(size=100)
    >>> table = evaluate_operating_points(y, scores, groups=np.arange(100),
    ...                                   specificities=[0.9], sensitivities=[0.9],
    ...                                   n_resamples=200, random_state=0)
    >>> table.index.tolist()
    [('specificity', 0.9), ('sensitivity', 0.9)]
    >>> bool((table["attained"] >= 0.9).all())
    True
    """
    targets = [("specificity", t) for t in specificities] + [
        ("sensitivity", t) for t in sensitivities
    ]
    for fixed, target in targets:
        if not isinstance(target, Real) or not 0 <= target <= 1:
            raise ValueError(
                f"Each of the {fixed} targets must be in [0, 1]; got {target!r}."
            )
    if not targets:
        raise ValueError("Give at least one target specificity or sensitivity.")
    y_true, groups, (y_score,) = check_lengths(y_true, groups, y_score)
    pos_label = resolve_pos_label(y_true, pos_label)
    seed = table_seed(random_state)
    rows = []
    for fixed, target in targets:
        row = metric_with_interval(
            _operating_metric(fixed, target),
            y_true,
            y_score,
            groups=groups,
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            pos_label=pos_label,
            seed=seed,
        )
        threshold = attained = np.nan
        if np.isfinite(row[0]):
            point = roc_operating_point(
                y_true, y_score, pos_label=pos_label, **{f"min_{fixed}": target}
            )
            threshold, attained = point.threshold, getattr(point, fixed)
        free = "sensitivity" if fixed == "specificity" else "specificity"
        rows.append([free, *row, threshold, attained])
    index = pd.MultiIndex.from_tuples(
        [(fixed, float(target)) for fixed, target in targets], names=["fixed", "target"]
    )
    table = pd.DataFrame(
        rows,
        index=index,
        columns=["metric", *INTERVAL_COLUMNS, "threshold", "attained"],
    )
    warn_failed_resamples(table, "evaluate_operating_points")
    return table
