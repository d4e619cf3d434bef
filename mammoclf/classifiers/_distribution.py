"""Data-parallel training of one Keras model on all the devices of one machine.

``distribution="data_parallel"`` on the Keras image classifiers trains one
model replica per device, each on an equal share of every batch, with the
gradients averaged across replicas after each step:

- JAX backend: ``keras.distribution.DataParallel`` over the devices Keras
  lists (Keras 3's distribution API; the model's variables are replicated,
  the batch is sharded along its first axis);
- TensorFlow backend: ``tf.distribute.MirroredStrategy`` over the same
  devices (Keras 3's TensorFlow trainer distributes ``fit``/``predict``
  through the strategy a model was built in).

Other backends (torch, numpy, openvino) raise
:class:`~mammoclf.exceptions.BackendNotSupportedError`.

Every batch must split evenly across the replicas (JAX refuses uneven
shards; TensorFlow would average the replicas' means of unequal shares,
which weighs the images of the last, partial batch unequally). So
``batch_size`` must be a multiple of the device count, and the training and
validation batches are fed through :func:`data_parallel_inputs`: a partial
last batch is padded to the full ``batch_size`` with copies of its first
rows at sample weight 0, and its real rows' weights are scaled by
``batch_size / real size``. Keras's ``"sum_over_batch_size"`` loss then
equals that of the unpadded batch, so every step computes the same update
as on one device. The batch order is drawn from the fit's seed, and every
batch has ``batch_size`` rows, whatever the device count:
``"data_parallel"`` gives the same model and the same ``history_`` (up to
floating-point summation order) on one device as on eight. (Keras averages
the per-batch losses of ``history_`` weighted by batch size, so there a
padded batch counts as a full one; the training itself is unaffected. A
full-size last batch also spares JAX a second compilation of the step.)

This module is backend-specific by design (it imports TensorFlow on the
TensorFlow backend), which is why it lives in ``mammoclf.utils`` next to the
other process-wide Keras plumbing and not among the backend-agnostic model
code of ``mammoclf.classifiers``.
"""

import contextlib
import contextvars
import functools
import math
import warnings

import numpy as np

from mammoclf.classifiers._batches import SeededBatches
from mammoclf.exceptions import BackendNotSupportedError

__all__ = [
    "DATA_PARALLEL",
    "data_parallel_devices",
    "data_parallel_inputs",
    "distribution_scope",
]

DATA_PARALLEL = "data_parallel"
SUPPORTED_BACKENDS = ("jax", "tensorflow")

# The feed of the data-parallel fit running in this thread (or asyncio task):
# a context variable, so that concurrent fits in joblib threads do not mix.
_active_feed = contextvars.ContextVar("mammoclf_data_parallel_feed", default=None)


def data_parallel_devices(keras):
    """The devices ``"data_parallel"`` trains on, as Keras names them.

    All GPUs (or TPUs) Keras lists; on a machine without any, all CPU
    devices: one, unless several logical CPU devices were configured (JAX's
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N``, TensorFlow's
    ``tf.config.set_logical_device_configuration``), which is how the
    option is tested without accelerators. Restrict the GPUs with
    ``CUDA_VISIBLE_DEVICES``.

    Parameters
    ----------
    keras : module

    Returns
    -------
    devices : list of str
        E.g. ``["gpu:0", "gpu:1"]``.
    """
    return [str(device) for device in keras.distribution.list_devices()]


def check_backend(keras, estimator_name):
    """Raise :class:`BackendNotSupportedError` if the backend cannot train data-parallel."""
    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise BackendNotSupportedError(
            f"{estimator_name}(distribution={DATA_PARALLEL!r}) needs the JAX or "
            f"TensorFlow Keras backend; the active backend is {backend!r}, for "
            "which Keras has no data-parallel training. Set KERAS_BACKEND=jax or "
            "KERAS_BACKEND=tensorflow before importing Keras, or use "
            "distribution=None (one device)."
        )
    return backend


@contextlib.contextmanager
def distribution_scope(distribution, *, keras, batch_size, seed, estimator_name):
    """Build, compile and train the model of one fit inside this context.

    With ``distribution=None`` this does nothing. With ``"data_parallel"``
    it checks the backend and ``batch_size``, warns when there is only one
    device (training then runs on it, through the same padded batches, so
    the result equals a multi-device run's), and enters the backend's
    data-parallel scope.

    Parameters
    ----------
    distribution : None or "data_parallel"
    keras : module
    batch_size : int
        Global batch size; must be a multiple of the device count.
    seed : int
        Seeds the batch order of :func:`data_parallel_inputs`.
    estimator_name : str
        For messages.

    Yields
    ------
    devices : list of str or None
        The devices training runs on; None without ``distribution``.

    Raises
    ------
    BackendNotSupportedError
        On a backend other than JAX and TensorFlow.
    ValueError
        If ``batch_size`` is not a multiple of the device count.
    """
    if distribution is None:
        yield None
        return
    backend = check_backend(keras, estimator_name)
    devices = data_parallel_devices(keras)
    if batch_size % len(devices):
        raise ValueError(
            f"{estimator_name}(distribution={DATA_PARALLEL!r}) splits every "
            f"batch evenly across the {len(devices)} devices {devices}, but "
            f"batch_size={batch_size} is not a multiple of {len(devices)}. Use "
            f"batch_size={_next_multiple(batch_size, len(devices))}, or limit "
            "the devices (e.g. CUDA_VISIBLE_DEVICES)."
        )
    if len(devices) == 1:
        warnings.warn(
            f"{estimator_name}(distribution={DATA_PARALLEL!r}) found a single "
            f"device ({devices[0]}); training runs on it alone, with the "
            "batches data-parallel training would use.",
            UserWarning,
            stacklevel=5,  # distribution_scope, contextlib, _fit, fit, caller
        )
    token = _active_feed.set(_Feed(batch_size=batch_size, seed=seed))
    try:
        with _backend_scope(keras, backend, devices):
            yield devices
    finally:
        _active_feed.reset(token)


