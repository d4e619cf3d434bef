"""Lazy Keras access and the few process-wide Keras settings we must touch.

Importing Keras (and with it TensorFlow) costs seconds and hundreds of MB, so
no mammoclf module imports it at import time: estimators call
:func:`import_keras` inside ``fit``/``predict``.

Keras is imported once per call chain: a public entry point (``fit``,
``predict``, ``grad_cam``, ``save``/``load``, unpickling) calls
:func:`import_keras`, and every helper below it takes ``keras`` as its
first parameter instead of importing it again.
"""

import contextlib
import io
import logging
import os
import random
import sys
import tempfile
import zipfile

import numpy as np

from mammoclf.utils._quiet import quiet_keras_import

__all__ = [
    "dtype_policy_scope",
    "fresh_model_retracing_muted",
    "import_keras",
    "keras_seed",
    "model_from_bytes",
    "model_to_bytes",
]

_MIN_KERAS_MAJOR = 3


def import_keras():
    """Import and return Keras 3, with an actionable error when it is missing.

    Returns
    -------
    keras : module
    """
    try:
        # Quiet: the framework's start-up log lines would bury mammoclf's output.
        keras = quiet_keras_import()
    except ImportError as exc:  # pragma: no cover - tensorflow is a dependency
        raise ImportError(
            "mammoclf needs Keras 3 with a backend. Install it with "
            "`pip install tensorflow` (or set KERAS_BACKEND=jax/torch with "
            "that framework installed)."
        ) from exc
    major = int(keras.__version__.split(".")[0])
    if major < _MIN_KERAS_MAJOR:  # pragma: no cover - guarded by pyproject
        raise ImportError(
            f"mammoclf needs Keras >= 3, found {keras.__version__}; "
            "`pip install -U keras`."
        )
    return keras


@contextlib.contextmanager
def keras_seed(keras, seed, *, keep_compiled_kernels=False):
    """Seed Keras and its backend for one fit, leaving NumPy/Python RNGs as found.

    ``keras.utils.set_random_seed`` also reseeds Python's ``random`` and
    NumPy's global generator; a library must not change its caller's global
    random streams as a side effect of ``fit``, so both are restored on exit.
    The backend's own seed (e.g. TensorFlow's global seed) stays set: it only
    drives Keras-internal randomness and is reseeded by every ``fit``.

    Parameters
    ----------
    keras : module
    seed : int
        Seed in ``[0, 2**31 - 1)``.
    keep_compiled_kernels : bool, default=False
        Set TensorFlow's global seed without clearing its eager context's
        caches. ``tf.random.set_seed`` clears them so that a stateful random
        op seeded explicitly restarts its stream; Keras 3's random ops are
        stateless and never need that, and the clearing makes the next call
        of every traced function instantiate its graph again (about 0.3 s
        for a small CNN's train step on 2 cores), which is what a fit that
        reuses a traced step (``reuse_traces``) is there to avoid. The seed
        itself, and so every seed derived from it, is the same either way.
    """
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    try:
        _set_keras_seed(keras, int(seed), keep_compiled_kernels)
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _set_keras_seed(keras, seed, keep_compiled_kernels=False):
    """``keras.utils.set_random_seed``, without importing an unused TensorFlow.

    ``set_random_seed`` imports TensorFlow whenever it is installed, to seed
    ``tf.data`` pipelines. On the JAX and torch backends mammoclf feeds no
    such pipeline, and that import costs ~5 s and ~500 MB in every process
    (each Dask or joblib worker included), so there the seeding is done here
    (and on TensorFlow too when its compiled kernels are kept, see
    :func:`keras_seed`).
    """
    backend = keras.backend.backend()
    uses_tensorflow = backend == "tensorflow" or "tensorflow" in sys.modules
    if uses_tensorflow and not keep_compiled_kernels:
        keras.utils.set_random_seed(seed)
        return
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils
    except ImportError:  # Keras moved its internals: same seeding, slower
        keras.utils.set_random_seed(seed)
        return

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    # Dropped so that Keras recreates its global SeedGenerator from the seed.
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if uses_tensorflow:
        _set_tensorflow_seed_keeping_kernels(seed)
    if backend == "torch":
        import torch

        torch.manual_seed(seed)


def _set_tensorflow_seed_keeping_kernels(seed):
    """``tf.random.set_seed(seed)`` in eager mode, minus its clearing of caches.

    In eager mode ``set_seed`` stores the seed and a ``random.Random(seed)``
    (which draws the seeds of ops given none) in the eager context, then
    clears the context's caches; this stores the same two.
    """
    import tensorflow as tf
    from tensorflow.python.eager import context

    eager = context.context()
    if not (
        tf.executing_eagerly() and hasattr(eager, "_seed") and hasattr(eager, "_rng")
    ):  # pragma: no cover - graph mode, or TensorFlow moved its internals
        tf.random.set_seed(seed)
        return
    eager._seed = seed
    eager._rng = random.Random(seed)


class _FreshModelRetracingFilter(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warnings.

    TensorFlow counts traces across models and, after five, warns that
    functions are being re-created in a loop. Every mammoclf fit builds a
    new model by design (a grid search fits dozens), so each fit's first
    trace is expected and the warning would only tell users to fix nothing.
    """

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def fresh_model_retracing_muted():
    """Mute TensorFlow's retracing warning while mammoclf fits or predicts.

    Only this warning, only inside the ``with`` block, and only on the
    ``tensorflow`` logger: other TensorFlow warnings still reach the user.
    """
    logger = logging.getLogger("tensorflow")
    retracing_filter = _FreshModelRetracingFilter()
    logger.addFilter(retracing_filter)
    try:
        yield
    finally:
        logger.removeFilter(retracing_filter)


@contextlib.contextmanager
def dtype_policy_scope(keras, policy):
    """Temporarily set Keras's global dtype policy while a model is built.

    Layers capture the policy at construction, so the global setting is only
    needed while building (``keras.applications`` models take no ``dtype``
    argument). The previous policy is restored afterwards.

    Parameters
    ----------
    keras : module
    policy : str
        ``"float32"``, ``"mixed_bfloat16"`` or ``"mixed_float16"``.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def model_to_bytes(model):
    """Serialise a Keras model to the bytes of a ``.keras`` archive.

    The ``.keras`` format stores architecture as JSON and weights as HDF5;
    loading it with ``safe_mode=True`` executes no code.
    """
    with tempfile.TemporaryDirectory(prefix="mammoclf-") as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as handle:
            return handle.read()


def model_from_bytes(keras, data):
    """Rebuild a Keras model from :func:`model_to_bytes` output (safe mode).

    The model is compiled as it was saved, with its optimizer's state, so
    that saving it again writes what the original save wrote.
    """
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ValueError("not a .keras archive: the saved model bytes are corrupt")
    with tempfile.TemporaryDirectory(prefix="mammoclf-") as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as handle:
            handle.write(data)
        return keras.saving.load_model(path, compile=True, safe_mode=True)
