"""The clinical metrics of many bootstrap resamples at once.

A cluster-bootstrap resample is the original images, each counted as often
as its patient was drawn. Every clinical metric is a function of counts
(the confusion counts; for the AUC, the counts of positives and negatives
at each score), so the metric of all resamples follows from a matrix of
per-image counts: one matrix product instead of thousands of calls of a
metric whose input checks cost ~100x its arithmetic. The values are those
of the metric functions on the resampled images (checked against them in
tests/stats/test_resampled_metrics.py), NaN where a metric is undefined.
"""

import numpy as np

from mammoclf.utils._ranking import mann_whitney_auc

__all__ = ["RESAMPLED_METRICS", "resampled_metric"]

# Resample rows per block: bounds the (rows x images) count matrix (~32 MB).
_CELLS_PER_BLOCK = 4_000_000


def _ratio(numerator, denominator):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def _confusion(counts, is_positive, called_positive):
    """TP, FN, FP, TN of each resample (rows of ``counts``)."""
    truth = is_positive.astype(np.float64)
    called = called_positive.astype(np.float64)
    return (
        counts @ (truth * called),
        counts @ (truth * (1 - called)),
        counts @ ((1 - truth) * called),
        counts @ ((1 - truth) * (1 - called)),
    )


def _sensitivity(tp, fn, fp, tn):
    return _ratio(tp, tp + fn)


def _specificity(tp, fn, fp, tn):
    return _ratio(tn, tn + fp)


def _ppv(tp, fn, fp, tn):
    return _ratio(tp, tp + fp)


def _npv(tp, fn, fp, tn):
    return _ratio(tn, tn + fn)


def _accuracy(tp, fn, fp, tn):
    return _ratio(tp + tn, tp + fn + fp + tn)


def _balanced_accuracy(tp, fn, fp, tn):
    # One class in a resample: scikit-learn's convention, the recall of the
    # class present (mammoclf.metrics.balanced_accuracy_score).
    sensitivity, specificity = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    both = (sensitivity + specificity) / 2
    return np.where(
        np.isnan(sensitivity),
        specificity,
        np.where(np.isnan(specificity), sensitivity, both),
    )


def _f1_weighted(tp, fn, fp, tn):
    # F1 of each class present, weighted by its support; a class absent from
    # the truth weighs 0, so its F1 (0 or 0/0) drops out.
    n = tp + fn + fp + tn
    f1_positive = np.nan_to_num(_ratio(2 * tp, 2 * tp + fp + fn))
    f1_negative = np.nan_to_num(_ratio(2 * tn, 2 * tn + fn + fp))
    return _ratio((tp + fn) * f1_positive + (tn + fp) * f1_negative, n)


_FROM_COUNTS = {
    "accuracy": _accuracy,
    "sensitivity": _sensitivity,
    "specificity": _specificity,
    "ppv": _ppv,
    "npv": _npv,
    "balanced_accuracy": _balanced_accuracy,
    "f1_weighted": _f1_weighted,
}

#: The metric names :func:`resampled_metric` computes.
RESAMPLED_METRICS = (*_FROM_COUNTS, "roc_auc")


def resampled_metric(name, is_positive, values, members, drawn):
    """``name`` on every resample.

    Parameters
    ----------
    name : str
        One of :data:`RESAMPLED_METRICS`.
    is_positive : ndarray of bool, shape (n_images,)
        Whether each image's true class is the positive one.
    values : ndarray of shape (n_images,)
        Scores (``"roc_auc"``) or whether each image was called positive.
    members : list of ndarray
        The image indices of each cluster.
    drawn : ndarray of int, shape (n_resamples, n_clusters)
        The clusters of each resample, as ``bootstrap_ci`` draws them.

    Returns
    -------
    replicates : ndarray of shape (n_resamples,)
    """
    n_resamples, n_clusters = drawn.shape
    cluster_of = np.empty(is_positive.size, dtype=np.intp)
    for cluster, images in enumerate(members):
        cluster_of[images] = cluster
    block = max(1, _CELLS_PER_BLOCK // max(is_positive.size, n_clusters))
    replicates = np.empty(n_resamples)
    for start in range(0, n_resamples, block):
        rows = drawn[start : start + block]
        offsets = np.arange(rows.shape[0])[:, None] * n_clusters
        per_cluster = np.bincount(
            (rows + offsets).ravel(), minlength=rows.shape[0] * n_clusters
        ).reshape(rows.shape[0], n_clusters)
        counts = per_cluster[:, cluster_of].astype(np.float64)
        if name == "roc_auc":
            replicates[start : start + block] = mann_whitney_auc(
                counts, is_positive, values
            )
        else:
            confusion = _confusion(counts, is_positive, values)
            replicates[start : start + block] = _FROM_COUNTS[name](*confusion)
    return replicates
