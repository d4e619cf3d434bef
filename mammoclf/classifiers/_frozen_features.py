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

Nothing here imports Keras at import time: functions take the ``keras``
module from :func:`mammoclf.utils._keras.import_keras`.
"""

import functools
import math
import os
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np

from mammoclf.utils._batches import SeededBatches

__all__ = [
    "IN_MEMORY_LIMIT_BYTES",
    "ActivationCache",
    "Cut",
    "stochastic_layers",
    "stream_batches",
]

#: Caches up to this size stay in memory with ``storage="auto"``; larger ones
#: are written to memory-mapped files in the temporary directory ($TMPDIR).
IN_MEMORY_LIMIT_BYTES = 1 << 30

# Up to this many batches, calling the model directly beats tracing a
# predict function (seconds for a DenseNet) for the few calls a cut needs.
_EAGER_MAX_BATCHES = 3

# Layer classes whose output depends on ``training`` or on randomness; a cut
# is only valid if none of them lies below it.
_STOCHASTIC_PREFIXES = (
    "Dropout",
    "SpatialDropout",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "Random",
)


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
    """

    name: str
    depth: int
    tensor: object


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
    """

    def __init__(self, keras, model, images, validation_images, *, batch_size, storage):
        self._keras = keras
        self._model = model
        self._images = images
        self._validation_images = validation_images
        self._batch_size = int(batch_size)
        self._storage = storage
        self._cached = {}  # Cut -> _Cached
        self._directory = None

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
        for cut in [c for c in self._cached if c.depth > depth]:
            del self._cached[cut]

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
        shape = tuple(int(d) for d in target.tensor.shape[1:])
        # bfloat16 activations are stored as float32, which holds them exactly.
        dtype = np.float16 if str(target.tensor.dtype) == "float16" else np.float32
        n_rows = train_in.shape[0] + (0 if val_in is None else val_in.shape[0])
        n_bytes = n_rows * math.prod(shape) * np.dtype(dtype).itemsize
        storage = self._storage
        if storage == "auto":
            storage = "memory" if n_bytes <= IN_MEMORY_LIMIT_BYTES else "disk"
        outputs = []
        for part, source in (("train", train_in), ("validation", val_in)):
            if source is None:
                outputs.append(None)
                continue
            rows = (source.shape[0], *shape)
            out = self._allocate(target, part, rows, dtype, storage)
            _forward_in_batches(keras, submodel, source, out, self._batch_size)
            outputs.append(out)
        self._cached[target] = _Cached(*outputs, storage)

    def _allocate(self, cut, part, shape, dtype, storage):
        if storage == "memory":
            return np.empty(shape, dtype=dtype)
        if self._directory is None:
            self._directory = tempfile.mkdtemp(prefix="mammoclf-activations-")
        path = os.path.join(self._directory, f"{cut.name}-{part}.npy")
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)


def _forward_in_batches(keras, submodel, source, out, batch_size):
    """Write ``submodel(source)`` (inference mode) into ``out``, batch by batch."""
    n_samples = source.shape[0]
    eager = math.ceil(n_samples / batch_size) <= _EAGER_MAX_BATCHES
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


def stochastic_layers(layers):
    """Names of the layers that behave randomly or differently in training."""
    return [
        layer.name
        for layer in layers
        if type(layer).__name__.startswith(_STOCHASTIC_PREFIXES)
        or (type(layer).__name__ == "BatchNormalization" and layer.trainable)
    ]


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
