"""The folds of a comparison: chosen once, explicitly, checked for patient leaks.

scikit-learn's ``check_cv(cv, y, classifier=is_classifier(estimator))``
picks stratified folds only for estimators tagged as classifiers; scikeras's
``KerasClassifier`` is not one to ``is_classifier`` on scikit-learn >= 1.6,
so it would silently get unstratified folds, and two models of one
comparison could be evaluated on different folds. Here the folds are built
once from ``y`` and ``groups`` alone and shared by every model.
"""

import os
import re
import warnings
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.utils import check_random_state

from mammoclf.exceptions import GroupLeakageWarning

__all__ = [
    "GroupLeakageWarning",
    "Split",
    "check_splits",
    "make_splits",
    "warn_if_groups_missing",
]

_DEFAULT_N_SPLITS = 5
_MAX_SEED = 2**31 - 1
# CBIS-DDSM names files and folders after the patient ("Mass-Training_P_00001_
# LEFT_CC"): several files with one id are several images of one patient.
_CBIS_PATIENT_ID = re.compile(r"(?<![A-Za-z0-9])P_(\d{5})(?!\d)")


@dataclass(frozen=True)
class Split:
    """One train/test split of a comparison: repeat, fold and sample indices."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


def make_splits(cv, y, groups, *, n_repeats, random_state):
    """Compute every split of a comparison once, for all models.

    Parameters
    ----------
    cv : None, int, splitter or iterable of (train, test)
        None: 5 folds. int: that many folds. Integers give
        ``StratifiedGroupKFold`` with ``groups`` and ``StratifiedKFold``
        without, shuffled with a different seed per repeat. A splitter's
        ``split(X, y, groups)`` or an iterable of index pairs is used as given
        (then ``n_repeats`` must be 1).
    y : ndarray of shape (n_samples,)
    groups : ndarray of shape (n_samples,) or None
    n_repeats : int
    random_state : int, RandomState instance or None

    Returns
    -------
    splits : list of Split
    description : str
        How the folds were made, for reports.
    """
    n_samples = y.shape[0]
    if cv is None or (isinstance(cv, Integral) and not isinstance(cv, bool)):
        n_splits = _DEFAULT_N_SPLITS if cv is None else int(cv)
        if n_splits < 2:
            raise ValueError(f"cv must be at least 2 folds; got {cv}.")
        rng = check_random_state(random_state)
        seeds = rng.randint(_MAX_SEED, size=n_repeats)
        splitter_type = StratifiedKFold if groups is None else StratifiedGroupKFold
        splits = []
        for repeat, seed in enumerate(seeds):
            splitter = splitter_type(
                n_splits=n_splits, shuffle=True, random_state=int(seed)
            )
            placeholder = np.zeros((n_samples, 1))
            for fold, (train, test) in enumerate(
                splitter.split(placeholder, y, groups)
            ):
                splits.append(Split(repeat, fold, train, test))
        repeats = f", {n_repeats} repeats" if n_repeats > 1 else ""
        description = (
            f"{splitter_type.__name__}(n_splits={n_splits}, shuffle=True){repeats}"
        )
        return splits, description
    if n_repeats != 1:
        raise ValueError(
            "n_repeats > 1 needs cv=None or an int; with a splitter object, pass a "
            "repeated one (e.g. RepeatedStratifiedKFold) and n_repeats=1."
        )
    if hasattr(cv, "split"):
        pairs = cv.split(np.zeros((n_samples, 1)), y, groups)
        description = repr(cv)
    elif isinstance(cv, (str, bytes)) or not hasattr(cv, "__iter__"):
        raise TypeError(
            f"cv must be None, an int, a splitter with split() or an iterable of "
            f"(train, test) index arrays; got {cv!r}."
        )
    else:
        pairs = cv
        description = "user-supplied (train, test) index pairs"
    return _assign_repeats(pairs, n_samples), description


def _assign_repeats(pairs, n_samples):
    """Number splits into repeats: a new repeat starts when a test index recurs.

    Within one repeat every image is tested at most once, so out-of-fold
    predictions per repeat are well defined (repeated k-fold splitters come
    out as their repeats).
    """
    splits, tested, repeat, fold = [], np.zeros(n_samples, dtype=bool), 0, 0
    for number, pair in enumerate(pairs):
        try:
            train, test = pair
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cv split {number} is not a (train, test) pair.") from exc
        train, test = (
            _check_indices(idx, n_samples, number, kind)
            for idx, kind in ((train, "train"), (test, "test"))
        )
        if np.any(tested[test]):
            repeat, fold, tested[:] = repeat + 1, 0, False
        tested[test] = True
        splits.append(Split(repeat, fold, train, test))
        fold += 1
    if len(splits) < 2:
        raise ValueError(
            f"cv gave {len(splits)} split(s); a comparison needs at least 2."
        )
    return splits


def _check_indices(indices, n_samples, number, kind):
    array = np.asarray(indices)
    if array.dtype == bool:
        array = np.flatnonzero(array)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"cv split {number}: {kind} indices must be a non-empty 1-D integer array."
        )
    if array.min() < 0 or array.max() >= n_samples:
        raise ValueError(
            f"cv split {number}: {kind} index out of range [0, {n_samples})."
        )
    return array


def check_splits(splits, y, groups):
    """Refuse splits that leak patients or leave a class out of training.

    Raises
    ------
    ValueError
        When a patient (group) has images in both the training and the test
        set of a split, or a training set lacks a class.
    """
    classes = np.unique(y)
    for split in splits:
        where = f"repeat {split.repeat}, fold {split.fold}"
        if np.intersect1d(split.train, split.test).size:
            raise ValueError(
                f"cv split ({where}) uses the same image for training and testing."
            )
        missing = np.setdiff1d(classes, y[split.train])
        if missing.size:
            raise ValueError(
                f"The training set of {where} has no image of class "
                f"{missing.tolist()}; use fewer folds or stratified folds."
            )
        if groups is not None:
            shared = np.intersect1d(groups[split.train], groups[split.test])
            if shared.size:
                raise ValueError(
                    f"Patient leak in {where}: {shared.size} group(s), e.g. "
                    f"{shared[0]!r}, have images in both the training and the test "
                    "set. Use a group-aware splitter (StratifiedGroupKFold) or cv=None."
                )


def warn_if_groups_missing(X, n_samples):
    """Warn that image-level folds leak when patients have several images.

    The rule, as documented in :func:`~mammoclf.compare_models`: without
    ``groups`` the folds are made per image, and nothing in an image array
    says which images share a patient, so the warning is always given. When
    ``X`` is a sequence of file paths with CBIS-DDSM patient ids
    (``P_00001``), the warning also counts the patients with several files.
    Pass ``groups=np.arange(n_samples)`` to state that every image is a
    different patient.
    """
    message = (
        "groups is None, so folds are split per image. Mammography data usually "
        "hold several images per patient (CC and MLO views, both breasts); images "
        "of one patient in both training and test folds inflate every score. Pass "
        "groups=patient_ids, or groups=np.arange(n_samples) if every image is from "
        "a different patient."
    )
    ids = _patient_ids_from_paths(X, n_samples)
    if ids is not None:
        _, counts = np.unique(ids, return_counts=True)
        repeated = int(np.sum(counts > 1))
        if repeated:
            message = (
                f"{repeated} of {counts.size} CBIS-DDSM patient ids (P_xxxxx) in the "
                f"file names have several images. {message}"
            )
    warnings.warn(message, GroupLeakageWarning, stacklevel=3)


def _patient_ids_from_paths(X, n_samples):
    if isinstance(X, np.ndarray) and X.dtype.kind not in "OUS":
        return None
    if not hasattr(X, "__len__") or n_samples == 0:
        return None
    ids = []
    for item in X:
        if not isinstance(item, (str, os.PathLike)):
            return None
        match = _CBIS_PATIENT_ID.search(os.fspath(item))
        if match is None:
            return None
        ids.append(match.group(1))
    return np.array(ids)
