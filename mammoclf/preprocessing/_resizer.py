"""Resizer: images of any size to one model input size, anti-aliased."""

from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from mammoclf.exceptions import InvalidImageError
from mammoclf.preprocessing._sequence import ImageSequence
from mammoclf.utils._validation import check_image_batch

__all__ = ["Resizer"]


class Resizer(TransformerMixin, BaseEstimator):
    """Resize images to a fixed size, keeping the aspect ratio by padding.

    Downsampling is anti-aliased: each output pixel averages the input pixels
    it covers (Pillow's convolution resampling on float32 data), so the fine
    texture of a 4.5k x 3k mammogram does not alias into a 224 px one.

    Given the :class:`ImageSequence` of :class:`~mammoclf.DicomLoader`, it
    decodes and resizes image by image in the loader's ``n_jobs`` workers (and
    uses the loader's ``cache_dir``), so only the small results are kept: in
    memory, or in a memory-mapped file above the loader's ``memory_limit``.

    Parameters
    ----------
    size : int or (height, width), default=224
        Output size; an int means a square.
    aspect : {"pad", "stretch"}, default="pad"
        ``"pad"`` scales each image to fit inside ``size`` with its aspect
        ratio unchanged and centres it on a ``pad_value`` canvas; ``"stretch"``
        scales height and width independently to fill ``size``.
    pad_value : float, default=0.0
        Value of the padding (0 is the background of normalised mammograms).
    interpolation : {"bilinear", "area", "lanczos"}, default="bilinear"
        Resampling filter, widened by the scale factor when downsampling (that
        is the anti-aliasing). ``"area"`` averages boxes (nearest neighbour
        when enlarging); ``"lanczos"`` is sharpest but, like any filter with
        negative lobes, can overshoot the input range slightly near edges
        (not clipped). ``"bilinear"`` and ``"area"`` never leave it.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf import Resizer
    >>> images = np.random.default_rng(0).random((2, 90, 60))
    >>> resized = Resizer(size=32).fit_transform(images)
    >>> resized.shape, resized.dtype
    ((2, 32, 32, 1), dtype('float32'))
    >>> float(resized[0, :, :5].max())  # a 90x60 image leaves side padding
    0.0
    """

    _parameter_constraints: ClassVar[dict] = {
        "size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "aspect": [StrOptions({"pad", "stretch"})],
        "pad_value": [Real],
        "interpolation": [StrOptions({"bilinear", "area", "lanczos"})],
    }

    def __init__(
        self, *, size=224, aspect="pad", pad_value=0.0, interpolation="bilinear"
    ):
        self.size = size
        self.aspect = aspect
        self.pad_value = pad_value
        self.interpolation = interpolation

    def fit(self, X, y=None):
        """Validate the parameters and ``X``; the resizer learns nothing from data.

        Parameters
        ----------
        X : ImageSequence, array-like or list of arrays
            Images, as for :meth:`transform`.
        y : None
            Ignored.

        Returns
        -------
        self : Resizer
        """
        self._operation()
        if not isinstance(X, ImageSequence):
            _check_images(X)
        return self

    def transform(self, X):
        """Resize every image.

        Parameters
        ----------
        X : ImageSequence, array-like or list of arrays
            The output of :class:`~mammoclf.DicomLoader`; or images ``(n, H,
            W)`` / ``(n, H, W, C)``; or a list of 2-D or 3-D arrays of
            different sizes. 2-D input ``(n, d)`` is read as images one pixel
            high, as mammoclf's classifiers read it.

        Returns
        -------
        resized : ndarray of shape (n, height, width, C), dtype float32
            ``C`` is 1 for grey images.

        Raises
        ------
        InvalidImageError
            For empty input, NaN/inf values or zero-sized images (naming the
            image index).
        """
        operation = self._operation()
        if isinstance(X, ImageSequence):
            return X.stack_images(operation)
        return np.stack([operation(image) for image in _check_images(X)])

    def _operation(self):
        self._validate_params()
        size = self.size
        if isinstance(size, (tuple, list)):
            if len(size) != 2 or not all(
                isinstance(v, Integral) and not isinstance(v, bool) and v > 0
                for v in size
            ):
                raise ValueError(
                    f"size must be a positive int or (height, width); got {size!r}."
                )
            size = (int(size[0]), int(size[1]))
        else:
            size = (int(size), int(size))
        return ResizeOperation(
            size, self.aspect, float(self.pad_value), self.interpolation
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.three_d_array = True
        # The output is always float32, whatever the input dtype.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


@dataclass(frozen=True)
class ResizeOperation:
    """Resize one image; picklable for worker processes, its repr is its cache token."""

    size: tuple
    aspect: str
    pad_value: float
    interpolation: str

    @property
    def cache_token(self):
        return repr(self)

    @property
    def output_shape(self):
        """The result's shape for a grey 2-D image (what the loader decodes)."""
        return (*self.size, 1)

    def __call__(self, image, path=None):
        """Resize an ``(h, w)`` or ``(h, w, C)`` image to ``(H, W, C)`` float32."""
        from PIL import Image

        resample = {
            "bilinear": Image.Resampling.BILINEAR,
            "area": Image.Resampling.BOX,
            "lanczos": Image.Resampling.LANCZOS,
        }[self.interpolation]
        channels = image[..., np.newaxis] if image.ndim == 2 else image
        height, width = channels.shape[:2]
        target_h, target_w = self.size
        if self.aspect == "stretch":
            new_h, new_w = target_h, target_w
        else:
            scale = min(target_h / height, target_w / width)
            new_h = min(target_h, max(1, round(height * scale)))
            new_w = min(target_w, max(1, round(width * scale)))
        top, left = (target_h - new_h) // 2, (target_w - new_w) // 2
        output = np.full(
            (target_h, target_w, channels.shape[2]), self.pad_value, np.float32
        )
        for c in range(channels.shape[2]):
            plane = np.ascontiguousarray(channels[..., c], dtype=np.float32)
            # frombuffer shares the array's memory: no 50 MB copy per
            # full-field image, unlike Image.fromarray.
            source = Image.frombuffer("F", (width, height), plane, "raw", "F", 0, 1)
            # reducing_gap=3 first box-averages by an integer factor (fast,
            # itself anti-aliased); Pillow documents the result as
            # indistinguishable from exact resampling.
            resized = source.resize((new_w, new_h), resample, reducing_gap=3.0)
            output[top : top + new_h, left : left + new_w, c] = np.asarray(resized)
        return output


def _check_images(X):
    """Return a list of ``(h, w, C)`` float32 images, validating each."""
    if isinstance(X, (list, tuple)) and len(X) and np.ndim(X[0]) >= 2:
        shapes = {np.shape(image) for image in X}
        if len(shapes) > 1:
            return [_check_one(image, index) for index, image in enumerate(X)]
    return list(check_image_batch(X))


def _check_one(image, index):
    """Validate one image of a ragged list."""
    try:
        array = np.asarray(image, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidImageError(f"Image {index} is not numeric: {exc}") from exc
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if array.ndim != 3:
        raise InvalidImageError(
            f"Image {index} has {array.ndim} dimensions; expected (H, W) or (H, W, C)."
        )
    if 0 in array.shape:
        raise InvalidImageError(f"Image {index} has zero size {array.shape}.")
    if not np.isfinite(array).all():
        raise InvalidImageError(
            f"Image {index} contains NaN or infinite values; fix or drop it."
        )
    return array
