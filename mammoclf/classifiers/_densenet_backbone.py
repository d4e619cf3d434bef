"""The DenseNet network of :class:`DenseNetTransferClassifier`: build, weights, blocks.

The network is one flat functional model (no nested sub-model): input
preprocessing, the ``keras.applications`` DenseNet layers built on our input
tensor (``input_tensor=``), then the head. Every layer is reachable from
``model.inputs``, so Grad-CAM can read the last feature map and the frozen
part below any block boundary can be cut out and cached. Only standard
Keras layers are used, so a fitted model saves and loads in safe mode on
every backend.
"""

import os
import re

from sklearn.utils._param_validation import StrOptions

from mammoclf.exceptions import WeightsUnavailableError
from mammoclf.utils._keras import import_keras
from mammoclf.utils._validation import validate_params

__all__ = [
    "BACKBONES",
    "BLOCKS",
    "GRAD_CAM_LAYER",
    "HEAD",
    "MIN_IMAGE_SIZE",
    "attach_head",
    "block_layers",
    "block_start_tensors",
    "build_backbone",
    "build_network",
    "copy_backbone_weights",
    "fetch_pretrained_weights",
    "pretrained_backbone",
    "weights_file_name",
]

#: Backbone name -> ``keras.applications`` constructor.
BACKBONES = {
    "densenet121": "DenseNet121",
    "densenet169": "DenseNet169",
    "densenet201": "DenseNet201",
}

#: Unfreezable backbone blocks from the input side to the top. Each dense
#: block owns the transition (``poolN``) after it, and ``conv5`` the final
#: BatchNormalization and ReLU, so every block boundary is a single tensor.
#: The stem (``conv1``, ``pool1``) only trains with ``unfreeze="all"``.
BLOCKS = ("conv2", "conv3", "conv4", "conv5")
STEM = "stem"
HEAD = "head"

#: The smallest input ``keras.applications`` DenseNets accept (five 2x
#: downsamplings).
MIN_IMAGE_SIZE = 32

#: DenseNet's last activation, the final convolutional feature map.
GRAD_CAM_LAYER = "relu"

# ImageNet statistics of DenseNet's "torch"-mode preprocessing; inputs are
# already in [0, 1], so the rescaling by 1/255 of ``preprocess_input`` is
# not needed.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

_PREPROCESSING_LAYERS = ("image", "resize", "grey_to_rgb", "imagenet_normalization")
_HEAD_LAYERS = ("head_dense", "head_dropout", "logits")
_BLOCK_NAME = re.compile(r"^(conv|pool)(\d)_")


def weights_file_name(backbone):
    """The file Keras downloads and caches for ``backbone``'s ImageNet weights."""
    return f"{backbone}_weights_tf_dim_ordering_tf_kernels_notop.h5"


def build_network(
    keras, *, backbone, input_shape, resize_to, dense_units, dropout, n_outputs, seed
):
    """Return the uncompiled flat model, with randomly initialised weights.

    Images in ``[0, 1]`` go in; the model resizes them (``resize_to``),
    repeats a grey channel three times and applies ImageNet normalisation
    before the DenseNet layers, then global average pooling, a dense layer,
    dropout and a float32 logits layer.
    """
    inputs, features = build_backbone(
        keras, backbone=backbone, input_shape=input_shape, resize_to=resize_to
    )
    return attach_head(
        keras,
        inputs,
        features,
        backbone=backbone,
        dense_units=dense_units,
        dropout=dropout,
        n_outputs=n_outputs,
        seed=seed,
    )


def build_backbone(keras, *, backbone, input_shape, resize_to):
    """Input and pooled DenseNet features: every layer below the head.

    Returns
    -------
    inputs, features : KerasTensor
    """
    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    # Preprocessing computes in float32 under a mixed policy too: it is cheap
    # and keeps normalised pixel values exact before the first convolution.
    if resize_to is not None:
        x = layers.Resizing(*resize_to, dtype="float32", name="resize")(x)
    if input_shape[-1] == 1:
        x = layers.Concatenate(axis=-1, dtype="float32", name="grey_to_rgb")([x, x, x])
    x = layers.Normalization(
        mean=list(_IMAGENET_MEAN),
        variance=[s**2 for s in _IMAGENET_STD],
        dtype="float32",
        name="imagenet_normalization",
    )(x)
    constructor = getattr(keras.applications, BACKBONES[backbone])
    features = constructor(include_top=False, weights=None, input_tensor=x).output
    return inputs, layers.GlobalAveragePooling2D(name="avg_pool")(features)


def attach_head(
    keras, inputs, features, *, backbone, dense_units, dropout, n_outputs, seed
):
    """The full model: the layers from ``inputs`` to ``features``, and a new head.

    The backbone's layers are used, not copied: models built on the same
    ``features`` share them.
    """
    layers = keras.layers
    x = layers.Dense(
        int(dense_units),
        activation="relu",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 100),
        name="head_dense",
    )(features)
    x = layers.Dropout(float(dropout), seed=seed + 101, name="head_dropout")(x)
    outputs = layers.Dense(
        n_outputs,
        dtype="float32",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 102),
        name="logits",
    )(x)
    return keras.Model(inputs, outputs, name=f"{backbone}_transfer")


