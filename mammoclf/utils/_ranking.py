"""The ROC AUC as the Mann-Whitney statistic, with images counted any number of times.

One implementation serves :func:`mammoclf.metrics.roc_auc_score` (every image
counted once) and the patient bootstrap of
:func:`mammoclf.stats.bootstrap_ci` (each image counted as often as a
resample drew its patient, all resamples at once).
"""

import numpy as np

__all__ = ["mann_whitney_auc"]


def mann_whitney_auc(counts, is_positive, scores):
    """The ROC AUC of every row of image counts; tied scores count one half.

    Equal to the area under scikit-learn's ROC curve of the images repeated
    as ``counts`` says: the share of (positive, negative) pairs ordered
    correctly by score.

    Parameters
    ----------
    counts : ndarray of shape (n_rows, n_images)
        How many times each image counts, per row (a row of ones: the AUC
        of the images themselves).
    is_positive : ndarray of bool, shape (n_images,)
    scores : ndarray of shape (n_images,)

    Returns
    -------
    auc : ndarray of shape (n_rows,)
        NaN for a row without a positive or without a negative image.
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    counts = counts[:, order]
    positive = is_positive[order]
    # Per row, the positives and negatives at each distinct score.
    positives = np.add.reduceat(counts * positive, starts, axis=1)
    negatives = np.add.reduceat(counts * ~positive, starts, axis=1)
    # Positives scoring above each level: the reversed cumulative sum, shifted.
    above = np.cumsum(positives[:, ::-1], axis=1)[:, ::-1] - positives
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    correctly_ordered = (negatives * (above + 0.5 * positives)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, correctly_ordered / pairs, np.nan)
