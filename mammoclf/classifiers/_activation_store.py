"""A study-wide store of frozen-network activations: each image through each frozen part once.

In a cross-validated study the frozen bottom of a pretrained network is the
same function in every fit: same weights (ImageNet, a weights file, or the
same seeded random initialisation), BatchNormalization in inference mode,
no randomness below the cut. :class:`ActivationStore` keeps its output for
every image it has seen, so the folds, models and grid candidates of one
study compute it once and read it afterwards.

Activations are keyed by content (see :mod:`mammoclf.classifiers._activation_keys`):
every layer below the cut with its configuration and weight values, the
cut, and the image's pixel values. So a fit whose frozen part differs in any
number computes its own activations, and a request whose frozen part holds
trainable weights or stochastic layers is refused.

Storage: chunks of activations, each with the digests of its images. With
``storage="memory"`` they stay in memory; with ``"disk"`` they are ``.npy``
files in a directory, written under a temporary name and renamed into place
(a reader sees complete chunks only), memory-mapped when read, and shared
by every process that opens the same directory (joblib's ``loky`` workers,
Dask workers on the same machine). ``"auto"`` keeps chunks in memory up to
``in_memory_limit`` bytes and writes the rest to a temporary directory.
Computing a key is serialised (a thread lock, and ``flock`` on disk), so two
fits that need the same activations at the same time compute them once.

Nothing here imports Keras: functions take the ``keras`` module.
"""

import contextlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import StrOptions

from mammoclf.classifiers._activation_keys import (
    DIGEST_DTYPE,
    cut_key,
    forget_layer_digests,
    image_digests,
    stochastic_layers,
)
from mammoclf.storage import (
    activation_dtype,
    atomic_write,
    move_into_place,
    resolve_memory_limit,
)
from mammoclf.utils._validation import validate_params

try:  # POSIX: processes sharing a directory compute each key once
    import fcntl
except ImportError:  # pragma: no cover - Windows: atomic writes still keep it correct
    fcntl = None

__all__ = [
    "IN_MEMORY_LIMIT_BYTES",
    "ActivationStore",
    "FillReport",
    "active_activation_store",
    "allocate_activations",
    "cut_key",
    "forget_layer_digests",
    "forward_in_batches",
    "image_digests",
    "shared_activation_store",
    "stochastic_layers",
]

#: Activations up to this size stay in memory with ``storage="auto"``; larger
#: ones are written to memory-mapped files in the temporary directory.
#: ``"auto"``: mammoclf's one memory policy (:func:`mammoclf.storage.resolve_memory_limit`).
IN_MEMORY_LIMIT_BYTES = "auto"

# Up to this many batches, calling the model directly beats tracing a
# predict function (seconds for a DenseNet) for the few calls a cut needs.
_EAGER_MAX_BATCHES = 3
# Stores activated in this process; a list, not a context variable, so that
# the threads of joblib's threading backend see the caller's store.
_ACTIVE = []
_ACTIVE_LOCK = threading.Lock()
# Directory -> store, in worker processes that received a store by pickle.
_OPENED = OrderedDict()
_OPENED_MAX = 2


def allocate_activations(shape, dtype, storage, directory_factory, name):
    """An array for activations: in memory, or a memory-mapped ``.npy`` file.

    ``directory_factory()`` returns the directory for ``storage="disk"``.
    Shared by the per-fit cache and the study-wide store: one mechanism.
    """
    if storage == "memory":
        return np.empty(shape, dtype=dtype)
    path = os.path.join(directory_factory(), f"{name}.npy")
    return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)