def pretrained_backbone(keras, *, backbone, weights):
    """Return a stand-alone ``include_top=False`` DenseNet holding ``weights``.

    Keras does the work: its own download and cache for ``"imagenet"``, its
    own readers for both ``.h5`` layouts for a file. Called before our
    network is built, so unavailable weights fail fast; the layers are then
    copied by name (:func:`copy_backbone_weights`), which does not depend on
    the preprocessing layers in front of the backbone.

    Raises
    ------
    FileNotFoundError
        If ``weights`` is a path that does not exist.
    WeightsUnavailableError
        If the ImageNet weights cannot be downloaded or read, or the file
        does not hold this backbone's weights.
    """
    constructor = getattr(keras.applications, BACKBONES[backbone])
    input_shape = (MIN_IMAGE_SIZE, MIN_IMAGE_SIZE, 3)  # weights fit any size
    if weights == "imagenet":
        try:
            return constructor(
                include_top=False, weights="imagenet", input_shape=input_shape
            )
        except Exception as exc:  # download, hash check or HDF5 read
            raise WeightsUnavailableError(_imagenet_message(backbone, exc)) from exc
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"weights={path!r} is neither 'imagenet' nor an existing file. "
            f"Pass the path of {weights_file_name(backbone)} (or of weights "
            f"saved from keras.applications.{BACKBONES[backbone]}"
            "(include_top=False)), 'imagenet', or None."
        )
    try:
        return constructor(include_top=False, weights=path, input_shape=input_shape)
    except Exception as exc:
        raise WeightsUnavailableError(
            f"{path}: cannot load it as {BACKBONES[backbone]} weights without "
            f"the classification top ({type(exc).__name__}: {exc}). Expected "
            f"Keras's {weights_file_name(backbone)} or a file written by "
            f"save_weights() of keras.applications.{BACKBONES[backbone]}"
            "(include_top=False)."
        ) from exc


def copy_backbone_weights(source, model):
    """Copy each weighted layer of ``source`` into the same-named layer of ``model``."""
    for layer in source.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())


def _imagenet_message(backbone, exc):
    file_name = weights_file_name(backbone)
    cache = os.path.join(
        os.environ.get("KERAS_HOME", os.path.join("~", ".keras")), "models", file_name
    )
    return (
        f"Could not get the ImageNet weights of {backbone} "
        f"({type(exc).__name__}: {exc}). Keras downloads {file_name} once and "
        f"caches it in $KERAS_HOME/models/ (default ~/.keras/models/; here "
        f"{os.path.expanduser(cache)}). Without internet access, copy that file "
        "there from a machine that has it, or pass its path as "
        f"weights='/path/to/{file_name}', or use weights=None to train from a "
        "random initialisation. mammoclf never falls back to random weights "
        "on its own."
    )


def block_layers(model):
    """Map ``"stem"``, each of :data:`BLOCKS` and ``"head"`` to their layers.

    Layers are walked in topological order. Named DenseNet layers say their
    block (``conv4_block7_1_conv``, ``pool4_conv``); Keras leaves the stem's
    zero-padding layers unnamed, and they come before ``conv2``.
    """
    blocks = {name: [] for name in (STEM, *BLOCKS, HEAD)}
    current = STEM
    for layer in model.layers:
        if layer.name in _PREPROCESSING_LAYERS:
            continue
        if layer.name in _HEAD_LAYERS:
            blocks[HEAD].append(layer)
            continue
        match = _BLOCK_NAME.match(layer.name)
        if match and match.group(1) == "conv" and match.group(2) == "1":
            current = STEM
        elif match:
            current = f"conv{match.group(2)}"
        # Unnamed layers, the final "bn"/"relu" and "avg_pool" join the block
        # before them.
        blocks[current].append(layer)
    empty = [name for name, members in blocks.items() if not members]
    if empty:  # pragma: no cover - guards against a changed Keras layout
        raise RuntimeError(
            f"Unexpected DenseNet layout in this Keras version: no layers for "
            f"blocks {empty}."
        )
    return blocks


def block_start_tensors(blocks):
    """Map each block after the stem to the tensor entering it.

    The head's entry is the pooled feature vector; a block's is the output
    of the block below it (a transition's average pooling).
    """
    return {name: members[0].input for name, members in blocks.items() if name != STEM}


@validate_params(
    {
        "backbone": [StrOptions(set(BACKBONES))],
        "weights": [str, os.PathLike],  # "imagenet" or a file
    },
    prefer_skip_nested_validation=True,
)
def fetch_pretrained_weights(backbone="densenet121", *, weights="imagenet"):
    """Fetch and check a DenseNet backbone's pretrained weights, before any training.

    :class:`DenseNetTransferClassifier` loads its ``weights`` in every
    ``fit``; a long study can call this once at its start, so that weights
    that cannot be downloaded or read stop it there, not after the first
    folds. ``"imagenet"`` goes through Keras's own download and cache
    (``$KERAS_HOME/models/``), so a later ``fit`` finds the file there.

    Parameters
    ----------
    backbone : {"densenet121", "densenet169", "densenet201"}, default="densenet121"
        The ``keras.applications`` DenseNet.
    weights : "imagenet", str or path-like, default="imagenet"
        As :class:`DenseNetTransferClassifier`'s ``weights`` (not None).

    Raises
    ------
    FileNotFoundError
        If ``weights`` is a path that does not exist.
    WeightsUnavailableError
        If the ImageNet weights cannot be downloaded or read, or the file
        does not hold this backbone's weights.

    Examples
    --------
    >>> from mammoclf.classifiers import fetch_pretrained_weights
    >>> fetch_pretrained_weights("densenet121", weights="missing.h5")
    Traceback (most recent call last):
    ...
    FileNotFoundError: weights='missing.h5' is neither 'imagenet' nor an existing ...
    """
    pretrained_backbone(import_keras(), backbone=backbone, weights=weights)
