"""DicomLoader: image files (DICOM, PNG, JPEG, PGM, TIFF) to lazily decoded images."""

import math
import os
from numbers import Integral, Real
from typing import ClassVar

from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from mammoclf.preprocessing._reading import ReadSpec
from mammoclf.preprocessing._sequence import ImageSequence, file_stamps
from mammoclf.utils._paths import check_paths

__all__ = ["DicomLoader"]


class DicomLoader(TransformerMixin, BaseEstimator):
    """Read mammograms from files, decoding them lazily and in parallel.

    ``transform(paths)`` returns an :class:`ImageSequence`: the paths plus
    these settings, not pixels. The next step, usually
    :class:`~mammoclf.Resizer`, decodes and resizes image by image in
    ``n_jobs`` worker processes, each holding one full-resolution image (and
    its decoding buffers) at a time. So ``make_pipeline(DicomLoader(),
    Resizer(), Augmenter(), classifier)`` never holds more than a few
    full-resolution images per worker, however many files there are.

    Decoding a DICOM file, in order:

    1. pixel data, uncompressed or RLE Lossless natively, JPEG, JPEG-LS and
       JPEG 2000 through the pylibjpeg plugins (``pip install
       "mammoclf[dicom]"``; without them a
       :class:`~mammoclf.exceptions.MissingDecoderError` says so); only the
       ``BitsStored`` low bits count;
    2. the Modality LUT (RescaleSlope/RescaleIntercept or a LUT sequence);
    3. the VOI LUT or window when ``window`` asks for it;
    4. normalisation to ``[0, 1]``: per-image min-max (or percentiles), or the
       window itself;
    5. ``MONOCHROME1`` is inverted, so bright always means dense tissue;
    6. optional crop to the breast and left-right flip (see below).

    PNG, JPEG, PGM and TIFF files (e.g. the JPEG release of CBIS-DDSM) go
    through steps 4 and 6. The format is recognised from the file's content,
    not its name. Files are opened read-only.

    Header metadata (patient and study for grouping, laterality, view, size)
    is read by :func:`~mammoclf.preprocessing.read_metadata`, pseudonymised by
    default; the images and this loader's outputs carry no header fields.

    Parameters
    ----------
    window : None, "header" or (center, width), default=None
        None normalises each image by its own minimum and maximum (or
        ``clip_percentiles``). ``"header"`` applies the file's first VOI LUT
        or WindowCenter/WindowWidth (LINEAR, LINEAR_EXACT or SIGMOID) and maps
        the window to ``[0, 1]``; a file without one raises
        :class:`~mammoclf.exceptions.ImageFileError`. A ``(center, width)``
        pair applies that linear window to the rescaled values of every file.
        Values outside a window saturate at 0 or 1.
    clip_percentiles : None or (low, high), default=None
        Normalise by these percentiles of each image instead of its minimum
        and maximum; values beyond them saturate at 0 or 1. E.g. ``(0.5,
        99.5)`` ignores burned-in labels and dead pixels. Only without
        ``window``.
    crop_breast : bool, default=False
        Crop each image to the bounding box of the breast (the largest bright
        region), dropping background and burned-in labels.
    chest_wall_side : None, "left" or "right", default=None
        Flip images left-right so the chest wall is on this side. The side is
        found from the image (the breast's centre of mass), so it works for
        files without a laterality header too.
    n_jobs : int, default=None
        Files decoded in parallel by joblib (processes). None means 1, -1 all
        cores. Each worker holds about one full-resolution image at a time.
    cache_dir : str or path-like, default=None
        A persistent cache of processed images (e.g. resized by
        :class:`~mammoclf.Resizer`), shared by every run that uses the same
        directory: a rerun, or a grid search, decodes each file once in
        total, and an interrupted run resumes with what it cached. Entries
        are keyed on each file's identity (size, modification time and a
        digest of its first and last 16 KiB, which for a DICOM file holds
        its SOPInstanceUID) and on every setting that changes pixels;
        they hold no path or patient identifier, are written atomically and
        checked on read (a damaged entry is decoded again). The command line
        uses :func:`~mammoclf.preprocessing.get_cache_dir`; clear it with
        :func:`~mammoclf.preprocessing.clear_cache`. None caches nothing.
    memory_limit : int or "auto", default="auto"
        Bytes of processed images that :class:`~mammoclf.Resizer` keeps in
        memory. A larger data set goes to a memory-mapped file (under
        ``cache_dir``, else the temporary directory) that the classifiers
        train from batch by batch, without loading it whole. ``"auto"`` is a
        quarter of the physical memory.
    verbose : int, default=0
        Above 0, decoding prints progress lines (images done, rate, time
        left) to standard error.

    See Also
    --------
    mammoclf.Resizer : Decodes and resizes the sequence this loader returns.
    mammoclf.preprocessing.read_metadata : Header metadata, pseudonymised.
    mammoclf.datasets.scan : Check that every file of a data set is readable.

    Examples
    --------
    >>> import tempfile
    >>> from mammoclf import DicomLoader, Resizer
    >>> from mammoclf.datasets import make_synthetic_mammograms
    >>> data = make_synthetic_mammograms(4, image_size=48, random_state=0,
    ...                                  directory=tempfile.mkdtemp())
    >>> images = DicomLoader().fit_transform(data.paths)
    >>> images  # paths and settings, no pixels yet
    ImageSequence(n_images=4, settings=ReadSpec(window=None, ...))
    >>> images[0].shape, float(images[0].min()), float(images[0].max())
    ((48, 48), 0.0, 1.0)
    >>> Resizer(size=32).fit_transform(images).shape
    (4, 32, 32, 1)
    """

    _parameter_constraints: ClassVar[dict] = {
        "window": [None, StrOptions({"header"}), tuple, list],
        "clip_percentiles": [None, tuple, list],
        "crop_breast": ["boolean"],
        "chest_wall_side": [None, StrOptions({"left", "right"})],
        "n_jobs": [Integral, None],
        "cache_dir": [None, str, os.PathLike],
        "memory_limit": [
            StrOptions({"auto"}),
            Interval(Integral, 0, None, closed="left"),
        ],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        window=None,
        clip_percentiles=None,
        crop_breast=False,
        chest_wall_side=None,
        n_jobs=None,
        cache_dir=None,
        memory_limit="auto",
        verbose=0,
    ):
        self.window = window
        self.clip_percentiles = clip_percentiles
        self.crop_breast = crop_breast
        self.chest_wall_side = chest_wall_side
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.memory_limit = memory_limit
        self.verbose = verbose

    def fit(self, X, y=None):
        """Validate the parameters; the loader learns nothing from data.

        Parameters
        ----------
        X : sequence of str or path-like
            Image files.
        y : None
            Ignored.

        Returns
        -------
        self : DicomLoader
        """
        self._read_spec()
        check_paths(X, type(self).__name__, must_exist=False)
        return self

    def transform(self, X):
        """Return the images of the files ``X``, decoded lazily.

        Parameters
        ----------
        X : sequence of str or path-like
            Image files (a list, tuple, 1-D array or pandas Series).

        Returns
        -------
        images : ImageSequence
            ``images[i]`` is a 2-D float32 array in ``[0, 1]``; pass the
            sequence to :class:`~mammoclf.Resizer` to get an array.

        Raises
        ------
        FileNotFoundError
            Listing every file that does not exist.
        """
        spec = self._read_spec()
        paths = check_paths(X, type(self).__name__, must_exist=True)
        return ImageSequence(
            paths,
            file_stamps(paths),
            spec,
            n_jobs=self.n_jobs,
            cache_dir=self.cache_dir,
            memory_limit=self.memory_limit,
            verbose=self.verbose,
        )

    def _read_spec(self):
        """Validate the parameters and return them as a frozen :class:`ReadSpec`."""
        self._validate_params()
        window = self.window
        if isinstance(window, (tuple, list)):
            if len(window) != 2 or not all(
                isinstance(v, Real) and not isinstance(v, bool) for v in window
            ):
                raise ValueError(
                    f"window must be None, 'header' or (center, width); got {window!r}."
                )
            if not all(math.isfinite(v) for v in window):
                raise ValueError(f"window must hold finite numbers; got {window!r}.")
            if not window[1] > 0:
                raise ValueError(f"window width must be positive; got {window[1]!r}.")
            window = (float(window[0]), float(window[1]))
        percentiles = self.clip_percentiles
        if percentiles is not None:
            if (
                len(percentiles) != 2
                or not all(
                    isinstance(v, Real) and not isinstance(v, bool) for v in percentiles
                )
                or not 0 <= percentiles[0] < percentiles[1] <= 100
            ):
                raise ValueError(
                    "clip_percentiles must be (low, high) with 0 <= low < high <= 100; "
                    f"got {percentiles!r}."
                )
            if window is not None:
                raise ValueError(
                    "clip_percentiles and window both set the intensity range; "
                    "use one of them."
                )
            percentiles = (float(percentiles[0]), float(percentiles[1]))
        return ReadSpec(
            window=window,
            clip_percentiles=percentiles,
            crop_breast=bool(self.crop_breast),
            chest_wall_side=self.chest_wall_side,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags
