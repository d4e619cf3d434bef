"""Patient ids to cluster indices, shared by the clustered tests and the bootstrap."""

import numpy as np
from sklearn.utils import column_or_1d

__all__ = ["cluster_index"]


def cluster_index(groups, n_samples):
    """Map each sample's patient id to ``0 .. n_clusters - 1``.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        Patient (cluster) id of each sample; any hashable, sortable labels.
    n_samples : int
        Expected length.

    Returns
    -------
    index : ndarray of int of shape (n_samples,)
    n_clusters : int
    """
    groups = column_or_1d(groups)
    if groups.shape[0] != n_samples:
        raise ValueError(
            f"groups has {groups.shape[0]} entries for {n_samples} samples; give "
            "one patient id per sample."
        )
    missing = (
        int(np.isnan(groups).sum())
        if groups.dtype.kind == "f"
        else sum(g is None or (isinstance(g, float) and np.isnan(g)) for g in groups)
        if groups.dtype.kind == "O"
        else 0
    )
    if missing:
        raise ValueError(
            f"groups has {missing} missing (NaN) patient ids of {n_samples}: every "
            "sample needs a patient id, and missing ones must not be merged into "
            "one patient."
        )
    try:
        _, index = np.unique(groups, return_inverse=True)
    except TypeError as exc:
        raise TypeError(
            f"groups must be sortable patient ids of one type; got {exc}."
        ) from exc
    return index.ravel(), int(index.max()) + 1
