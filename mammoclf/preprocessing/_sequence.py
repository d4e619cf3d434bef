"""A lazy, picklable sequence of images read from files, decoded on demand.

:class:`~mammoclf.DicomLoader` returns an :class:`ImageSequence` instead of
an array: 3,000 full-field mammograms (~26 MB each decoded) do not fit in
memory, while their paths do. The next step (usually
:class:`~mammoclf.Resizer`) calls :meth:`ImageSequence.map_images`, which
decodes and processes one image at a time per worker, in parallel, and keeps
only the small results. The optional disk cache stores those results, so a
grid search decodes each file once in total instead of once per fit.
"""

import hashlib
import os
import tempfile
import warnings
from collections.abc import Sequence
from numbers import Integral

import numpy as np

from mammoclf.exceptions import InvalidImageError
from mammoclf.preprocessing._reading import read_image

__all__ = ["ImageSequence"]

# Bump when the meaning of cached arrays changes (reader or operation code).
_CACHE_FORMAT = 1


class ImageSequence(Sequence):
    """Images of a list of files, decoded lazily by :class:`~mammoclf.DicomLoader`.

    Built by :meth:`DicomLoader.transform <mammoclf.DicomLoader.transform>`;
    not meant to be constructed by hand. It records the paths, each file's
    size and modification time (so caches notice changed files) and the
    loader's settings; it pickles and hashes deterministically, which is what
    ``Pipeline(memory=...)`` needs.

    - ``sequence[i]`` decodes image ``i``: a 2-D float32 array in ``[0, 1]``.
    - ``sequence[indices]`` (slice, integer or boolean array) is a new lazy
      sequence, so scikit-learn's splitters index it without decoding.
    - :meth:`map_images` applies an operation to every image, in parallel
      with the loader's ``n_jobs``, holding one full-resolution image per
      worker at a time.
    - ``numpy.asarray(sequence)`` decodes everything at full resolution
      (only sensible for small data sets of equal-sized images).

    Attributes
    ----------
    paths : tuple of str
        The files, in order.
    n_jobs : int or None
        Parallel workers of :meth:`map_images`.
    cache_dir : str or None
        Where :meth:`map_images` caches processed images.
    """

    def __init__(self, paths, stamps, spec, *, n_jobs=None, cache_dir=None):
        self.paths = tuple(paths)
        self._stamps = tuple(stamps)
        self._spec = spec
        self.n_jobs = n_jobs
        self.cache_dir = None if cache_dir is None else os.fspath(cache_dir)

    # ----------------------------------------------------------- sequence
    def __len__(self):
        return len(self.paths)

    @property
    def shape(self):
        """``(n_images,)``: lets scikit-learn count and index the sequence lazily."""
        return (len(self.paths),)

    @property
    def ndim(self):
        """1: a sequence of images of possibly different sizes."""
        return 1

    def __getitem__(self, key):
        if isinstance(key, tuple):
            # scikit-learn's _safe_indexing asks for array[key, ...].
            if len(key) == 2 and key[1] is Ellipsis:
                key = key[0]
            else:
                raise IndexError(
                    f"ImageSequence supports 1-D indexing only; got {key!r}."
                )
        if isinstance(key, Integral):
            index = int(key)
            if not -len(self) <= index < len(self):
                raise IndexError(
                    f"image index {index} out of range for {len(self)} images."
                )
            return read_image(self.paths[index], self._spec)
        if isinstance(key, slice):
            indices = np.arange(len(self))[key]
        else:
            indices = np.asarray(key)
            if indices.dtype == bool:
                if indices.shape != (len(self),):
                    raise IndexError(
                        f"boolean index of shape {indices.shape} for "
                        f"{len(self)} images."
                    )
                indices = np.flatnonzero(indices)
            elif indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
                raise IndexError(f"ImageSequence cannot be indexed by {key!r}.")
        return self._subset(indices.astype(int))

    def _subset(self, indices):
        return ImageSequence(
            [self.paths[i] for i in indices],
            [self._stamps[i] for i in indices],
            self._spec,
            n_jobs=self.n_jobs,
            cache_dir=self.cache_dir,
        )

    def __eq__(self, other):
        if not isinstance(other, ImageSequence):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def _key(self):
        return (self.paths, self._stamps, self._spec)

    def __repr__(self):
        # Paths can contain patient identifiers (CBIS-DDSM's do): not shown.
        return f"ImageSequence(n_images={len(self)}, settings={self._spec})"

    # ----------------------------------------------------------- decoding
    def map_images(self, operation):
        """Decode every image and apply ``operation`` to it, in parallel.

        Parameters
        ----------
        operation : callable
            ``operation(image, path) -> ndarray``, picklable (it runs in
            worker processes). If it has a ``cache_token`` attribute (a string
            identifying what it computes) and ``cache_dir`` is set, results
            are cached on disk under a key made of the file's absolute path,
            size, modification time, the loader settings and the token.

        Returns
        -------
        results : list of ndarray
            One per image, in order.
        """
        from joblib import Parallel, delayed

        token = getattr(operation, "cache_token", None)
        tasks = (
            delayed(_process_one)(
                path, self._spec, operation, self._cache_file(i, token)
            )
            for i, path in enumerate(self.paths)
        )
        return Parallel(n_jobs=self.n_jobs)(tasks)

    def __array__(self, dtype=None, copy=None):
        images = self.map_images(_full_resolution)
        shapes = {image.shape for image in images}
        if len(shapes) > 1:
            first, second = sorted(shapes)[:2]
            raise InvalidImageError(
                f"The {len(images)} images have different sizes (e.g. {first} and "
                f"{second}), so they do not stack into one array; resize them "
                "first, e.g. with mammoclf.Resizer."
            )
        stacked = np.stack(images)
        return stacked if dtype is None else stacked.astype(dtype, copy=False)

    def _cache_file(self, index, token):
        if self.cache_dir is None or token is None:
            return None
        identity = repr(
            (
                _CACHE_FORMAT,
                os.path.abspath(self.paths[index]),
                self._stamps[index],
                self._spec,
                token,
            )
        )
        # The key hides the path (paths can carry patient identifiers).
        key = hashlib.sha256(identity.encode("utf-8")).hexdigest()
        return os.path.join(self.cache_dir, key[:2], key + ".npy")


def file_stamps(paths):
    """``(size, mtime_ns)`` of each file: changes when a file is rewritten."""
    stamps = []
    for path in paths:
        status = os.stat(path)
        stamps.append((status.st_size, status.st_mtime_ns))
    return stamps


def _full_resolution(image, path):
    return image


def _process_one(path, spec, operation, cache_file):
    """Decode ``path`` and apply ``operation``; runs in a worker.

    Holds one full-resolution image (and its decoding buffers) at a time.
    """
    if cache_file is not None and os.path.exists(cache_file):
        try:
            return np.load(cache_file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            warnings.warn(
                f"Ignoring unreadable cache entry {cache_file} for {path} "
                f"({exc}); decoding the file again and rewriting the entry.",
                UserWarning,
                stacklevel=2,
            )
    result = operation(read_image(path, spec), path)
    if cache_file is not None:
        _save_atomically(cache_file, result)
    return result


def _save_atomically(cache_file, array):
    """Write to a temporary file, then rename: readers never see half a file."""
    directory = os.path.dirname(cache_file)
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, array, allow_pickle=False)
        os.replace(temporary, cache_file)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
