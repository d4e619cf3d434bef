"""A per-process pool of compiled Keras networks whose traced steps fits reuse.

On the TensorFlow backend every new Keras model traces its train step (and
its validation step) again, and a grid search or a cross-validated study
fits the same network many times. A fit whose network and training
configuration match a pooled, compiled network (:func:`network_key`) trains
that network instead: it copies the fresh network's initial variables and
its fresh optimizer's variables (iterations, moments, learning rate) into
it, trains it with the already traced step, and copies the trained
variables back into its own network. The numbers are those of the fresh
network, bit for bit: only the Python-side trace is saved.

The pool is a module global, never an attribute of an estimator, so a
pickled estimator carries none; each process (loky or Dask worker) has its
own, and a forked child starts with an empty one. A pooled network serves
one fit at a time: it is checked out for the fit and returned after it.

It keeps at most :data:`POOL_SIZE` idle networks, and gives way to memory
under mammoclf's one memory policy (:mod:`mammoclf.storage`): that policy
lets an array take up to :data:`~mammoclf.storage.DEFAULT_MEMORY_FRACTION`
of physical memory, so while less than that is available, the pool drops
idle networks, least recently used first (a dropped network costs a trace
later, never a result).
"""

import gc
import hashlib
import json
import os
import threading
from collections import OrderedDict
from contextlib import contextmanager

from mammoclf.storage import DEFAULT_MEMORY_FRACTION, physical_memory_bytes

__all__ = [
    "POOL_SIZE",
    "TracePool",
    "available_memory_bytes",
    "copy_variables",
    "memory_floor_bytes",
    "network_key",
    "trace_pool",
]

#: Networks the pool keeps, least recently used dropped first.
POOL_SIZE = 4


def available_memory_bytes():
    """Memory available to new allocations on this machine, in bytes."""
    import psutil

    return int(psutil.virtual_memory().available)


def memory_floor_bytes():
    """Available memory below which the pool drops idle networks, in bytes."""
    return int(DEFAULT_MEMORY_FRACTION * physical_memory_bytes())


class TracePool:
    """Compiled networks by :func:`network_key`, least recently used dropped first.

    Parameters
    ----------
    size : int
        Most networks kept idle at once (a network checked out by a fit is
        not counted until it is returned).
    """

    def __init__(self, size=POOL_SIZE):
        self.size = size
        self._lock = threading.Lock()
        self._idle = OrderedDict()  # (key, serial) -> model, oldest first
        self._serial = 0

    def __len__(self):
        with self._lock:
            return len(self._idle)

    def clear(self):
        with self._lock:
            self._idle.clear()

    def _take(self, key):
        with self._lock:
            for entry in reversed(self._idle):
                if entry[0] == key:
                    return self._idle.pop(entry)
            return None

    def _give_back(self, key, model):
        with self._lock:
            self._serial += 1
            self._idle[(key, self._serial)] = model
            while len(self._idle) > self.size:
                self._idle.popitem(last=False)

    def _relieve_memory(self):
        """Drop idle networks, oldest first, while memory is under the floor."""
        floor = memory_floor_bytes()
        while available_memory_bytes() < floor:
            with self._lock:
                if not self._idle:
                    return
                self._idle.popitem(last=False)
            gc.collect()  # Keras models hold reference cycles

    @contextmanager
    def checkout(self, key, build):
        """Lend the pooled network for ``key`` (``build()`` one if none is idle).

        The network goes back to the pool when the block ends normally; a
        fit that fails or is interrupted may leave it mid-step, so it is
        dropped instead. Before a build and after a return, idle networks
        give way while memory is tight (see the module's docstring).
        """
        model = self._take(key)
        if model is None:
            self._relieve_memory()
            model = build()
        yield model
        self._give_back(key, model)
        self._relieve_memory()


_POOL = TracePool()


def trace_pool():
    """This process's :class:`TracePool`."""
    return _POOL


def _reset_after_fork():
    # A forked child must not share networks a parent's thread may be training.
    global _POOL
    _POOL = TracePool()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def network_key(model, *, jit_compile):
    """A digest of everything that shapes ``model``'s traced train step, or None.

    ``model`` is compiled, with its optimizer built. The key covers the
    architecture (the model's config with layer names replaced by their
    position and initializer/dropout seeds left out: the fit copies every
    variable, seed-generator states included), the shapes and dtypes of the
    model's and the optimizer's variables, which of the model's variables
    train (a stage of a staged fit that unfreezes other layers traces
    another step), the dtype policies (inside the
    layer configs), the optimizer's class and config other than its
    learning rate (a variable the fit sets), the loss, the metrics and
    ``jit_compile``. None if a part has no config (a custom layer without
    ``get_config``): such a network is never pooled.
    """
    try:
        names = {layer.name: f"#{index}" for index, layer in enumerate(model.layers)}
        names[model.name] = "#model"
        compiled = dict(model.get_compile_config())
        optimizer = dict(compiled.pop("optimizer"))
        optimizer["config"] = {
            k: v
            for k, v in optimizer["config"].items()
            if k not in {"learning_rate", "name"}
        }
        parts = {
            "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
            "architecture": _anonymous(model.get_config(), names),
            "variables": _shapes(model.variables),
            "trainable": _trainable_positions(model),
            "optimizer": optimizer,
            "optimizer_variables": _shapes(model.optimizer.variables),
            "compiled": compiled,
            "jit_compile": repr(jit_compile),
        }
        text = json.dumps(parts, sort_keys=True, default=repr)
    except (NotImplementedError, TypeError, ValueError, AttributeError, KeyError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def _shapes(variables):
    return [[list(v.shape), str(v.dtype)] for v in variables]


def _trainable_positions(model):
    """Positions in ``model.variables`` of the variables the train step updates."""
    trainable = {id(v) for v in model.trainable_variables}
    return [i for i, v in enumerate(model.variables) if id(v) in trainable]


def _anonymous(config, names):
    """``config`` with layer names replaced by positions and seeds dropped."""
    if isinstance(config, dict):
        return {k: _anonymous(v, names) for k, v in config.items() if k != "seed"}
    if isinstance(config, (list, tuple)):
        return [_anonymous(v, names) for v in config]
    if isinstance(config, str):
        return names.get(config, config)
    return config


def copy_variables(source, target):
    """Assign each of ``source``'s variables to ``target``'s, in order."""
    if len(source) != len(target):
        raise RuntimeError(
            f"Cannot copy {len(source)} variables into {len(target)}: the pooled "
            "network does not match; turn reuse off with "
            "mammoclf.set_config(reuse_traces=False)."
        )
    for src, dst in zip(source, target):
        dst.assign(src)
