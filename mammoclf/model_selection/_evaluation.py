"""Evaluations of one model's predictions, each with patient-bootstrap intervals.

The metrics themselves live in :mod:`mammoclf.metrics` and the interval in
:func:`mammoclf.stats.bootstrap_ci`; these functions put them together into
the tables a report shows: clinical metrics, calibration, ROC operating
points and subgroups. They live here rather than in :mod:`mammoclf.metrics`
because :mod:`mammoclf.stats` builds on the metrics (the layers are metrics,
then stats, then model selection).

Every table of one call draws the same patient resamples for all its rows
(one seed per call), so the intervals of two rows describe the same
resamples. A row whose metric is undefined (a single class) has NaN
estimates and intervals rather than an error, with the reason in ``note``.
"""

import inspect
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_consistent_length

from mammoclf.metrics import (
    CLINICAL_METRICS,
    brier_score,
    calibration_intercept,
    calibration_slope,
    make_clinical_scorer,
    reliability_curve,
    resolve_pos_label,
    roc_operating_point,
)

__all__ = [
    "CalibrationResult",
    "evaluate_calibration",
    "evaluate_operating_points",
    "evaluate_predictions",
]

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
    failing the whole table.
    """
    from mammoclf.stats import bootstrap_ci

    try:
        estimate = float(metric(y_true, values, pos_label=pos_label))
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


def _check_lengths(y_true, groups, *arrays):
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
    >>> from mammoclf.model_selection import evaluate_predictions
    >>> y = np.array(["BENIGN", "MALIGNANT"] * 20)
    >>> pred = np.where(np.arange(40) % 5 == 0, "BENIGN", y)
    >>> table = evaluate_predictions(y, y_pred=pred, groups=np.arange(40) // 2,
    ...                              metrics=["sensitivity", "specificity"],
    ...                              n_resamples=200, random_state=0)
    >>> table["estimate"].tolist()
    [0.8, 1.0]
    """
    y_true, groups, (y_pred, y_score) = _check_lengths(y_true, groups, y_pred, y_score)
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
                clinical_metric(name),
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


@dataclass(frozen=True, repr=False, eq=False)
class CalibrationResult:
    """Calibration of one model's probabilities, from :func:`evaluate_calibration`.

    Attributes
    ----------
    table : pandas.DataFrame
        Index ``metric`` (``brier_score``, ``calibration_intercept``,
        ``calibration_slope``); columns ``estimate``, ``ci_low``,
        ``ci_high``, ``n_failed`` and ``note``.
    curve : pandas.DataFrame
        The reliability diagram's bins, from
        :func:`mammoclf.metrics.reliability_curve`, with ``ci_low`` and
        ``ci_high`` of each bin's ``fraction_positive`` (a bootstrap over
        the patients of the bin).
    y_true : ndarray of shape (n_samples,)
        The labels.
    y_prob : ndarray of shape (n_samples,)
        The probabilities of ``pos_label``.
    pos_label : label
        The positive class.
    n_images : int
        Number of images.
    n_patients : int or None
        Number of patients (None without ``groups``).
    """

    table: pd.DataFrame
    curve: pd.DataFrame
    y_true: np.ndarray
    y_prob: np.ndarray
    pos_label: object
    n_images: int
    n_patients: int | None

    def __repr__(self):
        return f"CalibrationResult(n_images={self.n_images})\n{self.table.round(4)}"

    def plot(self, *, ax=None, name=None, ref_line=True):
        """Draw the reliability diagram with scikit-learn's ``CalibrationDisplay``.

        Each point carries the interval of its bin's observed risk.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.
        name : str, default=None
            Legend label (e.g. the model's name).
        ref_line : bool, default=True
            Draw the diagonal of perfect calibration.

        Returns
        -------
        display : sklearn.calibration.CalibrationDisplay
            The drawn display (``display.ax_``, ``display.figure_``).
        """
        from sklearn.calibration import CalibrationDisplay

        curve = self.curve
        display = CalibrationDisplay(
            curve["fraction_positive"].to_numpy(),
            curve["mean_predicted"].to_numpy(),
            self.y_prob,
            estimator_name=name,
            pos_label=self.pos_label,
        )
        display.plot(ax=ax, ref_line=ref_line)
        # Interval bars of the observed risk, in the line's colour.
        display.ax_.errorbar(
            curve["mean_predicted"],
            curve["fraction_positive"],
            yerr=[
                curve["fraction_positive"] - curve["ci_low"],
                curve["ci_high"] - curve["fraction_positive"],
            ],
            fmt="none",
            ecolor=display.line_.get_color(),
            capsize=2,
        )
        return display