def forward_in_batches(keras, submodel, source, out, batch_size):
    """Write ``submodel(source)`` (inference mode) into ``out``, batch by batch."""
    n_samples = source.shape[0]
    eager = -(-n_samples // batch_size) <= _EAGER_MAX_BATCHES
    for start in range(0, n_samples, batch_size):
        batch = np.asarray(source[start : start + batch_size])
        size = batch.shape[0]
        if eager:
            result = submodel(batch, training=False)
        else:
            if size < batch_size:
                # One batch shape for every call: a partial last batch would
                # trace the predict function a second time.
                padding = np.zeros((batch_size - size, *batch.shape[1:]), batch.dtype)
                batch = np.concatenate([batch, padding])
            result = submodel.predict_on_batch(batch)
        out[start : start + size] = np.asarray(keras.ops.convert_to_numpy(result))[
            :size
        ]
    if isinstance(out, np.memmap):
        out.flush()


@dataclass
class FillReport:
    """What one :meth:`ActivationStore.fill` did: rows read, rows computed, seconds."""

    read: int = 0
    computed: int = 0
    compute_seconds: float = 0.0
    source: str | None = None

    def add(self, other):
        self.read += other.read
        self.computed += other.computed
        self.compute_seconds += other.compute_seconds
        self.source = other.source or self.source


@dataclass
class _Table:
    """The stored activations of one cut key."""

    cut: str
    directory: Path | None
    chunks: list = field(default_factory=list)  # activations arrays
    index: dict = field(default_factory=dict)  # digest -> (chunk, row)
    loaded: set = field(default_factory=set)  # chunk file names read
    computed_from: dict = field(default_factory=dict)  # source -> rows


class ActivationStore:
    """Activations of frozen network parts, shared by the fits of a study.

    Use it through :func:`shared_activation_store`. The store is thread-safe,
    and with ``storage="disk"`` it can be pickled to worker processes, which
    then read and write the same directory.

    Parameters
    ----------
    directory : path-like or None, default=None
        Where ``"disk"`` (and overflowing ``"auto"``) chunks go. None: a new
        temporary directory, removed by :meth:`close`. A given directory is
        kept: a later store on it reads what is there.
    storage : {"auto", "memory", "disk"}, default="auto"
        See the module docstring. Only ``"disk"`` stores cross processes.
    in_memory_limit : int or "auto", default=IN_MEMORY_LIMIT_BYTES
        Bytes of chunks kept in memory with ``storage="auto"``.
    """

    def __init__(
        self, directory=None, *, storage="auto", in_memory_limit=IN_MEMORY_LIMIT_BYTES
    ):
        if storage not in ("auto", "memory", "disk"):
            raise ValueError(
                f"storage must be 'auto', 'memory' or 'disk'; got {storage!r}."
            )
        self.storage = storage
        self.in_memory_limit = resolve_memory_limit(in_memory_limit)
        self._owns_directory = directory is None
        self._directory = None if directory is None else Path(directory)
        self._lock = threading.RLock()
        self._key_locks = {}
        self._tables = {}
        self._memory_bytes = 0
        self._shared_networks = {}
        self.closed = False
        if storage == "disk":
            self.directory  # noqa: B018 - create it now, before pickling

    @staticmethod
    def active():
        """The innermost store activated by :func:`shared_activation_store`, or None."""
        return active_activation_store()

    @property
    def directory(self):
        """The store's directory (created on first use)."""
        with self._lock:
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix="mammoclf-store-"))
            self._directory.mkdir(parents=True, exist_ok=True)
            return self._directory

    # ------------------------------------------------------------- lookups
    def fill(self, keras, model, cut, parts, outs, digests, *, sources=(), batch_size):
        """Write the activations at ``cut`` of every image of ``parts`` into ``outs``.

        Images the store has not seen under this key are computed once, in
        batches of ``batch_size``: from the deepest cut of ``sources`` (cuts
        below ``cut`` computed by the same frozen layers) that holds all of
        them, else from the images. ``digests`` are
        :func:`image_digests` of ``parts``.

        Returns
        -------
        report : FillReport
        """
        key = cut_key(keras, model, cut)
        report = FillReport()
        with self._computing(key):
            table = self._table(key, cut.name)
            wanted = np.concatenate(digests) if digests else np.empty(0, DIGEST_DTYPE)
            unique_missing, first = _missing(table.index, wanted)
            if unique_missing.size:
                started = time.perf_counter()
                report.source = self._compute(
                    keras, model, cut, table, parts, first, unique_missing, sources,
                    batch_size,
                )  # fmt: skip
                report.compute_seconds = time.perf_counter() - started
            report.computed = int(unique_missing.size)
            report.read = int(wanted.size - unique_missing.size)
            for part_digests, out in zip(digests, outs):
                _gather(table, part_digests, out)
        return report

    def _compute(
        self, keras, model, cut, table, parts, first, missing, sources, batch_size
    ):
        source_name, inputs, source_tensor = "images", None, model.inputs[0]
        for source in sorted(sources, key=lambda c: c.depth, reverse=True):
            source_table = self._table(cut_key(keras, model, source), source.name)
            if all(d in source_table.index for d in missing.tolist()):
                inputs = np.empty(
                    (missing.size, *source_table.chunks[0].shape[1:]),
                    source_table.chunks[0].dtype,
                )
                _gather(source_table, missing, inputs)
                source_name, source_tensor = source.name, source.tensor
                break
        if inputs is None:
            images = np.concatenate(parts) if len(parts) > 1 else parts[0]
            inputs = np.asarray(images[first])
        submodel = keras.Model(inputs=source_tensor, outputs=cut.tensor)
        shape = (missing.size, *(int(d) for d in cut.tensor.shape[1:]))
        dtype = activation_dtype(cut.tensor.dtype)
        n_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        with self._lock:
            on_disk = self.storage == "disk" or (
                self.storage == "auto"
                and self._memory_bytes + n_bytes > self.in_memory_limit
            )
            if not on_disk:
                self._memory_bytes += n_bytes
        chunk_name = f"{uuid.uuid4().hex}.{source_name}"
        if on_disk:
            directory = self._table_directory(table)
            partial = f".{chunk_name}.partial"
            chunk = allocate_activations(
                shape, dtype, "disk", lambda: directory, partial
            )
            forward_in_batches(keras, submodel, inputs, chunk, batch_size)
            del chunk
            # Activations first, digests last: a chunk counts once both exist.
            move_into_place(
                directory / f"{partial}.npy", directory / f"{chunk_name}.npy"
            )
            with atomic_write(directory / f"{chunk_name}.digests.npy") as handle:
                np.save(handle, missing)
            with self._lock:
                self._load_chunk(table, chunk_name)
        else:
            chunk = np.empty(shape, dtype)
            forward_in_batches(keras, submodel, inputs, chunk, batch_size)
            with self._lock:
                self._add_chunk(table, chunk_name, missing, chunk)
        return source_name

    # -------------------------------------------------------------- tables
    def _table(self, key, cut_name):
        with self._lock:
            table = self._tables.get(key)
            if table is None:
                directory = None
                if self.storage == "disk" or self._directory is not None:
                    directory = self.directory / key
                table = self._tables[key] = _Table(cut_name, directory)
            if table.directory is not None and table.directory.is_dir():
                for path in sorted(table.directory.glob("*.digests.npy")):
                    name = path.name[: -len(".digests.npy")]
                    if name not in table.loaded:
                        self._load_chunk(table, name)
            return table

    def _table_directory(self, table):
        key = next(k for k, t in self._tables.items() if t is table)
        if table.directory is None:
            table.directory = self.directory / key
        table.directory.mkdir(parents=True, exist_ok=True)
        cut_file = table.directory / "cut.txt"  # for summary() in other processes
        if not cut_file.exists():
            with atomic_write(cut_file, "w") as handle:
                handle.write(table.cut)
        return table.directory

    def _load_chunk(self, table, name):
        digests = np.load(table.directory / f"{name}.digests.npy")
        chunk = np.load(table.directory / f"{name}.npy", mmap_mode="r")
        self._add_chunk(table, name, digests, chunk)

    def _add_chunk(self, table, name, digests, chunk):
        number = len(table.chunks)
        table.chunks.append(chunk)
        table.loaded.add(name)
        for row, digest in enumerate(digests.tolist()):
            table.index.setdefault(digest, (number, row))
        source = name.split(".", 1)[1]
        table.computed_from[source] = table.computed_from.get(source, 0) + len(digests)

    @contextlib.contextmanager
    def _computing(self, key):
        """Hold ``key``: one thread and one process computes it at a time."""
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            if fcntl is None or self.storage != "disk":
                yield
                return
            directory = self.directory / key
            directory.mkdir(parents=True, exist_ok=True)
            with open(directory / ".lock", "a+b") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    # ----------------------------------------------------- shared networks
    def shared_network(self, key, build):
        """The network ``build()`` returns, built once per ``key`` in this process.

        For frozen network parts that fits may share (read-only) instead of
        building their own copy.
        """
        with self._lock:
            lock = self._key_locks.setdefault(("network", key), threading.Lock())
        with lock:
            if key not in self._shared_networks:
                self._shared_networks[key] = build()
            return self._shared_networks[key]

    # ------------------------------------------------------------- summary
    def summary(self):
        """Per stored cut: images held and where their activations came from.

        Returns
        -------
        rows : list of dict
            ``cut`` (name), ``key`` (its digest), ``n_images`` and
            ``computed_from`` (``{"images": n, "<cut>": n}``: rows computed
            by a pass from the images or from a shallower stored cut). Reads
            the directory too, so chunks written by other processes count.
        """
        with self._lock:
            keys = {key: table.cut for key, table in self._tables.items()}
            if self._directory is not None and self._directory.is_dir():
                for cut_file in self._directory.glob("*/cut.txt"):
                    keys.setdefault(cut_file.parent.name, cut_file.read_text())
            rows = []
            for key, cut in keys.items():
                table = self._table(key, cut)
                if not table.index:  # only looked up, as a possible source
                    continue
                rows.append(
                    {
                        "cut": cut,
                        "key": key,
                        "n_images": len(table.index),
                        "computed_from": dict(table.computed_from),
                    }
                )
        return rows

    # ------------------------------------------------------------ lifetime
    def close(self):
        """Release every activation; remove the directory if the store made it."""
        with self._lock:
            self._tables.clear()
            self._shared_networks.clear()
            self._memory_bytes = 0
            if self._owns_directory and self._directory is not None:
                shutil.rmtree(self._directory, ignore_errors=True)
            self.closed = True

    def __reduce__(self):
        if self.storage != "disk":
            raise TypeError(
                f"An ActivationStore with storage={self.storage!r} lives in this "
                "process's memory and cannot be sent to another process; use "
                "shared_activation_store(storage='disk') for process-based "
                "parallelism."
            )
        return (_open_in_worker, (str(self.directory),))

    def __repr__(self):
        where = (
            "" if self._directory is None else f", directory={str(self._directory)!r}"
        )
        return f"ActivationStore(storage={self.storage!r}{where})"


