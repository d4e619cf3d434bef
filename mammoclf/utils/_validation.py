"""Input validation shared by mammoclf's estimators and transformers."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_array

from mammoclf.exceptions import InvalidImageError
from mammoclf.utils._array_store import row_blocks

__all__ = [
    "check_finite_images",
    "check_image_batch",
    "check_image_shape_param",
    "check_sample_weight",
]


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
