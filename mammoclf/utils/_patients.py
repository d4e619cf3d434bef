"""Enough patients of each class for a patient-grouped comparison to mean anything."""

import warnings

import numpy as np

__all__ = ["MIN_PATIENTS_PER_CLASS", "check_patients_per_class", "patients_per_class"]

#: Below this many patients in a class, a comparison is a smoke test.
MIN_PATIENTS_PER_CLASS = 5


def patients_per_class(y, groups):
    """Number of distinct patients (groups) with at least one image of each class.

    A patient with images of both classes counts for both.

    Returns
    -------
    counts : dict
        ``{class: number of patients}`` in sorted class order.
    """
    y = np.asarray(y)
    groups = np.asarray(groups)
    return {
        label: int(np.unique(groups[y == label]).size)
        for label in np.unique(y).tolist()
    }


def check_patients_per_class(y, groups, *, n_folds=None, folds_option="cv"):
    """Refuse fewer patients than folds in a class; warn below five patients per class.

    Parameters
    ----------
    y, groups : array-like of shape (n_samples,)
        Labels and patients.
    n_folds : int, default=None
        Patient-grouped folds to be made. Every training fold must keep
        patients of both classes and every test fold should hold some out,
        so each class needs at least ``n_folds`` patients. None skips this.
    folds_option : str, default="cv"
        How the caller's user sets the folds, for the message (``"cv=5"``
        from Python, ``"--cv 5"`` on the command line).

    Raises
    ------
    ValueError
        When a class has fewer than ``n_folds`` patients.

    Warns
    -----
    UserWarning
        When a class has fewer than :data:`MIN_PATIENTS_PER_CLASS` patients.
    """
    counts = patients_per_class(y, groups)
    if n_folds is not None:
        short = {label: n for label, n in counts.items() if n < n_folds}
        if short:
            raise ValueError(
                f"{folds_option} needs each class to have at least {n_folds} "
                f"patients (the folds are grouped by patient); {_describe(short)}. "
                "Use fewer folds (at least 2) or data of more patients."
            )
    few = {label: n for label, n in counts.items() if n < MIN_PATIENTS_PER_CLASS}
    if few:
        warnings.warn(
            f"Only {_describe(few)}: with fewer than about "
            f"{MIN_PATIENTS_PER_CLASS} patients per class, a model can tell the "
            "classes apart by whatever distinguishes these few patients (breast "
            "side, view, scanner, anatomy) instead of by the lesions, and each "
            "held-out score rests on one or two patients. Treat the scores and "
            "tests as a smoke test, not as evidence about new patients.",
            UserWarning,
            stacklevel=3,
        )
    return counts


def _describe(counts):
    return ", ".join(
        f"{label} has {n} patient{'' if n == 1 else 's'}" for label, n in counts.items()
    )