@validate_params(
    {
        "y_true": ["array-like"],
        "y_prob": ["array-like"],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "strategy": [StrOptions({"uniform", "quantile"})],
        **BOOTSTRAP_PARAMS,
    },
    prefer_skip_nested_validation=True,
)
def evaluate_calibration(
    y_true,
    y_prob,
    *,
    groups=None,
    n_bins=10,
    strategy="uniform",
    n_resamples=2000,
    confidence_level=0.95,
    pos_label="auto",
    random_state=None,
):
    """Brier score, calibration intercept and slope with intervals, and the diagram.

    The metrics are :func:`mammoclf.metrics.brier_score`,
    :func:`~mammoclf.metrics.calibration_intercept` (calibration-in-the-large,
    slope fixed at 1) and :func:`~mammoclf.metrics.calibration_slope` (Cox
    1958); their intervals are patient-bootstrap percentile intervals, the
    same resamples for all three. A resample whose probabilities separate
    the classes has no finite slope and is left out (counted in
    ``n_failed``), so with a nearly perfect model the slope's interval
    describes the resamples where it exists.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities of ``pos_label`` (a ``predict_proba``
        column), in [0, 1].
    groups : array-like of shape (n_samples,), default=None
        Patient id of each image; None resamples images.
    n_bins : int, default=10
        Bins of the reliability diagram.
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins, or bins of equal numbers of images.
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
    result : CalibrationResult
        ``table``, ``curve`` and ``plot()``.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.model_selection import evaluate_calibration
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.95, 300)
    >>> y = np.where(rng.uniform(size=300) < p, "MALIGNANT", "BENIGN")
    >>> result = evaluate_calibration(y, p, groups=np.arange(300) // 2,
    ...                               n_resamples=200, random_state=0)
    >>> slope = result.table.loc["calibration_slope"]
    >>> bool(slope["ci_low"] < 1 < slope["ci_high"])       # calibrated by design
    True
    """
    y_true, groups, (y_prob,) = _check_lengths(y_true, groups, y_prob)
    pos_label = resolve_pos_label(y_true, pos_label)
    curve, row_of_image = reliability_curve(
        y_true,
        y_prob,
        n_bins=n_bins,
        strategy=strategy,
        pos_label=pos_label,
        return_bins=True,
    )
    y_prob = y_prob.astype(np.float64)
    seed = table_seed(random_state)
    curve = _with_bin_intervals(
        curve,
        row_of_image,
        y_true,
        y_prob,
        groups=groups,
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        pos_label=pos_label,
        seed=seed,
    )
    metrics = {
        "brier_score": brier_score,
        "calibration_intercept": calibration_intercept,
        "calibration_slope": calibration_slope,
    }
    rows = [
        metric_with_interval(
            metric,
            y_true,
            y_prob,
            groups=groups,
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            pos_label=pos_label,
            seed=seed,
        )
        for metric in metrics.values()
    ]
    table = pd.DataFrame(rows, index=pd.Index(list(metrics), name="metric"))
    table.columns = INTERVAL_COLUMNS
    warn_failed_resamples(table, "evaluate_calibration")
    return CalibrationResult(
        table=table,
        curve=curve,
        y_true=y_true,
        y_prob=y_prob,
        pos_label=pos_label,
        n_images=int(y_true.shape[0]),
        n_patients=None if groups is None else int(np.unique(groups).size),
    )


def _fraction_positive(y_true, y_prob, pos_label):
    return float(np.mean(y_true == pos_label))


def _with_bin_intervals(curve, row_of_image, y_true, y_prob, **bootstrap):
    """The reliability curve with an interval for each bin's fraction positive.

    Each bin's interval resamples the patients of that bin (their images in
    it), as a binomial interval per bin would resample images: it describes
    the uncertainty of the observed risk given which images fell in the bin.
    """
    rows = []
    for row in range(len(curve)):
        members = row_of_image == row
        groups = bootstrap["groups"]
        rows.append(
            metric_with_interval(
                _fraction_positive,
                y_true[members],
                y_prob[members],
                **{**bootstrap, "groups": None if groups is None else groups[members]},
            )[1:3]
        )
    intervals = np.array(rows, dtype=np.float64).reshape(len(curve), 2)
    return curve.assign(ci_low=intervals[:, 0], ci_high=intervals[:, 1])


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
    >>> from mammoclf.model_selection import evaluate_operating_points
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
    y_true, groups, (y_score,) = _check_lengths(y_true, groups, y_score)
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
