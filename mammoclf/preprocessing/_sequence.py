"""A lazy, picklable sequence of images read from files, decoded on demand.

:class:`~mammoclf.DicomLoader` returns an :class:`ImageSequence` instead of
an array: 3,000 full-field mammograms (~26 MB each decoded) do not fit in
memory, while their paths do. The next step (usually
:class:`~mammoclf.Resizer`) calls :meth:`ImageSequence.stack_images`, which
decodes and processes one image at a time per worker, in parallel, and keeps
only the small results, in memory or, for data sets too large for it, in a
memory-mapped file. The optional persistent cache
(:mod:`mammoclf.preprocessing._image_cache`) stores those results, so a
rerun, or a grid search, decodes each file once in total.
"""

import os
import warnings
from collections.abc import Sequence
from numbers import Integral

import numpy as np

from mammoclf.exceptions import ImageFileError, InvalidImageError
from mammoclf.preprocessing._image_cache import ImageCache, file_status
from mammoclf.preprocessing._reading import read_image
from mammoclf.storage import allocate, cache_subdirectory, resolve_memory_limit
from mammoclf.utils._orphans import exit_with_parent, workers_ending_with_parent
from mammoclf.utils._progress import Progress

__all__ = ["ImageSequence"]

# Cache lookups handed to the thread pool at a time.
_LOOKUP_BLOCK = 256
# Unreadable files named in the one error that lists them.
_SHOWN_FAILURES = 10


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
      worker at a time; :meth:`stack_images` stacks the results into one
      array as they arrive.
    - ``numpy.asarray(sequence)`` decodes everything at full resolution
      (only sensible for small data sets of equal-sized images).

    Attributes
    ----------
    paths : tuple of str
        The files, in order.
    n_jobs : int or None
        Parallel workers of :meth:`map_images`.
    cache_dir : str or None
        The mammoclf cache directory where processed images are kept.
    memory_limit : int or "auto"
        Bytes above which :meth:`stack_images` returns a memory map.
    verbose : int
        Above 0, decoding prints progress lines with the time left.
    last_run : dict
        After :meth:`map_images` or :meth:`stack_images`: how many images
        were ``"decoded"``, came ``"from_cache"``, and how many cache entries
        were damaged (``"damaged_entries"``) and so decoded again.
    """

    def __init__(
        self,
        paths,
        stamps,
        spec,
        *,
        n_jobs=None,
        cache_dir=None,
        memory_limit="auto",
        verbose=0,
    ):
        self.paths = tuple(paths)
        self._stamps = tuple(stamps)
        self._spec = spec
        self.n_jobs = n_jobs
        self.cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self.memory_limit = memory_limit
        self.verbose = verbose
        self.last_run = None

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
            memory_limit=self.memory_limit,
            verbose=self.verbose,
        )

    def __eq__(self, other):
        if not isinstance(other, ImageSequence):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def _key(self):
        return (self.paths, self._stamps, self._spec)

    def __getstate__(self):
        # What the last decoding found is not part of the sequence: left out,
        # joblib.hash (Pipeline(memory=...)) stays the same before and after.
        state = dict(self.__dict__)
        state["last_run"] = None
        return state

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
            are cached on disk (see :mod:`mammoclf.preprocessing._image_cache`)
            and only the files without a valid entry are decoded.

        Returns
        -------
        results : list of ndarray
            One per image, in order.
        """
        results = [None] * len(self)

        def keep(index, result):
            results[index] = result

        self._process_all(operation, keep)
        return results

    def stack_images(self, operation):
        """Like :meth:`map_images`, stacked into one array as results arrive.

        The array is allocated once, at its final size: in memory, or, when
        it would exceed ``memory_limit`` bytes, as a memory-mapped file in
        the cache directory's ``scratch/`` folder (the temporary directory
        without a cache) that the classifiers stream from.

        Returns
        -------
        stacked : ndarray or numpy.memmap of shape (n_images, ...)
        """
        stacked = None

        def keep(index, result):
            nonlocal stacked
            if stacked is None:
                stacked = self._allocate_stack(result)
            if result.shape != stacked.shape[1:]:
                raise InvalidImageError(
                    f"The processed images have different shapes (e.g. "
                    f"{stacked.shape[1:]} and {result.shape}), so they do not stack "
                    "into one array."
                )
            stacked[index] = result

        self._process_all(operation, keep)
        if isinstance(stacked, np.memmap):
            stacked.flush()
        return stacked

    def _allocate_stack(self, first):
        shape = (len(self), *first.shape)
        n_bytes = int(np.prod(shape, dtype=np.int64)) * first.dtype.itemsize
        on_disk = n_bytes > resolve_memory_limit(self.memory_limit)
        scratch = None
        if on_disk and self.cache_dir is not None:
            scratch = cache_subdirectory(self.cache_dir, "scratch")
        return allocate(shape, first.dtype, on_disk=on_disk, directory=scratch)

    def _process_all(self, operation, keep):
        """Call ``keep(index, result)`` for every image: cached ones first.

        Cache lookups run in threads in this process (they read a few kB
        per file); only the misses go to ``n_jobs`` worker processes, each
        decoding one image at a time and writing its cache entry as soon as
        it is done, so an interrupted run keeps what it finished.
        """
        from joblib import Parallel, delayed

        token = getattr(operation, "cache_token", None)
        cache = None
        if self.cache_dir is not None and token is not None:
            cache = ImageCache(self.cache_dir)
        progress = Progress(len(self), "decoding: images", enabled=self.verbose > 0)
        keys = [None] * len(self)
        pending, damaged = list(range(len(self))), []
        if cache is not None:
            pending = []
            expected = getattr(operation, "output_shape", None)
            for index, key, result, problem in self._lookup(cache, token, expected):
                keys[index] = key
                if problem is not None:
                    damaged.append(problem)
                if result is None:
                    pending.append(index)
                else:
                    keep(index, result)
                    progress.advance()
        tasks = (
            delayed(_process_one)(self.paths[i], self._spec, operation, cache, keys[i])
            for i in pending
        )
        n_jobs = self.n_jobs if len(pending) > 1 else None
        results = Parallel(
            n_jobs=n_jobs, return_as="generator", backend=workers_ending_with_parent()
        )(tasks)
        unwritten, unreadable = [], []
        for index, (result, write_error, failure) in zip(pending, results):
            progress.advance()
            if failure is not None:  # every file is tried: one error lists them all
                unreadable.append(failure)
                continue
            keep(index, result)
            if write_error is not None:
                unwritten.append(write_error)
        if unreadable:
            raise _unreadable_files(unreadable, len(self))
        if unwritten:
            warnings.warn(
                f"{len(unwritten)} processed images could not be written to the cache "
                f"{cache.directory} ({unwritten[0]}); they will be decoded again next "
                "time. Free space there, or choose another cache directory.",
                UserWarning,
                stacklevel=3,
            )
        self.last_run = {
            "decoded": len(pending),
            "from_cache": len(self) - len(pending),
            "damaged_entries": len(damaged),
        }
        if damaged:
            warnings.warn(
                f"{len(damaged)} cache entries in {cache.directory} failed their "
                f"check and were discarded ({'; '.join(damaged[:3])}"
                f"{'; ...' if len(damaged) > 3 else ''}); their images were decoded "
                "again and the entries rewritten.",
                UserWarning,
                stacklevel=3,
            )
        if cache is not None:
            progress.finish(
                f"{len(pending)} decoded, {len(self) - len(pending)} from the cache"
            )
        else:
            progress.finish()

    def _lookup(self, cache, token, expected_shape):
        """Yield ``(index, key, cached result or None, problem or None)`` in order."""
        from concurrent.futures import ThreadPoolExecutor

        def look(index):
            try:
                key = cache.key(self.paths[index], self._spec, token)
            except OSError:  # decoding reports it, with the reader's message
                return index, None, None, None
            return (index, key, *cache.load(key, expected_shape))

        with ThreadPoolExecutor(max_workers=min(8, len(self))) as pool:
            # Blocks bound the results waiting to be consumed.
            for start in range(0, len(self), _LOOKUP_BLOCK):
                block = range(start, min(start + _LOOKUP_BLOCK, len(self)))
                yield from pool.map(look, block)

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