def _open_in_worker(directory):
    """The store on ``directory`` in this process (a worker that got it by pickle)."""
    with _ACTIVE_LOCK:
        for existing in _ACTIVE:
            if (
                existing._directory is not None
                and str(existing._directory) == directory
            ):
                return existing
        store = _OPENED.get(directory)
        if store is None:
            store = ActivationStore(directory, storage="disk")
            _OPENED[directory] = store
            while len(_OPENED) > _OPENED_MAX:  # a long-lived worker's old studies
                _OPENED.popitem(last=False)[1].close()
        _OPENED.move_to_end(directory)
        return store


def _missing(index, wanted):
    """Digests of ``wanted`` not in ``index`` (unique) and their first positions."""
    if wanted.size == 0:
        return wanted, np.empty(0, dtype=int)
    unique, first = np.unique(wanted, return_index=True)
    absent = np.array([d not in index for d in unique.tolist()], dtype=bool)
    order = np.argsort(first[absent], kind="stable")
    return unique[absent][order], first[absent][order]


def _gather(table, digests, out):
    """Copy the stored rows of ``digests`` into ``out``, chunk by chunk."""
    locations = np.array([table.index[d] for d in digests.tolist()], dtype=np.int64)
    if locations.size == 0:
        return
    locations = locations.reshape(-1, 2)
    for number in np.unique(locations[:, 0]):
        positions = np.flatnonzero(locations[:, 0] == number)
        rows = locations[positions, 1]
        order = np.argsort(rows, kind="stable")  # forward reads of a memory map
        out[positions[order]] = table.chunks[number][rows[order]]


