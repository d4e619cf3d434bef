"""Frozen-prefix caching: run the frozen bottom of a network once per fit.

While a training stage updates only the layers above some cut point of a
network, and nothing below the cut behaves differently in training (frozen
BatchNormalization runs in inference mode, and there is no dropout or random
augmentation there), the activations at the cut are a fixed function of the
input images. :class:`ActivationCache` computes them once and the stage
trains the part above the cut on them: same results, without recomputing a
frozen DenseNet on every image in every epoch.

Cuts are named points of a functional model, ordered from the input side.
A cache computed at a shallow cut stays valid while later stages only train
layers above it, so the cache computes, in one pass from the images, every
cut that the coming stages will read, each from the previous one.

Within :func:`~mammoclf.classifiers._activation_store.shared_activation_store`
(a study), cuts that nothing below has trained yet come from the study-wide
store instead: computed once per image for all fits. The cache allocates
and the store fills, with the same allocation and forward-pass functions.

Nothing here imports Keras at import time: functions take the ``keras``
module from :func:`mammoclf.utils._keras.import_keras`.
"""

import functools
import math
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np

from mammoclf.classifiers._activation_store import (
    IN_MEMORY_LIMIT_BYTES,
    FillReport,
    allocate_activations,
    forward_in_batches,
    image_digests,
    stochastic_layers,
)
from mammoclf.classifiers._batches import SeededBatches
from mammoclf.storage import activation_dtype, resolve_memory_limit

__all__ = [
    "IN_MEMORY_LIMIT_BYTES",
    "ActivationCache",
    "Cut",
    "stochastic_layers",
    "stream_batches",
]

# Looked up at call time, so tests can count the forward passes.
_forward_in_batches = forward_in_batches


@dataclass(frozen=True, eq=False)  # identity: KerasTensor overloads ``==``
class Cut:
    """A point of a functional model whose activations may be cached.

    Attributes
    ----------
    name : str
        What the cut is called in messages and in ``stages_``: the block
        that starts there (``"conv5"``, ``"head"``).
    depth : int
        Position from the input side; a deeper cut has a larger depth.
    tensor : KerasTensor
        The symbolic tensor flowing through the cut.
    below : tuple of Layer
        The layers that compute ``tensor`` from the model's input, input
        and preprocessing layers included (what a shared store keys on);
        empty: found from the graph when needed.
    """

    name: str
    depth: int
    tensor: object
    below: tuple = ()


@dataclass
class _Cached:
    train: np.ndarray
    validation: np.ndarray | None
    storage: str


