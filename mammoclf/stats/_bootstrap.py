"""Patient-level (cluster) bootstrap confidence intervals, and p-value adjustment."""

import functools
import inspect
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_consistent_length

from mammoclf.metrics import (
    CLINICAL_METRICS,
    check_targets,
    make_clinical_scorer,
    resolve_pos_label,
)
from mammoclf.stats._clusters import cluster_index
from mammoclf.stats._numerics import as_real
from mammoclf.stats._resampled_metrics import RESAMPLED_METRICS, resampled_metric
from mammoclf.stats._results import BootstrapResult, PValueAdjustment
from mammoclf.utils._validation import (
    CONFIDENCE_LEVEL,
    WRAPPER_FRAMES,
    validate_params,
)

__all__ = ["adjust_pvalues", "bootstrap_ci"]


def _metric_function(metric):
    if isinstance(metric, str):
        # The named scorer's options make undefined resamples NaN (e.g. PPV
        # without malignant calls), so they are dropped and counted below
        # rather than entering the interval as 0.0.
        scorer = make_clinical_scorer(metric)
        return functools.partial(scorer.score_func, **scorer.kwargs), metric
    if callable(metric):
        return metric, getattr(metric, "__name__", "metric")
    raise TypeError(
        f"metric must be a clinical metric name or a callable; got {metric!r}."
    )


@validate_params(
    {
        "metric": [StrOptions(set(CLINICAL_METRICS)), callable],
        "y_true": ["array-like"],
        "y": ["array-like"],
        "groups": ["array-like", None],
        "n_resamples": [Interval(Integral, 10, None, closed="left")],
        "confidence_level": CONFIDENCE_LEVEL,
        "pos_label": "no_validation",  # a label, resolved against y_true
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def bootstrap_ci(
    metric,
    y_true,
    y,
    *,
    groups=None,
    n_resamples=2000,
    confidence_level=0.95,
    pos_label="auto",
    random_state=None,
):
    """Percentile bootstrap CI of a metric, resampling patients rather than images.

    With ``groups`` (patient ids), each resample draws as many patients as
    there are, with replacement, and keeps all images of each drawn patient
    (a cluster bootstrap). Images of one patient are correlated (CC and MLO
    views of the same breast, both breasts), so resampling images treats
    them as independent and gives intervals that are too narrow. Without
    ``groups`` every image is its own cluster.

    The percentile interval is the ``(1 - level) / 2`` and ``(1 + level) /
    2`` quantiles of the bootstrap distribution. It assumes the patients are
    a random sample of the target population; it can undercover for small
    numbers of patients and for metrics near their bounds (e.g. AUC near 1).
    Resamples on which the metric is undefined (a resample without
    malignant cases has no sensitivity or AUC; one without malignant calls
    has no PPV) are dropped and counted in ``n_failed``, with a warning; a
    callable ``metric`` marks them by returning NaN or raising
    ``ValueError``. Named metrics never count them as 0.0.

    Parameters
    ----------
    metric : str or callable
        A clinical metric name (``"roc_auc"``, ``"sensitivity"``, ...) or a
        function ``metric(y_true, y)``. It receives ``pos_label`` when it
        has that parameter.
    y_true : array-like of shape (n_samples,)
        True labels.
    y : array-like of shape (n_samples,)
        What the metric consumes: predicted labels, or positive-class scores
        for ``"roc_auc"``.
    groups : array-like of shape (n_samples,), default=None
        Patient id of each image.
    n_resamples : int, default=2000
        Bootstrap resamples.
    confidence_level : float, default=0.95
        Level of the interval.
    pos_label : "auto" or label, default="auto"
        The positive class, resolved once from all of ``y_true``.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling.

    Returns
    -------
    result : BootstrapResult

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.stats import bootstrap_ci
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["BENIGN", "MALIGNANT"], 40)
    >>> scores = (y == "MALIGNANT") + rng.normal(size=80)
    >>> patients = np.arange(80) // 2            # two images per patient
    >>> r = bootstrap_ci("roc_auc", y, scores, groups=patients, n_resamples=500,
    ...                  random_state=0)
    >>> r.ci[0] < r.estimate < r.ci[1], r.n_clusters
    (True, 40)
    """
    func, name = _metric_function(metric)
    y_true, y = check_targets(
        y_true,
        y,
        response=_response(metric, y),
        names=("y",),
        caller="bootstrap_ci",
    )
    check_consistent_length(y_true, y, groups)
    kwargs = {}
    if "pos_label" in inspect.signature(func).parameters:
        kwargs["pos_label"] = resolve_pos_label(y_true, pos_label)
    if groups is None:
        members = [np.array([i]) for i in range(y_true.shape[0])]
    else:
        cluster_of = cluster_index(groups, y_true.shape[0])[0]
        order = np.argsort(cluster_of, kind="stable")
        members = np.split(order, np.flatnonzero(np.diff(cluster_of[order])) + 1)
    rng = check_random_state(random_state)
    estimate = float(func(y_true, y, **kwargs))
    # Drawn at once, the resamples are those of one draw per resample.
    drawn = rng.randint(len(members), size=(n_resamples, len(members)))
    vectorised = _vectorised_inputs(metric, y_true, y, kwargs.get("pos_label"))
    if vectorised is not None:
        replicates = resampled_metric(metric, *vectorised, members, drawn)
    else:
        replicates = _replicates_one_by_one(func, y_true, y, kwargs, members, drawn)
    valid = replicates[np.isfinite(replicates)]
    n_failed = n_resamples - valid.size
    if valid.size < n_resamples / 2:
        raise ValueError(
            f"{name} was undefined on {n_failed} of {n_resamples} resamples (e.g. "
            "resamples with a single class); too few patients for a bootstrap CI."
        )
    if n_failed:
        warnings.warn(
            f"{name} was undefined on {n_failed} of {n_resamples} bootstrap "
            "resamples (e.g. a resample with a single class); they are left out of "
            "the interval, which then describes resamples where it is defined.",
            RuntimeWarning,
            stacklevel=2 + WRAPPER_FRAMES,
        )
    tail = (1 - confidence_level) / 2
    low, high = np.quantile(valid, [tail, 1 - tail])
    return BootstrapResult(
        metric=name,
        estimate=estimate,
        ci=(float(low), float(high)),
        confidence_level=float(confidence_level),
        standard_error=float(valid.std(ddof=1)),
        n_resamples=int(n_resamples),
        n_failed=int(n_failed),
        n_clusters=len(members),
        clustered=groups is not None,
        distribution=valid,
    )


def _response(metric, y):
    """What ``y`` holds: "score" for the AUC and for real-valued non-integer
    input to a callable, else "label" (checked against ``y_true``)."""
    if isinstance(metric, str):
        return "score" if make_clinical_scorer(metric).response == "score" else "label"
    values = np.asarray(y)
    if values.dtype.kind == "f" and not np.all(
        np.isnan(values) | (values == np.round(values))
    ):
        return "score"
    return "label"


def _vectorised_inputs(metric, y_true, y, pos_label):
    """``(is_positive, values)`` for :func:`resampled_metric`, or None.

    Only for a named clinical metric on binary labels (and finite scores
    for the AUC), the inputs whose every resample the named metric scores
    without error; anything else is scored resample by resample.
    """
    if not isinstance(metric, str) or metric not in RESAMPLED_METRICS:
        return None
    if metric == "roc_auc":
        if np.unique(y_true).size > 2 or y.dtype.kind not in "biuf":
            return None
        if not np.all(np.isfinite(y)):
            return None
        return y_true == pos_label, y.astype(np.float64)
    try:
        labels = np.unique(np.concatenate([y_true, y]))
    except TypeError:  # labels of different types
        return None
    if labels.size > 2:
        return None
    if pos_label is None:  # accuracy and weighted F1 treat both classes alike
        pos_label = labels[-1]
    return y_true == pos_label, y == pos_label


def _replicates_one_by_one(func, y_true, y, kwargs, members, drawn):
    replicates = np.empty(drawn.shape[0])
    with warnings.catch_warnings():
        # Undefined replicates are counted and reported once by the caller.
        warnings.simplefilter("ignore")
        for i, clusters in enumerate(drawn):
            index = np.concatenate([members[j] for j in clusters])
            try:
                replicates[i] = func(y_true[index], y[index], **kwargs)
            except ValueError:
                replicates[i] = np.nan
    return replicates


_ADJUST_METHODS = ("holm", "bonferroni", "none")


@validate_params(
    {
        "pvalues": ["array-like"],
        "method": [StrOptions(set(_ADJUST_METHODS))],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def adjust_pvalues(pvalues, *, method="holm", alpha=0.05):
    """Adjust p-values of a family of tests for multiple comparisons.

    statsmodels' :func:`~statsmodels.stats.multitest.multipletests`.
    ``"holm"`` (Holm 1979) controls the family-wise error rate like
    ``"bonferroni"`` but is uniformly more powerful, so it is the default;
    both hold under any dependence between the tests, which matters because
    pairwise comparisons of models share data. NaN p-values (undefined
    tests) are left out of the family and stay NaN.

    Parameters
    ----------
    pvalues : array-like of shape (n_tests,)
        Raw p-values in [0, 1] (NaN allowed).
    method : {"holm", "bonferroni", "none"}, default="holm"
        Adjustment; ``"none"`` returns the raw p-values.
    alpha : float, default=0.05
        Family-wise error rate for ``reject``.

    Returns
    -------
    result : PValueAdjustment

    Examples
    --------
    >>> from mammoclf.stats import adjust_pvalues
    >>> adjust_pvalues([0.01, 0.04, 0.03]).pvalues_adjusted
    array([0.03, 0.06, 0.06])
    """
    from statsmodels.stats.multitest import multipletests

    raw = as_real(pvalues, "pvalues").ravel()
    finite = ~np.isnan(raw)
    if np.any((raw[finite] < 0) | (raw[finite] > 1)):
        raise ValueError(
            f"adjust_pvalues: p-values must lie in [0, 1] or be NaN (undefined "
            f"test); got {raw.tolist()}."
        )
    adjusted = np.full_like(raw, np.nan)
    reject = np.zeros(raw.shape, dtype=bool)
    if finite.any():
        if method == "none":
            adjusted[finite] = raw[finite]
            reject[finite] = raw[finite] <= alpha
        else:
            rej, adj, _, _ = multipletests(raw[finite], alpha=alpha, method=method)
            adjusted[finite] = adj
            reject[finite] = rej
    return PValueAdjustment(
        method=method,
        pvalues=raw,
        pvalues_adjusted=adjusted,
        reject=reject,
        alpha=float(alpha),
        n_tests=int(finite.sum()),
    )