def active_activation_store():
    """The innermost store activated by :func:`shared_activation_store`, or None."""
    with _ACTIVE_LOCK:
        return _ACTIVE[-1] if _ACTIVE else None


# Outside contextmanager: arguments are checked when the function is called,
# before the with-block starts.
@validate_params(
    {
        "store": [ActivationStore, str, os.PathLike, None],
        "storage": [StrOptions({"auto", "memory", "disk"})],
    },
    prefer_skip_nested_validation=True,
)
@contextlib.contextmanager
def shared_activation_store(store=None, *, storage="auto"):
    """Share frozen-network activations between the fits inside the block.

    While the block runs, every :class:`~mammoclf.DenseNetTransferClassifier`
    fit and prediction in this process reads the activations of its frozen
    backbone part from one store, and computes only those of images it
    holds no activations for. Results are the same as without the store
    (see the user guide page on scaling for the tolerance); fits whose
    frozen part differs in any weight, layer setting, input size or dtype
    policy never read each other's activations.

    ``compare_models`` and ``mammoclf compare`` open one for you; wrap a
    scikit-learn search yourself::

        with shared_activation_store():
            search.fit(X, y)

    Parameters
    ----------
    store : ActivationStore, path-like or None, default=None
        None: a new store, closed (and its temporary files removed) when
        the block ends. A path: a store on that directory, kept afterwards.
        An :class:`ActivationStore`: that store, left open.
    storage : {"auto", "memory", "disk"}, default="auto"
        For a new store: in memory up to a quarter of physical memory
        (mammoclf's one memory policy) and memory-mapped files beyond (``"auto"``), always in memory, or always on disk. Process-based
        parallelism (joblib ``loky``, Dask) needs ``"disk"``, and fits reach
        the store only when they receive it, as ``compare_models`` does.

    Yields
    ------
    store : ActivationStore
        Its :meth:`~ActivationStore.summary` says what was computed.

    Examples
    --------
    >>> from mammoclf.classifiers import shared_activation_store
    >>> with shared_activation_store() as store:
    ...     pass  # fit estimators here, e.g. GridSearchCV(...).fit(X, y)
    >>> store.closed
    True
    """
    if isinstance(store, ActivationStore):
        owned = False
    else:
        directory = None if store is None else os.fspath(store)
        if directory is not None and storage == "auto":
            storage = "disk"
        store = ActivationStore(directory, storage=storage)
        owned = True
    with _ACTIVE_LOCK:
        _ACTIVE.append(store)
    try:
        yield store
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.remove(store)
        if owned:
            store.close()
