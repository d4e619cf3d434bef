"""Large arrays in memory or in memory-mapped files: one mechanism for mammoclf.

A resized data set at 1,024 px (3,103 CBIS-DDSM mammograms are 13 GB as
float32) or a frozen network's activations can outgrow memory. Whoever
builds such an array asks :func:`allocate` for it; above a limit it is a
``numpy.memmap`` on disk, which NumPy, scikit-learn indexing and joblib
(which hands memory maps to worker processes by file name, without
copying) all accept. The consumers that would otherwise load it whole read
it in row blocks instead: the classifiers stream it to Keras batch by batch
(``mammoclf.classifiers._batches``), and arrays derived from it (fold subsets,
augmented copies) are allocated here too, next to their source
(:func:`allocate_like`, :func:`take_rows`).

Files live in a scratch folder (``scratch/`` of the mammoclf cache, or the
temporary directory), are named ``mammoclf-<host>-<pid>-<random>.npy`` and
are deleted when the array and every view of it are freed, or at exit;
files of processes that died are removed by the next :func:`allocate`.
"""

import contextlib
import mmap
import os
import socket
import tempfile
import uuid
import weakref

import numpy as np

from mammoclf.utils._row_blocks import row_blocks

__all__ = [
    "DEFAULT_MEMORY_FRACTION",
    "allocate",
    "allocate_like",
    "backing_file",
    "is_memory_mapped",
    "physical_memory_bytes",
    "resolve_memory_limit",
    "take_rows",
]

#: mammoclf's one memory policy: an array (a data set, a frozen network's
#: activations) stays in memory up to this fraction of physical RAM, and is
#: memory-mapped above it; training also holds fold copies, augmented
#: copies and the framework. ``memory_limit="auto"`` means this.
DEFAULT_MEMORY_FRACTION = 0.25

_PREFIX = "mammoclf-"


def physical_memory_bytes():
    """Total physical memory of this machine, in bytes."""
    import psutil

    return int(psutil.virtual_memory().total)


def resolve_memory_limit(limit="auto"):
    """Bytes for a ``memory_limit`` parameter: ``"auto"`` or a non-negative int.

    ``"auto"`` is :data:`DEFAULT_MEMORY_FRACTION` of physical memory, the
    one policy every in-memory-or-on-disk choice of mammoclf follows.
    """
    if isinstance(limit, str) and limit == "auto":
        return int(DEFAULT_MEMORY_FRACTION * physical_memory_bytes())
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)):
        raise TypeError(f"memory limit must be 'auto' or bytes (int); got {limit!r}.")
    if limit < 0:
        raise ValueError(f"memory limit must be >= 0 bytes; got {limit}.")
    return int(limit)


def allocate(shape, dtype, *, on_disk, directory=None):
    """An uninitialised array: in memory, or a memory-mapped ``.npy`` file.

    Parameters
    ----------
    shape : tuple of int
    dtype : dtype-like
    on_disk : bool
        Memory-map a file instead of allocating memory.
    directory : str or path-like, default=None
        Folder of the file; None means the temporary directory.

    Returns
    -------
    array : ndarray or numpy.memmap
        A memory map is writable; its file is deleted once the array and all
        its views are garbage.
    """
    if not on_disk:
        return np.empty(shape, dtype=dtype)
    directory = tempfile.gettempdir() if directory is None else os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    _remove_files_of_dead_processes(directory)
    name = f"{_PREFIX}{_host()}-{os.getpid()}-{uuid.uuid4().hex[:12]}.npy"
    path = os.path.join(directory, name)
    array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    weakref.finalize(array, _remove_quietly, path)
    return array


def allocate_like(source, shape, dtype=np.float32):
    """An array for data derived from ``source``, stored where ``source`` is.

    Memory-mapped when ``source`` is (in the same folder), so that fold
    subsets and augmented copies of a data set too large for memory stay on
    disk too; in memory otherwise.
    """
    path = backing_file(source)
    return allocate(
        shape,
        dtype,
        on_disk=path is not None,
        directory=None if path is None else os.path.dirname(path),
    )


def take_rows(X, rows):
    """``X[rows]`` for an integer index array, memory-mapped when ``X`` is.

    For in-memory arrays this is plain NumPy indexing. A memory-mapped
    ``X`` is copied block by block into a new memory map, so a fold subset
    of a data set larger than memory never sits in memory whole.
    """
    if not is_memory_mapped(X):
        return X[rows]
    rows = np.asarray(rows)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    out = allocate_like(X, (rows.shape[0], *X.shape[1:]), X.dtype)
    for block in row_blocks(rows.shape[0], out):
        # Sorted reads go forward through the file; write back in order.
        wanted = rows[block]
        order = np.argsort(wanted, kind="stable")
        chunk = np.asarray(X[wanted[order]])
        out[block][order] = chunk
    if isinstance(out, np.memmap):
        out.flush()
    return out


def is_memory_mapped(array):
    """Whether ``array`` (or the array it is a view of) is memory-mapped."""
    return backing_file(array) is not None or _maps_memory(array)


def backing_file(array):
    """The file of a memory-mapped ``array`` or of the memory map it views, or None."""
    while array is not None:
        if isinstance(array, np.memmap) and getattr(array, "filename", None):
            return array.filename
        array = getattr(array, "base", None)
    return None


def _maps_memory(array):
    while array is not None:
        if isinstance(array, (np.memmap, mmap.mmap)):
            return True
        array = getattr(array, "base", None)
    return False


def _host():
    return "".join(c for c in socket.gethostname() if c.isalnum())[:32] or "host"


def _remove_quietly(path):
    with contextlib.suppress(OSError):
        os.remove(path)


def _remove_files_of_dead_processes(directory):
    """Delete this host's scratch files whose process no longer runs (a hard kill)."""
    import psutil

    prefix = f"{_PREFIX}{_host()}-"
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if not (name.startswith(prefix) and name.endswith(".npy")):
                continue
            pid = name[len(prefix) :].split("-", 1)[0]
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                _remove_quietly(os.path.join(directory, name))
