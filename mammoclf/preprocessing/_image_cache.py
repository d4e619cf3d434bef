"""The persistent cache of decoded, resized images, shared across runs.

Decoding a full-field mammogram costs tens of milliseconds of CPU and, from
disk, reading 20-50 MB; its 224 px version is 200 kB. With
``DicomLoader(cache_dir=...)`` (on by default in the command line) every
processed image is stored once, so a second run, a grid search or a rerun
with other epochs decodes nothing.

The key
-------
An entry's name is a SHA-256 hash of:

- the file's identity: its size, its modification time in nanoseconds and a
  BLAKE2b digest of its first and last 16 KiB (for a DICOM file, the whole
  header with its SOPInstanceUID, and the start and end of the pixel data);
- every setting that changes pixels: the loader's settings (window,
  percentiles, crop, chest-wall side), the operation's cache token (for
  :class:`~mammoclf.Resizer`: size, aspect mode, padding value and
  interpolation), the Pillow version (its resampling) and
  :data:`CACHE_FORMAT`, bumped whenever mammoclf's decoding changes pixels.

Why not a hash of the whole file: it reads every byte of every file on
every run, 163 GB for CBIS-DDSM. Storage-bound, that is as slow as the
first run's decoding, so a rerun would gain nothing. Why not size and
modification time alone: a rewrite within the file system's timestamp
granularity (a few ms on ext4, 2 s on FAT) keeps both, and so do
archive extractions and copies that set fixed times; two different
mammograms of equal dimensions even have equal sizes when uncompressed. The
sampled bytes separate those: every DICOM file's header carries its own
SOPInstanceUID. What the key cannot see is an in-place edit of the middle
of the pixel data that also restores the size and modification time; clear
the cache after such an edit. The path is not part of the key: moving or
renaming a data set keeps its entries valid.

Privacy: entry names are hashes, entries hold pixels, a dtype and a shape;
no path, no header value, no patient identifier is stored.

Entries are checked on read (magic, shape, dtype, size, checksum; see
:mod:`mammoclf.storage`); a damaged one is decoded again and
rewritten, with one warning per run saying how many.
"""

import contextlib
import hashlib
import os
import shutil

import numpy as np

from mammoclf.storage import (
    DamagedEntryError,
    cache_subdirectory,
    clear_cache_directory,
    default_cache_dir,
    read_entry,
    write_entry,
)
from mammoclf.utils._validation import validate_params

__all__ = [
    "CACHE_FORMAT",
    "ImageCache",
    "clear_cache",
    "file_identity",
    "get_cache_dir",
]

#: Version of what cached pixels mean; bump when reading or resizing changes.
#: 3: entries carry their key.
CACHE_FORMAT = 3

# Bytes read from each end of a file for its identity.
_SAMPLE_BYTES = 16 * 1024


@validate_params(
    {"cache_dir": [None, str, os.PathLike]}, prefer_skip_nested_validation=True
)
def get_cache_dir(cache_dir=None):
    """The mammoclf cache directory: ``cache_dir`` if given, else the default.

    The default is ``$MAMMOCLF_CACHE_DIR`` when set, otherwise ``mammoclf``
    in the user cache directory: ``$XDG_CACHE_HOME/mammoclf`` (by default
    ``~/.cache/mammoclf``) on Linux, ``~/Library/Caches/mammoclf`` on macOS,
    ``%LOCALAPPDATA%\\mammoclf\\Cache`` on Windows. The command line keeps
    decoded images (``images/``), CBIS-DDSM header indexes
    (``cbis-ddsm-index/``) and memory-mapped data sets of running processes
    (``scratch/``) there.

    Parameters
    ----------
    cache_dir : str or path-like, default=None
        An explicit directory, returned as an absolute path.

    Returns
    -------
    cache_dir : str

    See Also
    --------
    clear_cache : Delete what mammoclf cached there.

    Examples
    --------
    >>> import os
    >>> from mammoclf.preprocessing import get_cache_dir
    >>> os.path.basename(get_cache_dir("my-cache"))
    'my-cache'
    """
    if cache_dir is None:
        return default_cache_dir()
    return os.path.abspath(os.path.expanduser(os.fspath(cache_dir)))


