"""Augmenter: the study's training-set augmentation as an imbalanced-learn sampler."""

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import check_sampling_strategy, check_target_type
from scipy import ndimage
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets

from mammoclf.exceptions import InvalidImageError
from mammoclf.pipeline import FitOnlyTransformGuard
from mammoclf.storage import allocate_like
from mammoclf.utils._validation import check_image_batch

__all__ = ["Augmenter"]


class Augmenter(BaseOverSampler):
    """Add randomly transformed copies of the training images (training only).

    An imbalanced-learn sampler: in :func:`mammoclf.make_pipeline` it runs in
    ``fit`` only, so inside cross-validation it augments the training folds
    and never the images a model is evaluated on. The defaults reproduce the
    study's augmentation: one extra copy of every image, rotated by up to
    10 degrees and flipped horizontally at random. Vertical flips, zoom,
    shift, brightness and contrast are opt-in.

    The returned set holds the original images first, then the augmented
    copies. For class ``c`` with ``n_c`` images, of which ``g_c`` more are
    asked for by ``sampling_strategy`` (0 when it is None), the output has
    ``(1 + n_copies) * (n_c + g_c)`` images of class ``c``: balancing first,
    then ``n_copies`` more copies of the balanced set. Augmented copies cycle
    through a random permutation of the class's images, so each source image
    is used as evenly as possible.

    It follows imbalanced-learn's sampler template: ``fit_resample`` is
    imbalanced-learn's, which checks the labels (one-hot labels are decoded;
    a single class is refused, as by every imbalanced-learn sampler) and
    returns the containers it was given (a list for a list, a pandas Series
    of labels for a Series); the augmentation is ``_fit_resample``.

    Each copy applies, about the image centre and in one interpolation
    (bilinear), a flip, a zoom, a rotation and a shift; pixels that come
    from outside the image take the image's minimum (the background). Then
    brightness and contrast change, and values are clipped to the source
    image's own range, so a normalised image stays in ``[0, 1]``.

    Parameters
    ----------
    n_copies : int, default=1
        Augmented copies of the (balanced) training set added to it.
    max_rotation : float, default=10.0
        Rotation angle drawn uniformly from ``[-max_rotation, max_rotation]``
        degrees.
    horizontal_flip : bool, default=True
        Flip left-right with probability 0.5.
    vertical_flip : bool, default=False
        Flip top-bottom with probability 0.5.
    zoom_range : float, default=0.0
        Zoom factor drawn from ``[1 - zoom_range, 1 + zoom_range]``.
    shift_range : float, default=0.0
        Shift drawn from ``[-shift_range, shift_range]`` times the height
        (vertically) and the width (horizontally).
    brightness_range : float, default=0.0
        Offset drawn from ``[-brightness_range, brightness_range]`` times the
        image's value range.
    contrast_range : float, default=0.0
        Factor drawn from ``[1 - contrast_range, 1 + contrast_range]``
        applied around the image mean.
    sampling_strategy : None, float, str, dict or callable, default=None
        Extra augmented images that balance the classes, as in
        imbalanced-learn's over-samplers (``"auto"``, ``"minority"``,
        ``"not majority"``, ``"all"``, a minority/majority ratio, a dict of
        target counts or a callable). None does not balance.
    random_state : int, RandomState instance or None, default=None
        Seeds all random transformations: the same seed gives the same
        augmented set.

    Attributes
    ----------
    sampling_strategy_ : dict
        Class label -> number of augmented images generated for it.
    sample_indices_ : ndarray of shape (n_samples_resampled,)
        For each output image, the index of its source image in ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf import Augmenter
    >>> X = np.random.default_rng(0).random((6, 32, 32))
    >>> y = np.array(["BENIGN"] * 4 + ["MALIGNANT"] * 2)
    >>> X_aug, y_aug = Augmenter(random_state=0).fit_resample(X, y)
    >>> X_aug.shape, np.unique(y_aug, return_counts=True)[1].tolist()
    ((12, 32, 32), [8, 4])
    >>> balancer = Augmenter(n_copies=0, sampling_strategy="auto", random_state=0)
    >>> np.unique(balancer.fit_resample(X, y)[1], return_counts=True)[1].tolist()
    [4, 4]
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_copies": [Interval(Integral, 0, None, closed="left")],
        "max_rotation": [Interval(Real, 0, 180, closed="both")],
        "horizontal_flip": ["boolean"],
        "vertical_flip": ["boolean"],
        "zoom_range": [Interval(Real, 0, 1, closed="left")],
        "shift_range": [Interval(Real, 0, 1, closed="left")],
        "brightness_range": [Interval(Real, 0, 1, closed="both")],
        "contrast_range": [Interval(Real, 0, 1, closed="left")],
        "sampling_strategy": [
            None,
            *BaseOverSampler._parameter_constraints["sampling_strategy"],
        ],
        "random_state": ["random_state"],
    }

    # A sampler must never transform at predict time; see mammoclf.pipeline.
    transform = FitOnlyTransformGuard()

    def __init__(
        self,
        *,
        n_copies=1,
        max_rotation=10.0,
        horizontal_flip=True,
        vertical_flip=False,
        zoom_range=0.0,
        shift_range=0.0,
        brightness_range=0.0,
        contrast_range=0.0,
        sampling_strategy=None,
        random_state=None,
    ):
        self.n_copies = n_copies
        self.max_rotation = max_rotation
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.zoom_range = zoom_range
        self.shift_range = shift_range
        self.brightness_range = brightness_range
        self.contrast_range = contrast_range
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state

    def fit(self, X, y):
        """Validate ``X`` and ``y`` and compute how many images each class gets.

        Use :meth:`fit_resample`; a pipeline calls it for you. As
        imbalanced-learn's ``fit``, except that ``sampling_strategy_`` also
        counts the ``n_copies`` augmented copies (see the class docstring).

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H, W, C)
            Training images.
        y : array-like of shape (n_samples,)
            Labels.

        Returns
        -------
        self : Augmenter
        """
        self._validate_params()
        check_classification_targets(y)
        _, y, _ = self._check_X_y(X, y)
        self.sampling_strategy_ = self._generated_per_class(y)
        return self

    def _check_X_y(self, X, y, accept_sparse=None):
        """imbalanced-learn's input hook: images, not 2-D feature matrices.

        Returns float32 images with ``X``'s number of dimensions, the labels
        as 1-D (one-hot labels decoded, as imbalanced-learn does) and whether
        they were one-hot.
        """
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        images = _check_images(X)
        if y.shape[0] != images.shape[0]:
            raise ValueError(
                f"y has {y.shape[0]} labels for {images.shape[0]} images; expected "
                "one label per image."
            )
        return (images[..., 0] if np.ndim(X) == 3 else images), y, binarize_y

    def _fit_resample(self, X, y):
        """The originals, then their augmented copies, and the copies' labels.

        Called by imbalanced-learn's ``fit_resample`` with the output of
        :meth:`_check_X_y`, after ``sampling_strategy_`` was set to the
        balancing counts only; it is replaced by the counts with copies.
        """
        images = X[..., np.newaxis] if X.ndim == 3 else X
        self.sampling_strategy_ = self._generated_per_class(y)
        rng = check_random_state(self.random_state)
        sources = []
        for label, n_generated in self.sampling_strategy_.items():
            members = np.flatnonzero(y == label)
            # np.resize cycles the permutation: every image is used once
            # before any is used twice.
            sources.append(np.resize(rng.permutation(members), n_generated))
        sources = (
            np.concatenate(sources).astype(np.intp) if sources else np.zeros(0, np.intp)
        )
        n_images = images.shape[0]
        # Memory-mapped like the input when it is (a data set too large for memory).
        X_resampled = allocate_like(
            images, (n_images + sources.size, *images.shape[1:])
        )
        X_resampled[:n_images] = images
        for position, source in enumerate(sources):
            X_resampled[n_images + position] = self._augment(images[source], rng)
        self.sample_indices_ = np.concatenate([np.arange(n_images), sources])
        if X.ndim == 3:
            X_resampled = X_resampled[..., 0]
        return X_resampled, np.concatenate([y, y[sources]])

    def _generated_per_class(self, y):
        """Class -> augmented images to generate (see the class docstring)."""
        labels, counts = np.unique(y, return_counts=True)
        # The check imbalanced-learn runs on every sampler (it refuses a
        # single class); None, no balancing, passes through as None.
        extra = check_sampling_strategy(self.sampling_strategy, y, self._sampling_type)
        extra = {} if extra is None else extra
        return {
            # Python scalars, so the dict prints as {'BENIGN': 4, ...}.
            (label.item() if isinstance(label, np.generic) else label): int(
                (1 + self.n_copies) * (count + extra.get(label, 0)) - count
            )
            for label, count in zip(labels, counts)
        }

    def _augment(self, image, rng):
        """One random copy of ``image`` (H, W, C)."""
        # Every parameter is drawn for every copy, used or not, so enabling
        # one transformation does not change the draws of the others.
        angle = np.deg2rad(rng.uniform(-self.max_rotation, self.max_rotation))
        flip_h = rng.random_sample() < 0.5
        flip_v = rng.random_sample() < 0.5
        zoom = rng.uniform(1.0 - self.zoom_range, 1.0 + self.zoom_range)
        shift = rng.uniform(-self.shift_range, self.shift_range, size=2)
        brightness = rng.uniform(-self.brightness_range, self.brightness_range)
        contrast = rng.uniform(1.0 - self.contrast_range, 1.0 + self.contrast_range)

        height, width = image.shape[:2]
        flips = np.diag(
            [
                -1.0 if (self.vertical_flip and flip_v) else 1.0,
                -1.0 if (self.horizontal_flip and flip_h) else 1.0,
            ]
        )
        rotation = np.array(
            [[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]]
        )
        forward = rotation @ (zoom * flips)
        centre = np.array([(height - 1) / 2.0, (width - 1) / 2.0])
        translation = shift * np.array([height, width])
        # affine_transform maps output to input coordinates: the inverse map.
        inverse = np.linalg.inv(forward)
        offset = centre - inverse @ (centre + translation)
        result = np.empty_like(image)
        for c in range(image.shape[2]):
            plane = image[..., c]
            low, high = float(plane.min()), float(plane.max())
            moved = ndimage.affine_transform(
                plane, inverse, offset=offset, order=1, mode="constant", cval=low
            )
            if self.contrast_range:
                mean = moved.mean()
                moved = (moved - mean) * contrast + mean
            if self.brightness_range:
                moved = moved + brightness * (high - low)
            result[..., c] = np.clip(moved, low, high)
        return result

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.sparse = False
        tags.input_tags.dataframe = False
        tags.sampler_tags.sample_indices = True
        return tags


def _check_images(X):
    """Images as float32 (n, H, W, C); flattened 2-D rows are refused."""
    ndim = X.ndim if hasattr(X, "ndim") else np.ndim(X)
    if ndim not in (3, 4):
        raise InvalidImageError(
            f"Augmenter needs images of shape (n, H, W) or (n, H, W, C); got an "
            f"array with {ndim} dimensions. Reshape flattened images first."
        )
    return check_image_batch(X)
