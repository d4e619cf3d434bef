"""What identifies a frozen network part's activations: digests of layers, cuts and images.

The key of a stored activation is computed from content, never from names:

- the cut: its name, shape and dtype;
- every layer below it, in order: class, configuration (which holds the
  input size, the resizing, the normalisation constants and the dtype
  policy) and the values of all its weights (which identify the weights
  file, ``"imagenet"`` or the random seed exactly);
- the Keras version and backend;
- the image: a BLAKE2 digest of its pixel values.

So a fit whose frozen part differs in any number gets another key. Layers
below a cut must hold no trainable weights and no stochastic layers
(dropout, noise, random augmentation, BatchNormalization in training mode):
:func:`cut_key` refuses them. Layer digests are cached while a layer is
frozen; :func:`forget_layer_digests` drops them before it trains.
"""

import hashlib
import json
import weakref

import numpy as np

__all__ = [
    "DIGEST_DTYPE",
    "cut_key",
    "forget_layer_digests",
    "image_digests",
    "stochastic_layers",
]

_FORMAT_VERSION = 1
_DIGEST_BYTES = 16
#: Image digests are raw bytes (``S16`` would drop trailing zero bytes).
DIGEST_DTYPE = np.dtype(f"V{_DIGEST_BYTES}")
# Layer classes whose output depends on ``training`` or on randomness.
_STOCHASTIC_PREFIXES = (
    "Dropout",
    "SpatialDropout",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "Random",
)
_CONFIG_KEYS_IGNORED = ("name", "trainable")
# Layer -> digest of its configuration and weights, valid while it is frozen.
_LAYER_DIGESTS = weakref.WeakKeyDictionary()


def stochastic_layers(layers):
    """Names of the layers that behave randomly or differently in training."""
    return [
        layer.name
        for layer in layers
        if (
            type(layer).__name__.startswith(_STOCHASTIC_PREFIXES)
            # A transfer backbone's dropout is turned off (rate 0): identity.
            and getattr(layer, "rate", None) != 0
        )
        or (type(layer).__name__ == "BatchNormalization" and layer.trainable)
    ]


def image_digests(images):
    """One 16-byte BLAKE2 digest of the pixel values of each image.

    Returns
    -------
    digests : ndarray of shape (n_images,), dtype ``V16``
        Raw bytes (``S16`` would drop trailing zero bytes).
    """
    images = np.ascontiguousarray(images)
    digests = np.empty(images.shape[0], dtype=DIGEST_DTYPE)
    for index in range(images.shape[0]):
        digests[index] = hashlib.blake2b(
            memoryview(images[index]).cast("B"), digest_size=_DIGEST_BYTES
        ).digest()
    return digests


def forget_layer_digests(layers):
    """Drop cached digests of ``layers``: they are about to train."""
    for layer in layers:
        _LAYER_DIGESTS.pop(layer, None)


def _layer_digest(keras, layer):
    digest = _LAYER_DIGESTS.get(layer)
    if digest is None:
        config = {
            k: v for k, v in layer.get_config().items() if k not in _CONFIG_KEYS_IGNORED
        }
        hasher = hashlib.blake2b(digest_size=_DIGEST_BYTES)
        hasher.update(type(layer).__name__.encode())
        hasher.update(json.dumps(config, sort_keys=True, default=repr).encode())
        for weight in layer.weights:
            values = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
            hasher.update(f"{values.dtype.str}{values.shape}".encode())
            hasher.update(memoryview(values).cast("B"))
        digest = hasher.digest()
        _LAYER_DIGESTS[layer] = digest
    return digest


def _frozen_layers(keras, model, cut):
    """The layers computing ``cut.tensor`` from the model's input."""
    below = getattr(cut, "below", ())
    if below:
        return list(below)
    return list(keras.Model(model.inputs, cut.tensor).layers)


def _check_frozen(layers, cut):
    trainable = [layer.name for layer in layers if layer.trainable_weights]
    stochastic = stochastic_layers(layers)
    if trainable or stochastic:
        raise ValueError(
            f"Cannot share activations at cut {cut.name!r}: below it, layers "
            f"{trainable} have trainable weights and layers {stochastic} behave "
            "differently in training; their output is not a fixed function of "
            "the image."
        )


def cut_key(keras, model, cut):
    """Hex digest identifying the function that computes ``cut`` from an image."""
    layers = _frozen_layers(keras, model, cut)
    _check_frozen(layers, cut)
    hasher = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    header = {
        "format": _FORMAT_VERSION,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "cut": cut.name,
        "shape": [None if d is None else int(d) for d in cut.tensor.shape[1:]],
        "dtype": str(cut.tensor.dtype),
    }
    hasher.update(json.dumps(header, sort_keys=True).encode())
    for layer in layers:
        hasher.update(_layer_digest(keras, layer))
    return hasher.hexdigest()
