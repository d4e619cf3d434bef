"""The network of :class:`TransferClassifier`: build, weights, blocks, for any backbone.

The network is one flat functional model (no nested sub-model): input
preprocessing, the ``keras.applications`` backbone built on our input
tensor (``input_tensor=``), then the head. Every layer is reachable from
``model.inputs``, so Grad-CAM can read the last feature map and the frozen
part below any block boundary can be cut out and cached. Only standard
Keras layers are added, so a fitted model saves and loads in safe mode on
every backend. What differs between backbones is data
(:mod:`mammoclf.classifiers._backbones`).
"""

import os

from mammoclf.classifiers._backbones import HEAD, STEM, check_backbone
from mammoclf.exceptions import WeightsUnavailableError
from mammoclf.utils._keras import import_keras
from mammoclf.utils._validation import validate_params

__all__ = [
    "FEATURE_MAP",
    "attach_head",
    "block_layers",
    "block_start_tensors",
    "build_backbone",
    "copy_backbone_weights",
    "fetch_pretrained_weights",
    "preprocessing_model",
    "pretrained_backbone",
]

#: Name of the identity layer exposing the feature map of backbones whose
#: last layer Keras names automatically.
FEATURE_MAP = "feature_map"

# ImageNet statistics ("torch" mode, on [0, 1] images) and channel means
# ("caffe" mode, 0-255 BGR), as keras.applications.imagenet_utils has them.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

_PREPROCESSING_LAYERS = ("image", "resize", "grey_to_rgb", "imagenet_normalization")
_HEAD_LAYERS = ("head_dense", "head_dropout", "logits")


def preprocessing_layers(keras, description, x):
    """Apply ``description``'s ImageNet preprocessing to ``x`` (RGB in [0, 1]).

    The layers compute in float32 under a mixed policy too: they are cheap
    and keep the values exact before the first convolution.
    """
    layers, mode = keras.layers, description.preprocessing
    if mode == "torch":
        return layers.Normalization(
            mean=list(_IMAGENET_MEAN),
            variance=[s**2 for s in _IMAGENET_STD],
            dtype="float32",
            name="imagenet_normalization",
        )(x)
    if mode == "tf":
        return layers.Rescaling(
            2.0, offset=-1.0, dtype="float32", name="imagenet_normalization"
        )(x)
    if mode == "raw":  # the network scales 0-255 RGB itself
        return layers.Rescaling(255.0, dtype="float32", name="imagenet_normalization")(
            x
        )
    # "caffe": 0-255, RGB -> BGR, minus the channel means: one fixed 1x1
    # convolution (a permutation matrix times 255, and a bias).
    kernel = [[[[255.0 if i == 2 - j else 0.0 for j in range(3)] for i in range(3)]]]
    return layers.Conv2D(
        3,
        1,
        kernel_initializer=keras.initializers.Constant(kernel),
        bias_initializer=keras.initializers.Constant([-m for m in _CAFFE_BGR_MEAN]),
        trainable=False,
        dtype="float32",
        name="imagenet_normalization",
    )(x)