class ActivationCache:
    """Activations of a model's frozen part at :class:`Cut` points, for one fit.

    Parameters
    ----------
    keras : module
        The Keras module.
    model : keras.Model
        A functional model; cuts are tensors of its graph.
    images : ndarray of shape (n_samples, H, W, C)
        Training images.
    validation_images : ndarray or None
        Validation images, cached alongside.
    batch_size : int
        Images per forward pass.
    storage : {"auto", "memory", "disk"}
        Where activations live: ``"auto"`` keeps a cut in memory up to
        :data:`IN_MEMORY_LIMIT_BYTES` and memory-maps larger ones.
    store : ActivationStore or None, default=None
        A study-wide store: cuts below every layer trained so far are read
        from it (and computed into it once), not computed for this fit.
    store_sources : sequence of Cut, default=()
        Cuts of ``model`` from which the store may compute a deeper cut.
    """

    def __init__(
        self,
        keras,
        model,
        images,
        validation_images,
        *,
        batch_size,
        storage,
        store=None,
        store_sources=(),
    ):
        self._keras = keras
        self._model = model
        self._images = images
        self._validation_images = validation_images
        self._batch_size = int(batch_size)
        self._storage = storage
        self._cached = {}  # Cut -> _Cached
        self._from_store = set()  # cuts whose activations the store gave
        self._directory = None
        self._store = store
        self._store_sources = tuple(store_sources)
        self._digests = None
        self._report = FillReport()
        # Cuts at or below this depth are still a function of the image alone.
        self._pristine_depth = math.inf

    def get(self, cut, also=()):
        """Return ``(train, validation, storage)`` activations at ``cut``.

        ``also`` lists shallower cuts that later stages will read; the ones
        not cached yet are computed in the same pass from the images.
        """
        if cut not in self._cached:
            wanted = sorted(
                {cut, *(c for c in also if c not in self._cached)},
                key=lambda c: c.depth,
            )
            for target in wanted:
                self._compute(target)
        entry = self._cached[cut]
        return entry.train, entry.validation, entry.storage

    def invalidate_above(self, depth):
        """Forget cuts deeper than ``depth``: layers below them have trained."""
        self._pristine_depth = min(self._pristine_depth, depth)
        for cut in [c for c in self._cached if c.depth > depth]:
            del self._cached[cut]

    def came_from_store(self, cut):
        """Whether ``cut``'s activations were read from (or computed into) the store."""
        return cut in self._from_store

    def take_store_report(self):
        """What the shared store did since the last call (a :class:`FillReport`)."""
        report, self._report = self._report, FillReport()
        return report

    def keep_only(self, cuts):
        """Release every cached cut not in ``cuts`` (no later stage reads it)."""
        for cut in [c for c in self._cached if c not in set(cuts)]:
            del self._cached[cut]

    def close(self):
        """Release all activations and delete memory-mapped files."""
        self._cached.clear()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _compute(self, target):
        if self._store is not None and target.depth <= self._pristine_depth:
            self._fill_from_store(target)
            return
        # Start from the deepest cached cut below the target (the layers in
        # between are frozen now), else from the images.
        sources = [c for c in self._cached if c.depth <= target.depth]
        keras = self._keras
        if sources:
            source = max(sources, key=lambda c: c.depth)
            inputs = source.tensor
            train_in = self._cached[source].train
            val_in = self._cached[source].validation
        else:
            inputs = self._model.inputs[0]
            train_in, val_in = self._images, self._validation_images
        submodel = keras.Model(inputs=inputs, outputs=target.tensor)
        outputs, storage = self._allocate_cut(target, (train_in, val_in))
        for source, out in zip((train_in, val_in), outputs):
            if source is not None:
                _forward_in_batches(keras, submodel, source, out, self._batch_size)
        self._cached[target] = _Cached(*outputs, storage)
        self._from_store.discard(target)

    def _fill_from_store(self, target):
        parts = [p for p in (self._images, self._validation_images) if p is not None]
        if self._digests is None:
            self._digests = [image_digests(part) for part in parts]
        outputs, storage = self._allocate_cut(
            target, (self._images, self._validation_images)
        )
        self._report.add(
            self._store.fill(
                self._keras,
                self._model,
                target,
                parts,
                [out for out in outputs if out is not None],
                self._digests,
                sources=[c for c in self._store_sources if c.depth < target.depth],
                batch_size=self._batch_size,
            )
        )
        self._cached[target] = _Cached(*outputs, storage)
        self._from_store.add(target)

    def _allocate_cut(self, cut, sources):
        """Arrays for ``cut``'s activations of each source (None stays None)."""
        shape = tuple(int(d) for d in cut.tensor.shape[1:])
        dtype = activation_dtype(cut.tensor.dtype)
        n_rows = sum(source.shape[0] for source in sources if source is not None)
        n_bytes = n_rows * math.prod(shape) * np.dtype(dtype).itemsize
        storage = self._storage
        if storage == "auto":
            limit = resolve_memory_limit(IN_MEMORY_LIMIT_BYTES)
            storage = "memory" if n_bytes <= limit else "disk"
        outputs = [
            None
            if source is None
            else allocate_activations(
                (source.shape[0], *shape),
                dtype,
                storage,
                self._temporary_directory,
                f"{cut.name}-{part}",
            )
            for part, source in zip(("train", "validation"), sources)
        ]
        return outputs, storage

    def _temporary_directory(self):
        if self._directory is None:
            self._directory = tempfile.mkdtemp(prefix="mammoclf-activations-")
        return self._directory


def stream_batches(keras, X, y, sample_weight, *, batch_size, shuffle, seed):
    """A ``keras.utils.PyDataset`` reading ``(X, y, sample_weight)`` batches.

    Keras's array path copies a whole NumPy array into the backend before
    training (TensorFlow's ``from_tensors``), which would load a
    memory-mapped cache back into memory; this reads one batch at a time.
    With ``shuffle``, every epoch visits the samples in a new order drawn
    from ``seed``; rows of a batch are read in file order.
    """
    return _batch_stream_class(keras)(
        X, y, sample_weight, batch_size=batch_size, shuffle=shuffle, seed=seed
    )


@functools.cache
def _batch_stream_class(keras):
    class BatchStream(SeededBatches, keras.utils.PyDataset):
        def __init__(self, X, y, sample_weight, *, batch_size, shuffle, seed):
            keras.utils.PyDataset.__init__(self)
            SeededBatches.__init__(
                self,
                X,
                y,
                sample_weight,
                batch_size=batch_size,
                shuffle=shuffle,
                seed=seed,
                rows_in_file_order=True,
            )

    return BatchStream
