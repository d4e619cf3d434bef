"""Breast-level scores: the views of one breast of one patient, combined.

A screening decision is made per breast, from its views (usually CC and
MLO), not per image. Image-level metrics count a breast with two views twice
and let the two views' errors disagree; reviewers (CLAIM 2024, TRIPOD+AI)
ask for patient- or breast-level results as well.

A breast is identified by its patient and laterality (left/right). Its
label is malignant when any of its images is: in CBIS-DDSM the label of a
full image is that of its abnormalities, so a lesion seen in one view only
makes that view, and the breast, malignant. Its score combines its images'
scores:

* ``"mean"`` (the default) averages the views. Each view is a noisy look at
  the same tissue, and averaging reduces that noise without making a breast
  with more views look more suspicious; a mean of probabilities is still a
  probability, so calibration can be assessed at breast level too.
* ``"max"`` takes the most suspicious view: the radiologist's "recall if any
  view is suspicious". It can find a lesion visible in one view only, but it
  rises with the number of views even for benign breasts, so breasts with
  more images get higher scores.
"""

import warnings

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_consistent_length

from mammoclf.metrics._labels import check_targets, resolve_pos_label
from mammoclf.utils._validation import validate_params

__all__ = ["breast_level", "laterality_from_metadata"]

# Columns that hold laterality, in the order they are looked for:
# read_metadata and load_cbis_ddsm ("laterality", already "L"/"R"), the raw
# CBIS-DDSM tables (with or without load_cbis_ddsm's renaming), and DICOM
# header names as a CSV exported from headers would spell them.
LATERALITY_COLUMNS = (
    "laterality",
    "left or right breast",
    "left_or_right_breast",
    "ImageLaterality",
    "Laterality",
)
_SPELLINGS = {"L": "L", "LEFT": "L", "R": "R", "RIGHT": "R"}


@validate_params(
    {
        "metadata": [pd.DataFrame],
        "column": [str, None],
        "on_missing": [StrOptions({"raise", "keep"})],
    },
    prefer_skip_nested_validation=True,
)
def laterality_from_metadata(metadata, *, column=None, on_missing="raise"):
    """Laterality ``"L"``/``"R"`` of each image, from a metadata table.

    Works on the tables mammoclf produces and on user tables:

    * :func:`mammoclf.preprocessing.read_metadata` (DICOM ``ImageLaterality``,
      else ``Laterality``) and :func:`mammoclf.datasets.load_cbis_ddsm`
      both have a ``laterality`` column;
    * the official CBIS-DDSM tables' ``left or right breast`` column;
    * a ``laterality``, ``ImageLaterality`` or ``Laterality`` column of a
      ``--csv`` file.

    For DICOM files without a table, call ``read_metadata(paths)`` first.
    Spellings ``L``, ``LEFT``, ``R`` and ``RIGHT`` are recognised in any case.
    DICOM's ``B`` (both breasts in one image) and ``U`` (unpaired) cannot be
    assigned to one breast and are an error, like any other value.

    Parameters
    ----------
    metadata : pandas.DataFrame
        One row per image.
    column : str, default=None
        The column to read. None looks for the first of ``laterality``,
        ``left or right breast``, ``left_or_right_breast``,
        ``ImageLaterality`` and ``Laterality``.
    on_missing : {"raise", "keep"}, default="raise"
        Missing values (empty, NaN, None) raise a ``ValueError``, or with
        ``"keep"`` are returned as None, to be dealt with by the caller
        (:func:`breast_level` refuses them).

    Returns
    -------
    laterality : ndarray of object, shape (n_images,)
        ``"L"``, ``"R"`` (or None with ``on_missing="keep"``).

    Raises
    ------
    ValueError
        When no laterality column exists, for an unrecognised value, and for
        missing values with ``on_missing="raise"``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mammoclf.metrics import laterality_from_metadata
    >>> table = pd.DataFrame({"left or right breast": ["LEFT", "RIGHT", "left"]})
    >>> laterality_from_metadata(table)
    array(['L', 'R', 'L'], dtype=object)
    """
    if column is None:
        found = [name for name in LATERALITY_COLUMNS if name in metadata.columns]
        if not found:
            raise ValueError(
                f"No laterality column in the metadata (looked for "
                f"{list(LATERALITY_COLUMNS)}; it has {list(metadata.columns)})."
            )
        column = found[0]
    elif column not in metadata.columns:
        raise ValueError(f"The metadata has no column {column!r}.")
    values = metadata[column].to_numpy(dtype=object)
    laterality = np.empty(values.shape[0], dtype=object)
    missing, unknown = [], []
    for row, value in enumerate(values):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            missing.append(row)
            continue
        text = str(value).strip().upper()
        if not text:
            missing.append(row)
        elif text in _SPELLINGS:
            laterality[row] = _SPELLINGS[text]
        else:
            unknown.append(row)
    if unknown:
        shown = sorted({str(values[row]) for row in unknown})[:5]
        raise ValueError(
            f"Column {column!r} has {len(unknown)} value(s) that are not a laterality "
            f"(L, LEFT, R, RIGHT in any case), e.g. {shown} (first at row "
            f"{unknown[0]}). 'B' (both breasts) and 'U' (unpaired) images cannot be "
            "assigned to one breast."
        )
    if missing and on_missing == "raise":
        raise ValueError(
            f"Column {column!r} has no laterality for {len(missing)} of {values.shape[0]} "
            f"images (first at row {missing[0]}); pass on_missing='keep' to get None "
            "for them."
        )
    return laterality


def _check_images(y_true, y_score, patients, laterality):
    """1-D inputs of one length, finite scores, a patient and 'L'/'R' per image."""
    y_true, scores = check_targets(
        y_true, y_score, response="score", names=("y_score",), caller="breast_level"
    )
    scores = scores.astype(np.float64)
    patients = column_or_1d(patients)
    laterality = column_or_1d(laterality)
    check_consistent_length(y_true, scores, patients, laterality)
    unusable = ~pd.Series(laterality, dtype=object).isin(["L", "R"]).to_numpy()
    if unusable.any():
        first = int(np.flatnonzero(unusable)[0])
        raise ValueError(
            f"{int(unusable.sum())} images have no usable laterality (first: image "
            f"{first}, {laterality[first]!r}); breast-level scores need 'L' or 'R' "
            "for every image. Normalise it with laterality_from_metadata."
        )
    if pd.isna(pd.Series(patients, dtype=object)).any():
        raise ValueError("patients has missing ids; every image needs its patient.")
    return y_true, scores, patients, laterality


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "patients": ["array-like"],
        "laterality": ["array-like"],
        "method": [StrOptions({"mean", "max"})],
        "pos_label": "no_validation",  # checked by resolve_pos_label
    },
    prefer_skip_nested_validation=True,
)
def breast_level(
    y_true, y_score, *, patients, laterality, method="mean", pos_label="auto"
):
    """Combine image scores into one score per breast (patient and laterality).

    A breast is malignant when any of its images is; its score is the mean
    (default) or the maximum of its images' scores. The module docstring
    says why the mean is the default. Breasts come out in order of first
    appearance, so the result lines up with the input's order of patients.

    Parameters
    ----------
    y_true : array-like of shape (n_images,)
        True labels of the images; at most two classes.
    y_score : array-like of shape (n_images,)
        Scores (e.g. malignancy probabilities) of the images.
    patients : array-like of shape (n_images,)
        Patient id of each image.
    laterality : array-like of shape (n_images,)
        ``"L"`` or ``"R"`` per image, e.g. from
        :func:`laterality_from_metadata`.
    method : {"mean", "max"}, default="mean"
        How the scores of a breast's images are combined.
    pos_label : "auto" or label, default="auto"
        The positive (malignant) class, see :func:`resolve_pos_label`.

    Returns
    -------
    breasts : sklearn.utils.Bunch
        ``y_true``, ``y_score`` and ``groups`` (the patient id: pass it as
        ``groups`` to bootstrap over patients), ``laterality`` and
        ``n_images`` per breast; ``breast_of_image`` (the row of each image's
        breast); ``n_label_conflicts`` (breasts whose images disagree on the
        label, labelled malignant); ``method``.

    Raises
    ------
    ValueError
        For a missing or unrecognised laterality, or non-finite scores.

    Warns
    -----
    UserWarning
        When a breast's images have different labels.

    Examples
    --------
    >>> from mammoclf.metrics import breast_level
    >>> breasts = breast_level(
    ...     ["MALIGNANT", "MALIGNANT", "BENIGN", "BENIGN"], [0.9, 0.5, 0.2, 0.4],
    ...     patients=["P1", "P1", "P1", "P2"], laterality=["L", "L", "R", "L"])
    >>> breasts.y_true.tolist(), breasts.y_score.tolist(), breasts.groups.tolist()
    (['MALIGNANT', 'BENIGN', 'BENIGN'], [0.7, 0.2, 0.4], ['P1', 'P1', 'P2'])
    """
    y_true, scores, patients, laterality = _check_images(
        y_true, y_score, patients, laterality
    )
    pos_label = resolve_pos_label(y_true, pos_label)
    positive = y_true == pos_label
    frame = pd.DataFrame(
        {
            "patient": pd.Series(patients, dtype=object),
            "laterality": pd.Series(laterality, dtype=object),
            "positive": positive,
            "negative": ~positive,
            "score": scores,
        }
    )
    grouped = frame.groupby(["patient", "laterality"], sort=False)
    breast_of_image = grouped.ngroup().to_numpy()
    table = grouped.agg(
        positive=("positive", "max"),
        negative=("negative", "max"),
        score=("score", method),
        n_images=("score", "size"),
    )
    conflicts = int((table["positive"] & table["negative"]).sum())
    if conflicts:
        warnings.warn(
            f"{conflicts} of {len(table)} breasts have images with different labels; "
            f"they are labelled {str(pos_label)!r} (a lesion seen in one view only).",
            UserWarning,
            stacklevel=3,
        )
    breast_positive = table["positive"].to_numpy(dtype=bool)
    labels = np.full(len(table), pos_label, dtype=y_true.dtype)
    if not breast_positive.all():
        labels[~breast_positive] = y_true[~positive][0]
    return Bunch(
        y_true=labels,
        y_score=table["score"].to_numpy(dtype=np.float64),
        groups=np.asarray(
            table.index.get_level_values("patient").tolist(), dtype=patients.dtype
        ),
        laterality=table.index.get_level_values("laterality").to_numpy(dtype=object),
        n_images=table["n_images"].to_numpy(),
        breast_of_image=breast_of_image,
        n_label_conflicts=conflicts,
        method=method,
    )
