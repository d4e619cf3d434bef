"""Input validation shared by mammoclf's estimators, transformers and functions."""

import functools
import inspect
from numbers import Integral, Real

import numpy as np
from sklearn import config_context, get_config
from sklearn.utils import check_array
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    validate_parameter_constraints,
)

from mammoclf.exceptions import InvalidImageError
from mammoclf.utils._row_blocks import row_blocks

__all__ = [
    "CONFIDENCE_LEVEL",
    "WRAPPER_FRAMES",
    "PositiveInts",
    "check_finite_images",
    "check_image_batch",
    "check_image_shape_param",
    "check_sample_weight",
    "validate_params",
]


class PositiveInts(HasMethods):
    """Parameter constraint: a tuple or list of positive ints, of given lengths.

    For ``_parameter_constraints`` and :func:`validate_params`, where
    scikit-learn has no constraint on the items of a sequence (a
    ScratchCNN's ``filters``, a DenseNet's ``resize_to``). It derives from
    ``HasMethods`` only because scikit-learn's ``make_constraint`` accepts
    instances of its own constraint classes alone; both methods of a
    constraint are replaced.

    Parameters
    ----------
    lengths : set of int or None, default=None
        Allowed lengths; None allows any length but zero.
    """

    def __init__(self, lengths=None):
        super().__init__([])
        self.lengths = None if lengths is None else frozenset(lengths)

    def is_satisfied_by(self, val):
        return (
            isinstance(val, (tuple, list))
            and (len(val) > 0 if self.lengths is None else len(val) in self.lengths)
            and all(
                isinstance(v, Integral) and not isinstance(v, bool) and v > 0
                for v in val
            )
        )

    def __str__(self):
        if self.lengths is None:
            count = "one or more"
        else:
            count = " or ".join(str(n) for n in sorted(self.lengths))
        return f"a tuple or list of {count} positive ints"


#: The constraint of every ``confidence_level`` parameter (validate_params).
CONFIDENCE_LEVEL = [Interval(Real, 0, 1, closed="neither")]

#: Frames that :func:`validate_params` puts between a decorated function and
#: its caller: warnings issued by the function add it to their stacklevel, so
#: that they still point at the user's line.
WRAPPER_FRAMES = 1


def validate_params(parameter_constraints, *, prefer_skip_nested_validation):
    """scikit-learn's ``validate_params``, except that inner errors keep their name.

    The parameters of the decorated function are validated as by
    :func:`sklearn.utils._param_validation.validate_params`: the same
    constraints, the same :class:`~sklearn.utils._param_validation.InvalidParameterError`
    naming the function, the same ``skip_parameter_validation`` handling.
    But scikit-learn also rewrites the message of any ``InvalidParameterError``
    raised *inside* the function to name the function, which suits a
    function that wraps one estimator and hides it. mammoclf's public
    functions take estimators that the user built (``compare_models``,
    ``grad_cam``, ``scan``'s ``loader``): an invalid ``pooling`` of a
    ``ScratchCNNClassifier`` must be reported as a parameter of
    ``ScratchCNNClassifier``, not of ``compare_models``. So errors raised
    inside pass through unchanged.

    The wrapper adds a single frame (:data:`WRAPPER_FRAMES`) between the
    function and its caller.

    Parameters
    ----------
    parameter_constraints : dict
        Parameter name -> list of constraints (or ``"no_validation"``), as
        for scikit-learn; every parameter but ``*args``/``**kwargs``.
    prefer_skip_nested_validation : bool
        As for scikit-learn: True skips the parameter validation of the
        scikit-learn estimators and functions called inside. Use False for
        functions that receive estimators the user built, whose parameters
        have not been checked yet.

    Returns
    -------
    decorator : callable
    """

    def decorator(func):
        signature = inspect.signature(func)
        ignored = {"self", "cls"} | {
            p.name
            for p in signature.parameters.values()
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            skip = get_config()["skip_parameter_validation"]
            if not skip:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                validate_parameter_constraints(
                    parameter_constraints,
                    {k: v for k, v in bound.arguments.items() if k not in ignored},
                    caller_name=func.__qualname__,
                )
            with config_context(
                skip_parameter_validation=prefer_skip_nested_validation or skip
            ):
                return func(*args, **kwargs)

        # Introspected by tests, as for scikit-learn's decorator.
        wrapper._skl_parameter_constraints = parameter_constraints
        return wrapper

    return decorator


def check_image_shape_param(image_shape, name="image_shape"):
    """Validate an ``image_shape`` parameter: ``None``, ``(H, W)`` or ``(H, W, C)``.

    Returns
    -------
    image_shape : tuple of int or None
    """
    if image_shape is None:
        return None
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) not in (2, 3):
        raise InvalidImageError(
            f"{name} must be None, (height, width) or (height, width, channels); "
            f"got {image_shape!r}."
        )
    if not all(
        isinstance(v, Integral) and not isinstance(v, bool) and v > 0
        for v in image_shape
    ):
        raise InvalidImageError(
            f"{name} must contain positive integers; got {image_shape!r}."
        )
    return tuple(int(v) for v in image_shape)


@validate_params(
    {
        "X": "no_validation",  # what this function checks, with image messages
        "image_shape": [tuple, list, None],
        "validated_2d": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def check_image_batch(X, *, image_shape=None, validated_2d=False):
    """Convert image-like input to a float32 ``(n, H, W, C)`` batch.

    Parameters
    ----------
    X : array-like
        ``(n, H, W)`` greyscale images, ``(n, H, W, C)`` images, or ``(n, d)``
        flattened images. Any real dtype; integers are converted to float32
        without rescaling.
    image_shape : tuple of int, default=None
        How to unflatten 2-D input: ``(H, W)`` or ``(H, W, C)`` with
        ``H * W * C == d``. When None, each row of 2-D input is taken as an
        image one pixel high, ``(1, d, 1)``; that is what lets scikit-learn's
        tabular conformance checks exercise the estimators.
    validated_2d : bool, default=False
        Whether 2-D ``X`` was already checked by ``validate_data`` (which also
        records feature names); then it is only reshaped.

    Returns
    -------
    images : ndarray of shape (n, H, W, C), dtype float32

    Raises
    ------
    InvalidImageError
        For empty input, a wrong number of dimensions, zero-sized images,
        non-numeric, complex, NaN or infinite values, or an ``image_shape``
        that does not match the number of features.
    """
    if validated_2d:
        images = np.asarray(X, dtype=np.float32)
    else:
        ndim = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
        if ndim > 4:
            raise InvalidImageError(
                f"Expected images of shape (n, H, W) or (n, H, W, C), or "
                f"flattened images (n, H*W); got an array with {ndim} dimensions."
            )
        try:
            images = check_array(
                X,
                allow_nd=True,
                dtype=np.float32,
                ensure_min_samples=1,
                ensure_all_finite=False,
                input_name="X",
            )
        except ValueError as exc:
            raise InvalidImageError(str(exc)) from exc
        check_finite_images(images)
    if images.ndim == 2:
        images = _unflatten(images, image_shape)
    elif images.ndim == 3:
        images = images[..., np.newaxis]
    if 0 in images.shape[1:]:
        raise InvalidImageError(
            f"Images must have non-zero height, width and channels; got "
            f"shape {images.shape[1:]}."
        )
    return images


def check_finite_images(images):
    """Name the images holding NaN or infinite values (scikit-learn names none)."""
    finite = np.empty(images.shape[0], dtype=bool)
    # In row blocks: a memory-mapped data set is never held in memory whole.
    for rows in row_blocks(images.shape[0], images):
        block = images[rows]
        finite[rows] = np.isfinite(block.reshape(block.shape[0], -1)).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        more = f" and {bad.size - 1} more" if bad.size > 1 else ""
        raise InvalidImageError(
            f"X contains NaN or infinity in image {bad[0]}{more}; fix or "
            "drop those images (mammoclf never clips or fills them silently)."
        )


def _unflatten(X, image_shape):
    n_samples, n_features = X.shape
    if image_shape is None:
        return X.reshape(n_samples, 1, n_features, 1)
    shape = tuple(image_shape) if len(image_shape) == 3 else (*image_shape, 1)
    if int(np.prod(shape)) != n_features:
        raise InvalidImageError(
            f"X has {n_features} features per row, which cannot be reshaped to "
            f"image_shape={tuple(image_shape)} ({int(np.prod(shape))} values)."
        )
    return X.reshape(n_samples, *shape)


def check_sample_weight(sample_weight, n_samples):
    """Validate ``sample_weight``: None or ``n_samples`` finite non-negative values.

    Returns
    -------
    sample_weight : ndarray of shape (n_samples,), dtype float32
        All ones when ``sample_weight`` is None. A new array: the caller's
        weights are never modified.
    """
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float32)
    try:
        weights = check_array(
            sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight"
        )
    except ValueError as exc:
        raise ValueError(f"Invalid sample_weight: {exc}") from exc
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight.shape == {weights.shape}, expected ({n_samples},)!"
        )
    if np.any(weights < 0):
        raise ValueError("sample_weight must be non-negative.")
    if not np.any(weights > 0):
        raise ValueError("sample_weight is all zero: no image has a positive weight.")
    return weights.astype(np.float32, copy=True)
