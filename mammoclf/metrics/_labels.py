"""Which label is the positive (malignant) class, and binary label checks.

Clinical metrics such as sensitivity are defined relative to one class, the
"positive" one. In mammography that is the malignant class, so mammoclf
infers it from the labels where it can do so unambiguously and refuses to
guess otherwise: a silently swapped positive class turns sensitivity into
specificity.
"""

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_consistent_length

from mammoclf.utils._validation import validate_params

__all__ = ["check_targets", "resolve_pos_label"]

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


def check_binary_targets(y_true, y_pred, *, pos_label, sample_weight=None, caller):
    """Validate a pair of label vectors; return them and the resolved pos_label.

    Returns
    -------
    y_true, y_pred : ndarray of shape (n_samples,)
    pos_label : label
    sample_weight : ndarray of shape (n_samples,) or None
    """
    y_true, y_pred = check_targets(y_true, y_pred, caller=caller)
    check_consistent_length(y_true, y_pred, sample_weight)
    pos_label = resolve_pos_label(np.concatenate([y_true, y_pred]), pos_label)
    return y_true, y_pred, pos_label, _check_weights(sample_weight, y_true.shape[0])


def as_1d(values, name):
    """``values`` as a 1-D array; shape ``(n, 1)`` is flattened.

    scikit-learn's ``column_or_1d`` does the same but costs milliseconds per
    call in scikit-learn 1.9 (it probes for dataframe libraries), and
    bootstrap intervals call these metrics thousands of times.
    """
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one value per image); got shape {array.shape}."
        )
    return array


@validate_params(
    {
        "y_true": ["array-like"],
        "response": [StrOptions({"label", "score"})],
        "names": [tuple, list, None],
        "caller": [str],
    },
    prefer_skip_nested_validation=True,
)
def check_targets(
    y_true, *predictions, response="label", names=None, caller="check_targets"
):
    """Check that true labels and predictions can be compared; return 1-D arrays.

    The type contract of every metric in :mod:`mammoclf.metrics` and every
    test and interval in :mod:`mammoclf.stats`, after scikit-learn's
    ``type_of_target`` and ``_check_targets``:

    * ``y_true`` holds labels of one kind, strings or numbers (booleans
      count as numbers), without missing values (NaN, None);
    * with ``response="label"`` each prediction holds labels of the same
      kind as ``y_true``: ``["MALIGNANT", ...]`` against ``[1, 0, ...]``
      is an error (*mix of label input types*), never a silent mismatch
      that counts every image as an error;
    * with ``response="score"`` each prediction holds real numbers;
    * no prediction holds NaN or an infinite value: the error names the
      function and how many there are, rather than counting a missing
      prediction as an error or ranking it;
    * all have one length, at least 1.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    *predictions : array-like of shape (n_samples,)
        Predicted labels or scores of one or more models.
    response : {"label", "score"}, default="label"
        What the predictions are.
    names : tuple of str, default=None
        Names of the predictions in messages; default ``y_pred`` (one) or
        ``y_pred_a``, ``y_pred_b``, ...
    caller : str, default="check_targets"
        The public function whose input is checked, named in messages.

    Returns
    -------
    arrays : list of ndarray
        ``y_true`` and then each prediction, 1-D.

    Raises
    ------
    ValueError
        For mixed label kinds, missing or non-finite values, different
        lengths or empty input.

    Examples
    --------
    >>> from mammoclf.metrics import check_targets
    >>> y_true, y_pred = check_targets(["MALIGNANT", "BENIGN"], ["BENIGN", "BENIGN"])
    >>> y_pred.tolist()
    ['BENIGN', 'BENIGN']
    >>> check_targets(["MALIGNANT", "BENIGN"], [1, 0], caller="accuracy_score")
    Traceback (most recent call last):
    ...
    ValueError: accuracy_score: mix of label input types: y_true holds string labels and y_pred numeric ones; give both as the same kind (e.g. map 1/0 to 'MALIGNANT'/'BENIGN').
    """
    if names is None:
        names = (
            ("y_pred",)
            if len(predictions) == 1
            else tuple(f"y_pred_{chr(97 + i)}" for i in range(len(predictions)))
        )
    arrays = [as_1d(y_true, "y_true")] + [
        as_1d(p, name) for p, name in zip(predictions, names)
    ]
    lengths = {a.shape[0] for a in arrays}
    if len(lengths) > 1:
        sizes = ", ".join(
            f"{n} {a.shape[0]}" for n, a in zip(("y_true", *names), arrays)
        )
        raise ValueError(
            f"{caller}: inputs have inconsistent numbers of samples ({sizes})."
        )
    if arrays[0].shape[0] == 0:
        raise ValueError(f"{caller}: y_true is empty; it needs at least one case.")
    true_kind = _label_kind(arrays[0], "y_true", caller)
    for name, values in zip(names, arrays[1:]):
        if response == "score":
            if values.dtype.kind not in "biuf":
                raise ValueError(
                    f"{caller}: {name} must hold numeric scores; got values of "
                    f"type {values.dtype}."
                )
            _check_finite(values, name, caller)
            continue
        kind = _label_kind(values, name, caller)
        if kind != true_kind:
            raise ValueError(
                f"{caller}: mix of label input types: y_true holds {true_kind} "
                f"labels and {name} {kind} ones; give both as the same kind (e.g. "
                "map 1/0 to 'MALIGNANT'/'BENIGN')."
            )
    return arrays


def _label_kind(values, name, caller):
    """ "string" or "numeric"; an error for missing values or mixed kinds."""
    kind = values.dtype.kind
    if kind in "US":
        return "string"
    if kind in "biu":
        return "numeric"
    if kind == "f":
        _check_finite(values, name, caller)
        return "numeric"
    if kind != "O":
        raise ValueError(
            f"{caller}: {name} has values of unsupported type {values.dtype}."
        )
    is_string = np.array([isinstance(v, str) for v in values.tolist()])
    missing = np.array(
        [v is None or (_is_number(v) and not np.isfinite(v)) for v in values.tolist()]
    )
    if missing.any():
        raise ValueError(
            f"{caller}: {name} has {int(missing.sum())} missing or non-finite "
            f"values of {values.size}; every image needs a label."
        )
    if is_string.all():
        return "string"
    if all(_is_number(v) for v in values.tolist()):
        return "numeric"
    raise ValueError(
        f"{caller}: {name} mixes label types (e.g. strings and numbers); give "
        "labels of one kind."
    )


def _check_finite(values, name, caller):
    values = values.astype(np.float64, copy=False)
    n_nan = int(np.isnan(values).sum())
    n_inf = int(np.isinf(values).sum())
    if n_nan or n_inf:
        raise ValueError(
            f"{caller}: {name} has {n_nan + n_inf} non-finite values (NaN or "
            f"infinite: {n_nan} NaN, {n_inf} infinite) of {values.size}, the first at sample index "
            f"{int(np.flatnonzero(~np.isfinite(values))[0])}; drop or impute the missing "
            "predictions first: a NaN is never counted as an error or ranked."
        )


def _check_weights(sample_weight, n_samples):
    if sample_weight is None:
        return None
    weights = as_1d(sample_weight, "sample_weight").astype(np.float64)
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
