"""How a transfer fit shares work with the other fits of a study.

:class:`~mammoclf.classifiers.TransferClassifier` reads the output of its
frozen backbone part from the study-wide store of
:mod:`mammoclf.classifiers._activation_store` when one is active. This module
holds what that needs and the estimator does not: the network's cuts with
the layers below each (what the store keys on), predictions from stored
activations through the layers above the deepest untrained cut, and the
identity of a frozen backbone that head-only fits may share.
"""

import hashlib
import os
import weakref

import numpy as np

from mammoclf.classifiers._activation_store import image_digests
from mammoclf.classifiers._backbones import HEAD, STEM
from mammoclf.classifiers._frozen_features import Cut
from mammoclf.classifiers._transfer_network import block_layers, block_start_tensors
from mammoclf.storage import activation_dtype
from mammoclf.utils._keras import fresh_model_retracing_muted

__all__ = [
    "backbone_identity",
    "block_cuts",
    "deepest_untrained_cut",
    "predict_from_store",
]

# Fitted model -> its cuts and the networks above them, built once.
_NETWORK_PARTS = weakref.WeakKeyDictionary()
# (path, size, mtime) of a weights file -> SHA-256 of its content.
_FILE_DIGESTS = {}


def block_cuts(model, blocks, description):
    """Each block's entry :class:`Cut`, with every layer below it.

    "Below" includes the input and preprocessing layers, which belong to no
    block: a store must key on them too.
    """
    order, depth = description.order, description.depth
    above = {}
    for name in reversed(order):
        higher = order[depth[name] + 1] if name != HEAD else None
        above[name] = {id(layer) for layer in blocks[name]} | above.get(higher, set())
    return {
        name: Cut(
            name,
            depth[name],
            tensor,
            tuple(layer for layer in model.layers if id(layer) not in above[name]),
        )
        for name, tensor in block_start_tensors(blocks).items()
    }


def deepest_untrained_cut(stages, description):
    """The cut entering the lowest block any stage trained; None for the stem.

    Below it the network is as initialised, so its output for an image is
    what a study-wide store holds.
    """
    trained = [block for stage in stages for block in stage["trainable_blocks"]]
    if not trained:
        return None
    lowest = min(trained, key=description.depth.__getitem__)
    return None if lowest == STEM else lowest


def predict_from_store(keras, store, model, stages, X, *, description, batch_size):
    """Logits of ``model`` for ``X`` from stored activations, or None.

    Reads (or computes into ``store``) the activations at the deepest
    untrained cut of a model fitted in ``stages`` and runs only the layers
    above it. None when every block trained.
    """
    cut_name = deepest_untrained_cut(stages, description)
    if cut_name is None:
        return None
    parts = _NETWORK_PARTS.get(model)
    if parts is None:
        parts = _NETWORK_PARTS[model] = {
            "cuts": block_cuts(model, block_layers(model, description), description),
            "tops": {},
        }
    cut = parts["cuts"][cut_name]
    shape = (X.shape[0], *(int(d) for d in cut.tensor.shape[1:]))
    activations = np.empty(shape, activation_dtype(cut.tensor.dtype))
    # Every fitted model brings new sub-networks, traced once each, as in fit.
    with fresh_model_retracing_muted():
        store.fill(
            keras,
            model,
            cut,
            [X],
            [activations],
            [image_digests(X)],
            sources=[c for c in parts["cuts"].values() if c.depth < cut.depth],
            batch_size=batch_size,
        )
        top = parts["tops"].get(cut_name)
        if top is None:
            top = parts["tops"][cut_name] = keras.Model(cut.tensor, model.outputs[0])
        if X.shape[0] <= batch_size:
            logits = top(activations, training=False)
            return np.asarray(keras.ops.convert_to_numpy(logits))
        return np.asarray(top.predict(activations, batch_size=batch_size, verbose=0))


def backbone_identity(keras, *, backbone, weights, seed, input_shape, resize_to):
    """Everything that determines a backbone's layers and weights, as a key.

    The weights enter as ``("random", seed)``, ``("imagenet",)`` (Keras
    checks the download's hash) or the SHA-256 of a weights file. None for
    a path that is no file: the normal build then raises its explanatory
    error. Call it under the fit's dtype policy.
    """
    if weights is None:
        weights_key = ("random", int(seed))
    elif weights == "imagenet":
        weights_key = ("imagenet",)
    elif os.path.isfile(weights):
        weights_key = ("file", _file_digest(weights))
    else:
        return None
    return (
        keras.backend.backend(),
        keras.config.dtype_policy().name,
        backbone,
        weights_key,
        tuple(int(d) for d in input_shape),
        None if resize_to is None else tuple(int(d) for d in resize_to),
    )


def _file_digest(path):
    """SHA-256 of a weights file, computed once per (path, size, mtime)."""
    path = os.path.realpath(os.fspath(path))
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _FILE_DIGESTS[key] = digest.hexdigest()
    return _FILE_DIGESTS[key]