@validate_params(
    {"cache_dir": [None, str, os.PathLike]}, prefer_skip_nested_validation=True
)
def clear_cache(cache_dir=None):
    """Delete the decoded images, header indexes and scratch files mammoclf cached.

    Only the folders mammoclf creates are removed (and the directory itself
    if nothing else is left in it), so pointing it at the wrong directory
    loses nothing else.

    Parameters
    ----------
    cache_dir : str or path-like, default=None
        The cache directory; None means :func:`get_cache_dir`'s default.

    Returns
    -------
    n_bytes : int
        Bytes freed.

    Examples
    --------
    >>> import tempfile
    >>> from mammoclf import DicomLoader, Resizer
    >>> from mammoclf.datasets import make_synthetic_mammograms
    >>> from mammoclf.preprocessing import clear_cache
    >>> data = make_synthetic_mammograms(4, image_size=32, random_state=0,
    ...                                  directory=tempfile.mkdtemp())
    >>> cache = tempfile.mkdtemp()
    >>> _ = Resizer(size=16).fit_transform(
    ...     DicomLoader(cache_dir=cache).fit_transform(data.paths))
    >>> clear_cache(cache) > 4 * 16 * 16 * 4  # four cached 16 x 16 images
    True
    >>> clear_cache(cache)
    0
    """
    return clear_cache_directory(get_cache_dir(cache_dir))[1]


def file_identity(path):
    """A digest of ``path``'s size, modification time and first and last 16 KiB."""
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as handle:
        status = os.fstat(handle.fileno())
        digest.update(f"{status.st_size}:{status.st_mtime_ns}:".encode("ascii"))
        digest.update(handle.read(_SAMPLE_BYTES))
        if status.st_size > _SAMPLE_BYTES:
            handle.seek(max(_SAMPLE_BYTES, status.st_size - _SAMPLE_BYTES))
            digest.update(handle.read(_SAMPLE_BYTES))
    return digest.hexdigest()


def file_status(path):
    """``(size, mtime_ns)``: compared before and after decoding a file."""
    status = os.stat(path)
    return status.st_size, status.st_mtime_ns


class ImageCache:
    """The ``images/`` folder of a mammoclf cache directory.

    Parameters
    ----------
    root : str or path-like
        The cache directory (``DicomLoader(cache_dir=...)``).
    """

    def __init__(self, root):
        self.root = os.fspath(root)
        self.directory = os.path.join(self.root, "images")

    def key(self, path, spec, token):
        """The entry name of file ``path`` processed with ``spec`` and ``token``."""
        import PIL

        identity = repr(
            (CACHE_FORMAT, file_identity(path), spec, token, PIL.__version__)
        )
        return hashlib.sha256(identity.encode("utf-8")).hexdigest()

    def entry_path(self, key):
        return os.path.join(self.directory, key[:2], key + ".entry")

    def load(self, key, expected_shape=None):
        """Return ``(image, problem)``: the cached float32 image or None.

        ``problem`` is None, or, when an entry exists but fails a check
        (its magic, key, checksum, dtype (float32), shape (``expected_shape``
        if given) or size), ``"<entry name>: <what was wrong>"``. The
        damaged entry is deleted: the caller decodes the image again.
        """
        path = self.entry_path(key)
        try:
            meta, payload = read_entry(path, key=key)
            return _checked_array(meta, payload, expected_shape), None
        except FileNotFoundError:
            return None, None
        except (DamagedEntryError, OSError) as exc:
            _remove_damaged(path)
            return None, f"{os.path.basename(path)}: {exc}"

    def store(self, key, image):
        """Write ``image`` (float32) under ``key``, atomically."""
        image = np.ascontiguousarray(image, dtype=np.float32)
        cache_subdirectory(self.root, "images")
        write_entry(
            self.entry_path(key),
            {"dtype": image.dtype.str, "shape": list(image.shape)},
            memoryview(image).cast("B"),
            key=key,
        )


def _remove_damaged(path):
    """Delete a damaged entry (a folder in its place too), so one rewrite replaces it."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.remove(path)


def _checked_array(meta, payload, expected_shape):
    dtype = np.dtype(np.float32)
    if not isinstance(meta, dict) or meta.get("dtype") != dtype.str:
        raise DamagedEntryError(f"dtype {meta.get('dtype')!r}, expected float32")
    shape = meta.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(v, int) and v > 0 for v in shape
    ):
        raise DamagedEntryError(f"invalid shape {shape!r}")
    if expected_shape is not None and tuple(shape) != tuple(expected_shape):
        raise DamagedEntryError(f"shape {shape}, expected {list(expected_shape)}")
    if len(payload) != int(np.prod(shape)) * dtype.itemsize:
        raise DamagedEntryError("payload size does not match the shape")
    return np.frombuffer(payload, dtype=dtype).reshape(shape)