def file_stamps(paths):
    """``(size, mtime_ns)`` of each file: changes when a file is rewritten."""
    return [file_status(path) for path in paths]


def _full_resolution(image, path):
    return image


def _process_one(path, spec, operation, cache, key):
    """Decode ``path``, apply ``operation`` and cache the result; runs in a worker.

    Holds one full-resolution image (and its decoding buffers) at a time. The
    result is cached only if the file did not change while it was read.
    Returns ``(result, None, None)``, or ``(result, reason, None)`` when the
    cache entry could not be written (a full disk, say): the run goes on, and
    says so; ``(None, None, error)`` when the file cannot be read.
    """
    exit_with_parent()
    before = None if key is None else file_status(path)
    try:
        image = read_image(path, spec)
    except (ImageFileError, OSError) as exc:  # reported with every other bad file
        return None, None, exc
    result = operation(image, path)
    if before is not None and file_status(path) == before:
        try:
            cache.store(key, result)
        except OSError as exc:
            return result, f"{type(exc).__name__}: {exc.strerror or exc}", None
    return result, None, None


def _unreadable_files(failures, n_files):
    """One error naming every file that could not be read (the error itself if one).

    The files are all tried first, so that a data set with several bad
    files is fixed in one go rather than one rerun per file.
    """
    if len(failures) == 1:
        return failures[0]
    described = [
        (exc.path, exc.reason)
        if isinstance(exc, ImageFileError)
        else (str(exc.filename), f"cannot be opened ({exc.strerror or exc})")
        for exc in failures
    ]
    others = described[1:_SHOWN_FAILURES]
    shown = "; ".join(f"{path}: {reason}" for path, reason in others)
    hidden = len(described) - 1 - len(others)
    return ImageFileError(
        described[0][0],
        f"{described[0][1]} And {len(failures) - 1} more of the {n_files} files "
        f"cannot be read (all files were tried): {shown}"
        + (f"; and {hidden} more." if hidden else "."),
    )
