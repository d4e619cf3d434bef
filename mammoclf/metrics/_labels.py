"""Which label is the positive (malignant) class, and binary label checks.

Clinical metrics such as sensitivity are defined relative to one class, the
"positive" one. In mammography that is the malignant class, so mammoclf
infers it from the labels where it can do so unambiguously and refuses to
guess otherwise: a silently swapped positive class turns sensitivity into
specificity.
"""

from numbers import Integral

import numpy as np
from sklearn.utils import column_or_1d
from sklearn.utils.validation import check_consistent_length

from mammoclf.utils._validation import validate_params

__all__ = ["resolve_pos_label"]

# Spellings recognised as the malignant class (compared case-insensitively,
# ignoring surrounding white space). Kept to one word on purpose: a wider list
# ("cancer", "1", ...) would make the rule harder to predict.
_MALIGNANT_NAMES = frozenset({"malignant"})


@validate_params(
    # pos_label: "auto" or any label; checked against the labels below.
    {"labels": ["array-like"], "pos_label": "no_validation"},
    prefer_skip_nested_validation=True,
)
def resolve_pos_label(labels, pos_label="auto"):
    """Return the label of the positive (malignant) class.

    The rule for ``pos_label="auto"``:

    * **string labels**: the positive class is the one label equal to
      ``"malignant"`` ignoring case and surrounding white space
      (``"MALIGNANT"``, ``"Malignant"``, ...). Two such labels (for example
      ``"MALIGNANT"`` and ``"malignant"``) are ambiguous and an error; no such
      label is an error too.
    * **numeric or boolean labels** within ``{0, 1}`` or ``{-1, 1}``: the
      positive class is ``1`` (``True``), scikit-learn's convention. Other
      numeric labels are an error.
    * anything else (mixed types, other objects) is an error.

    An explicit ``pos_label`` is returned unchanged after checking that it is
    one of two observed labels; with fewer than two observed labels (e.g. a
    fold without malignant cases) it only has to be of a compatible type.

    Parameters
    ----------
    labels : array-like
        Observed labels, e.g. ``y`` or an estimator's ``classes_``;
        duplicates are allowed. At most two distinct labels.
    pos_label : "auto" or label, default="auto"
        The positive class, or ``"auto"`` to infer it as above.

    Returns
    -------
    pos_label : label
        An element of ``labels`` (a Python scalar), or the explicit
        ``pos_label``.

    Raises
    ------
    ValueError
        For more than two distinct labels, an explicit ``pos_label`` that is
        not among two observed labels, and when ``"auto"`` cannot decide.

    Examples
    --------
    >>> from mammoclf.metrics import resolve_pos_label
    >>> resolve_pos_label(["BENIGN", "MALIGNANT", "BENIGN"])
    'MALIGNANT'
    >>> resolve_pos_label([0, 1, 1])
    1
    >>> resolve_pos_label(["healthy", "sick"], pos_label="sick")
    'sick'
    """
    distinct = _distinct_labels(labels)
    if len(distinct) > 2:
        raise ValueError(
            f"Clinical metrics are binary, but the labels have {len(distinct)} "
            f"classes: {distinct}. Map them to two classes first (for CBIS-DDSM, "
            "BENIGN_WITHOUT_CALLBACK is usually counted as BENIGN)."
        )
    if not (isinstance(pos_label, str) and pos_label == "auto"):
        if len(distinct) == 2 and pos_label not in distinct:
            raise ValueError(
                f"pos_label={pos_label!r} is not one of the labels {distinct}."
            )
        return pos_label
    if distinct and all(isinstance(label, str) for label in distinct):
        matches = [
            label for label in distinct if label.strip().casefold() in _MALIGNANT_NAMES
        ]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ValueError(
                f"pos_label='auto' is ambiguous: labels {matches} all read as "
                "'malignant'. Normalise the label spelling or pass pos_label."
            )
        single = (
            " The labels hold a single class: binary metrics and tests need cases "
            "of both."
            if len(distinct) == 1
            else ""
        )
        raise ValueError(
            f"pos_label='auto' found no label named 'malignant' (any case) among "
            f"{distinct}.{single} Pass pos_label= the positive (malignant) class."
        )
    if distinct and all(_is_number(label) for label in distinct):
        as_set = {
            int(label) if float(label).is_integer() else label for label in distinct
        }
        if as_set <= {0, 1} or as_set <= {-1, 1}:
            return True if all(isinstance(v, (bool, np.bool_)) for v in distinct) else 1
    raise ValueError(
        f"pos_label='auto' cannot infer the positive class from labels {distinct}: "
        "it recognises a label named 'malignant' (any case) or numeric/boolean "
        "labels in {0, 1} or {-1, 1}. Pass pos_label= the positive class."
    )


def check_binary_targets(y_true, y_pred, *, pos_label, sample_weight=None):
    """Validate a pair of label vectors; return them and the resolved pos_label.

    Returns
    -------
    y_true, y_pred : ndarray of shape (n_samples,)
    pos_label : label
    sample_weight : ndarray of shape (n_samples,) or None
    """
    y_true = column_or_1d(y_true)
    y_pred = column_or_1d(y_pred)
    check_consistent_length(y_true, y_pred, sample_weight)
    if y_true.shape[0] == 0:
        raise ValueError("y_true is empty: a metric needs at least one sample.")
    pos_label = resolve_pos_label(np.concatenate([y_true, y_pred]), pos_label)
    return y_true, y_pred, pos_label, _check_weights(sample_weight, y_true.shape[0])


def _check_weights(sample_weight, n_samples):
    if sample_weight is None:
        return None
    weights = column_or_1d(sample_weight).astype(np.float64)
    if weights.shape[0] != n_samples or not np.all(np.isfinite(weights)):
        raise ValueError(
            f"sample_weight must hold {n_samples} finite values; got "
            f"{weights.shape[0]} values."
        )
    if np.any(weights < 0):
        raise ValueError("sample_weight must be non-negative.")
    return weights


def _distinct_labels(labels):
    """Distinct labels as Python scalars, sorted when their types allow."""
    values = np.asarray(labels).ravel()
    try:
        distinct = np.unique(values).tolist()
    except TypeError:  # mixed object labels cannot be ordered: keep first-seen order
        distinct = list(dict.fromkeys(values.tolist()))
    return distinct


def _is_number(value):
    return isinstance(value, (Integral, float, np.integer, np.floating, np.bool_))