def preprocessing_model(keras, description, input_shape):
    """The network's input part alone: images in [0, 1] -> what the backbone takes."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if input_shape[-1] == 1:
        x = keras.layers.Concatenate(axis=-1, dtype="float32", name="grey_to_rgb")(
            [x, x, x]
        )
    return keras.Model(inputs, preprocessing_layers(keras, description, x))


def build_backbone(keras, *, description, input_shape, resize_to):
    """Input and pooled backbone features: every layer below the head.

    Returns
    -------
    inputs, features : KerasTensor
    """
    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if resize_to is not None:
        x = layers.Resizing(*resize_to, dtype="float32", name="resize")(x)
    if input_shape[-1] == 1:
        x = layers.Concatenate(axis=-1, dtype="float32", name="grey_to_rgb")([x, x, x])
    x = preprocessing_layers(keras, description, x)
    constructor = getattr(keras.applications, description.constructor)
    network = constructor(include_top=False, weights=None, input_tensor=x)
    _backbone_in_inference_mode(network)
    features = network.output
    if description.grad_cam_layer is None:
        features = layers.Identity(name=FEATURE_MAP)(features)
    return inputs, layers.GlobalAveragePooling2D(name="avg_pool")(features)


def _backbone_in_inference_mode(network):
    """Turn off the backbone's own dropout (EfficientNet's stochastic depth).

    Keras's fine-tuning guide runs a pretrained backbone in inference mode;
    in a flat model that means frozen BatchNormalization (see
    ``_set_trainable``) and no dropout inside the backbone, so a frozen part
    computes the same in training as in prediction and can be cached.
    """
    for layer in network.layers:
        if type(layer).__name__ == "Dropout":
            layer.rate = 0.0


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


def pretrained_backbone(keras, *, description, weights):
    """Return a stand-alone ``include_top=False`` backbone holding ``weights``.

    Keras does the work: its own download and cache for ``"imagenet"``, its
    own readers for both ``.h5`` layouts for a file. Called before our
    network is built, so unavailable weights fail fast; the weighted layers
    are then copied in order (:func:`copy_backbone_weights`).

    Raises
    ------
    FileNotFoundError
        If ``weights`` is a path that does not exist.
    WeightsUnavailableError
        If the ImageNet weights cannot be downloaded or read, or the file
        does not hold this backbone's weights.
    """
    constructor = getattr(keras.applications, description.constructor)
    input_shape = (description.min_size, description.min_size, 3)  # any size
    file_name, call = description.weights_file, description.constructor
    if weights == "imagenet":
        try:
            return constructor(
                include_top=False, weights="imagenet", input_shape=input_shape
            )
        except Exception as exc:  # download, hash check or HDF5 read
            raise WeightsUnavailableError(_imagenet_message(description, exc)) from exc
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"weights={path!r} is neither 'imagenet' nor an existing file. "
            f"Pass the path of {file_name} (or of weights saved from "
            f"keras.applications.{call}(include_top=False)), 'imagenet', or None."
        )
    try:
        return constructor(include_top=False, weights=path, input_shape=input_shape)
    except Exception as exc:
        raise WeightsUnavailableError(
            f"{path}: cannot load it as {call} weights without the classification "
            f"top ({type(exc).__name__}: {exc}). Expected Keras's {file_name} or "
            f"a file written by save_weights() of keras.applications.{call}"
            "(include_top=False)."
        ) from exc


def copy_backbone_weights(source, model):
    """Copy the weighted layers of ``source`` into ``model``'s backbone, in order.

    Keras names some layers automatically, differently in every build, so
    layers are paired by position (both networks come from one constructor)
    and checked by class.
    """
    ours = [
        layer
        for layer in model.layers
        if layer.weights and layer.name not in _PREPROCESSING_LAYERS
    ]
    theirs = [layer for layer in source.layers if layer.weights]
    if len(ours) != len(theirs):  # pragma: no cover - guards a changed layout
        raise RuntimeError(
            f"Pretrained backbone has {len(theirs)} weighted layers, ours {len(ours)}."
        )
    for target, layer in zip(ours, theirs):
        if type(target) is not type(layer):  # pragma: no cover - as above
            raise RuntimeError(f"Cannot copy {layer.name} into {target.name}.")
        target.set_weights(layer.get_weights())


def _imagenet_message(description, exc):
    file_name = description.weights_file
    cache = os.path.join(
        os.environ.get("KERAS_HOME", os.path.join("~", ".keras")), "models", file_name
    )
    return (
        f"Could not get the ImageNet weights of {description.name} "
        f"({type(exc).__name__}: {exc}). Keras downloads {file_name} once and "
        f"caches it in $KERAS_HOME/models/ (default ~/.keras/models/; here "
        f"{os.path.expanduser(cache)}). Without internet access, copy that file "
        "there from a machine that has it, or pass its path as "
        f"weights='/path/to/{file_name}', or use weights=None to train from a "
        "random initialisation. mammoclf never falls back to random weights "
        "on its own."
    )


def block_layers(model, description):
    """Map ``"stem"``, each block of ``description`` and ``"head"`` to their layers.

    Layers are walked in the model's (topological) order; each block ends
    where ``description`` says (see :mod:`mammoclf.classifiers._backbones`),
    and every boundary is checked to be a single tensor that all of the
    network above it reads through.
    """
    order = [layer for layer in model.layers if layer.name not in _PREPROCESSING_LAYERS]
    position = {id(layer): index for index, layer in enumerate(order)}
    names = [layer.name for layer in order]
    ends = [
        *([description.stem_end] if description.stem_end else []),
        *description.ends,
    ]
    cut_at = [_end_position(spec, names, order, position) for spec in ends]
    parts = [STEM] if description.stem_end else []
    parts += list(description.blocks)
    blocks = {name: [] for name in description.order}
    for index, layer in enumerate(order):
        if layer.name in _HEAD_LAYERS:
            blocks[HEAD].append(layer)
            continue
        part = sum(index > cut for cut in cut_at)
        blocks[parts[part]].append(layer)
    empty = [name for name in description.blocks if not blocks[name]]
    if empty:  # pragma: no cover - guards a changed Keras layout
        raise RuntimeError(
            f"Unexpected {description.name} layout in this Keras version: no "
            f"layers for blocks {empty}."
        )
    _check_single_tensor_boundaries(blocks, description)
    return blocks


def _end_position(spec, names, order, position):
    """Index in ``order`` of the layer whose output ends a block (see ``_backbones``)."""
    if spec.startswith("<"):
        entering = order[names.index(spec[1:])].input
        return position[id(entering._keras_history.operation)]
    if spec.endswith("*"):
        return max(i for i, name in enumerate(names) if name.startswith(spec[:-1]))
    return names.index(spec)


def _check_single_tensor_boundaries(blocks, description):
    """Every block above the stem reads what is below it through one tensor."""
    below = set()
    for name in description.order[:-1]:
        below |= {id(layer) for layer in blocks[name]}
        above = [
            layer
            for upper in description.order[description.depth[name] + 1 :]
            for layer in blocks[upper]
        ]
        crossing = {
            id(tensor)
            for layer in above
            for tensor in _input_tensors(layer)
            if id(tensor._keras_history.operation) in below
        }
        if len(crossing) > 1:  # pragma: no cover - a description error
            raise RuntimeError(
                f"{description.name}: the boundary above {name!r} is "
                f"{len(crossing)} tensors, not one; fix its description."
            )


def _input_tensors(layer):
    """The symbolic tensors ``layer`` reads in the network (its last call)."""
    return [t for node in layer._inbound_nodes[-1:] for t in node.input_tensors]


def block_start_tensors(blocks):
    """Map each block after the stem to the tensor entering it.

    The head's entry is the pooled feature vector; a block's is the output
    of the block below it.
    """
    return {
        name: members[0].input
        for name, members in blocks.items()
        if name != STEM and members
    }


@validate_params(
    {
        "backbone": [str],  # checked against the registry, with reasons
        "weights": [str, os.PathLike],  # "imagenet" or a file
    },
    prefer_skip_nested_validation=True,
)
def fetch_pretrained_weights(backbone="densenet121", *, weights="imagenet"):
    """Fetch and check a backbone's pretrained weights, before any training.

    :class:`TransferClassifier` (and :class:`DenseNetTransferClassifier`)
    loads its ``weights`` in every ``fit``; a long study can call this once
    at its start, so that weights that cannot be downloaded or read stop it
    there, not after the first folds. ``"imagenet"`` goes through Keras's
    own download and cache (``$KERAS_HOME/models/``), so a later ``fit``
    finds the file there.

    Parameters
    ----------
    backbone : str, default="densenet121"
        A backbone of :class:`TransferClassifier` (``"resnet50"``,
        ``"efficientnetb0"``, ...).
    weights : "imagenet", str or path-like, default="imagenet"
        As :class:`TransferClassifier`'s ``weights`` (not None).

    Raises
    ------
    ValueError
        If ``backbone`` is unknown or not supported.
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
    description = check_backbone(backbone, "fetch_pretrained_weights")
    pretrained_backbone(import_keras(), description=description, weights=weights)