def _backend_scope(keras, backend, devices):
    if len(devices) == 1:
        return contextlib.nullcontext()
    if backend == "jax":
        return keras.distribution.DataParallel(devices=devices).scope()
    return _mirrored_strategy(tuple(devices)).scope()


@functools.cache
def _mirrored_strategy(devices):
    """One ``MirroredStrategy`` per device set and process, reused by every fit.

    A strategy numbers its all-reduce collectives from the same start, so the
    collectives of a second strategy in the process collide with the first's
    in TensorFlow's collective runtime ("Shape mismatch in the collective
    instance"); a single strategy keeps numbering on.
    """
    import tensorflow as tf  # the TensorFlow backend is active: already imported

    # Keras names devices "gpu:0"; TensorFlow wants "/gpu:0".
    return tf.distribute.MirroredStrategy(devices=[f"/{d}" for d in devices])


class _Feed:
    """Global batch size and seeds of the data-parallel fit in progress."""

    def __init__(self, *, batch_size, seed):
        self.batch_size = batch_size
        self._seed = seed
        self._n_fit_calls = 0

    def next_seed(self):
        # One batch order per ``model.fit`` call (per training stage).
        self._n_fit_calls += 1
        return self._seed + self._n_fit_calls


def data_parallel_inputs(keras, fit_inputs):
    """Adapt ``model.fit`` keyword arguments to the data-parallel fit in progress.

    Outside :func:`distribution_scope` with ``"data_parallel"``, returns
    ``fit_inputs`` unchanged. Inside, the training and validation data
    (arrays with ``batch_size`` and ``shuffle``, or ``keras.utils.PyDataset``
    objects yielding ``(x, y, sample_weight)``) become PyDatasets whose
    batches split evenly across the replicas (see the module docstring).

    Parameters
    ----------
    keras : module
    fit_inputs : dict
        ``x`` and optionally ``y``, ``sample_weight``, ``validation_data``,
        ``batch_size``, ``shuffle``, as for ``keras.Model.fit``.

    Returns
    -------
    fit_inputs : dict
    """
    feed = _active_feed.get()
    if feed is None:
        return fit_inputs
    even_batches = _even_batches_class(keras)
    x = fit_inputs["x"]
    if isinstance(x, keras.utils.PyDataset):
        train = x
    else:
        if fit_inputs.get("sample_weight") is None:
            raise ValueError("data-parallel training needs explicit sample weights")
        train = SeededBatches(
            x,
            fit_inputs["y"],
            fit_inputs["sample_weight"],
            batch_size=fit_inputs["batch_size"],
            shuffle=fit_inputs.get("shuffle", True),
            seed=feed.next_seed(),
        )
    # shuffle=False: the rows are shuffled already, and Keras would reorder
    # the batches from random draws that differ between device counts.
    adapted = {"x": even_batches(train, batch_size=feed.batch_size), "shuffle": False}
    validation = fit_inputs.get("validation_data")
    if validation is not None:
        if not isinstance(validation, keras.utils.PyDataset):
            X_val, y_val, w_val = validation
            validation = SeededBatches(
                X_val,
                y_val,
                w_val,
                batch_size=fit_inputs["batch_size"],
                shuffle=False,
                seed=0,
            )
        adapted["validation_data"] = even_batches(
            validation, batch_size=feed.batch_size
        )
    return adapted


def pad_batch(x, y, sample_weight, n_padded):
    """Pad a batch to ``n_padded`` rows without changing its loss.

    Padding rows copy the batch's first rows at weight 0; the real rows'
    weights are scaled by ``n_padded / real size``, so a loss averaged over
    the batch's rows (Keras's ``"sum_over_batch_size"``) is unchanged.

    Returns
    -------
    x, y, sample_weight : ndarray
    """
    n_rows = x.shape[0]
    if n_padded == n_rows:
        return x, y, sample_weight
    copies = np.arange(n_padded - n_rows) % n_rows
    scale = np.float32(n_padded / n_rows)
    weights = np.concatenate(
        [
            np.asarray(sample_weight, dtype=np.float32) * scale,
            np.zeros(copies.size, dtype=np.float32),
        ]
    )
    return (
        np.concatenate([x, x[copies]]),
        np.concatenate([y, y[copies]]),
        weights,
    )


def _next_multiple(value, factor):
    return math.ceil(value / factor) * factor


@functools.cache
def _even_batches_class(keras):
    class EvenBatches(keras.utils.PyDataset):
        """The batches of ``source``, each padded to ``batch_size`` rows by :func:`pad_batch`."""

        def __init__(self, source, *, batch_size):
            super().__init__()
            self._source = source
            self._batch_size = batch_size

        def __len__(self):
            return len(self._source)

        def __getitem__(self, index):
            x, y, sample_weight = self._source[index]
            return pad_batch(
                np.asarray(x),
                np.asarray(y),
                np.asarray(sample_weight),
                self._batch_size,
            )

        def on_epoch_end(self):
            self._source.on_epoch_end()

    return EvenBatches
