"""Backbones as data: one description per ``keras.applications`` image network.

:class:`~mammoclf.classifiers.TransferClassifier` knows no network by name.
Everything it needs of a backbone is one :class:`Backbone` in
:data:`BACKBONES`: the ``keras.applications`` constructor, the named blocks
from the input side up (the vocabulary of ``freeze_schedule``), where each
block ends, the ImageNet input preprocessing, the last convolutional
feature map (Grad-CAM's layer), the minimum input size and the weights file
Keras downloads (named in the offline error). Families that share a block
scheme share a description builder.

Adding a backbone is one entry here plus one test parameter (see the
developer guide, ``docs/developers.md``).

Where a block ends is written as a layer of the ``keras.applications``
network: ``"name"`` (that layer's output), ``"prefix*"`` (the output of the
last layer, in the network's order, whose name starts with ``prefix``) or
``"<name"`` (the tensor entering that layer). The top block ends at the
network's output. Every boundary must be a single tensor through which the
whole network passes (checked when the network is built), so the frozen part
below it can be computed once and cached. Keras names some layers
automatically (``conv2d_7``), differently in every build; ends never refer
to those, and a network whose first block only such layers could delimit
has no separate stem (its stem trains with the lowest block).
"""

from dataclasses import dataclass, field

__all__ = [
    "BACKBONES",
    "HEAD",
    "STEM",
    "UNSUPPORTED",
    "Backbone",
    "check_backbone",
]

STEM = "stem"
HEAD = "head"

#: How ImageNet weights expect their input, applied by the network itself
#: to images in [0, 1] (``keras.applications.<family>.preprocess_input``
#: takes them as 0-255 RGB):
#: ``"torch"``: scale to [0, 1], subtract the ImageNet mean, divide by its
#: standard deviation; ``"caffe"``: 0-255 BGR minus the ImageNet mean;
#: ``"tf"``: scale to [-1, 1]; ``"raw"``: 0-255 RGB, the network scales
#: (EfficientNet, EfficientNetV2, ConvNeXt, MobileNetV3).
PREPROCESSING_MODES = ("torch", "caffe", "tf", "raw")


@dataclass(frozen=True)
class Backbone:
    """One ``keras.applications`` backbone, as data.

    Attributes
    ----------
    name : str
        The ``backbone`` parameter value (``"resnet50"``).
    constructor : str
        The ``keras.applications`` function (``"ResNet50"``).
    module : str
        The ``keras.applications`` module holding its ``preprocess_input``.
    blocks : tuple of str
        Unfreezable blocks from the input side to the top.
    ends : tuple of str
        Where each block but the top one ends (see the module docstring).
    stem_end : str or None
        Where the stem ends; None: no separate stem.
    preprocessing : str
        One of :data:`PREPROCESSING_MODES`.
    grad_cam_layer : str or None
        The layer whose output is the last convolutional feature map; None:
        the network's output, exposed by an identity layer ``"feature_map"``
        (Keras names that layer automatically in some networks).
    min_size : int
        The smallest input side the network accepts.
    weights_file : str
        The file Keras downloads for ``include_top=False`` ImageNet weights.
    """

    name: str
    constructor: str
    module: str
    blocks: tuple
    ends: tuple
    stem_end: str | None
    preprocessing: str
    grad_cam_layer: str | None
    min_size: int
    weights_file: str
    order: tuple = field(init=False)
    depth: dict = field(init=False)

    def __post_init__(self):
        if len(self.ends) != len(self.blocks) - 1:
            raise ValueError(f"{self.name}: one end per block but the top one")
        order = (STEM, *self.blocks, HEAD)
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "depth", {b: i for i, b in enumerate(order)})

    @property
    def auto_cache_from(self):
        """The block from which ``frozen_cache="auto"`` caches a stage.

        Stages that leave at least the stem and two blocks frozen: that part
        then does most of the forward computation.
        """
        return self.blocks[min(2, len(self.blocks) - 1)]


# The file name of most keras.applications ImageNet weights without the top.
_NOTOP = "{}_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _numbered(name, constructor, module, *, block, numbers, end, **description):
    """A family whose blocks are numbered: ``block`` and each of ``numbers``.

    Block ``i`` ends at ``end.format(i)`` (the top one at the network's
    output). DenseNet, ResNet and ResNetV2, VGG, EfficientNet and
    EfficientNetV2, ConvNeXt. ``description``: the other fields; the input
    side is 32 at least unless ``min_size`` says more.
    """
    numbers = tuple(numbers)
    return Backbone(
        name=name,
        constructor=constructor,
        module=module,
        blocks=tuple(f"{block}{i}" for i in numbers),
        ends=tuple(end.format(i) for i in numbers[:-1]),
        **{"min_size": 32, **description},
    )


def _densenet(depth):
    return _numbered(
        f"densenet{depth}",
        f"DenseNet{depth}",
        "densenet",
        # Each dense block owns the transition (poolN) after it, and conv5
        # the final BatchNormalization and ReLU.
        block="conv",
        numbers=range(2, 6),
        end="pool{}_pool",
        stem_end="pool1",
        preprocessing="torch",
        grad_cam_layer="relu",
        weights_file=_NOTOP.format(f"densenet{depth}"),
    )


def _resnet(depth, version=""):
    name, v2 = f"resnet{depth}{version}", version == "v2"
    return _numbered(
        name,
        f"ResNet{depth}{version.upper()}",
        "resnet_v2" if v2 else "resnet",
        block="conv",
        numbers=range(2, 6),
        end="conv{}*",
        stem_end="pool1_pool",
        preprocessing="tf" if v2 else "caffe",
        grad_cam_layer="post_relu" if v2 else "conv5_block3_out",
        weights_file=_NOTOP.format(name),
    )


def _vgg(depth):
    return _numbered(
        f"vgg{depth}",
        f"VGG{depth}",
        f"vgg{depth}",
        block="block",
        numbers=range(1, 6),
        end="block{}_pool",
        stem_end=None,
        preprocessing="caffe",
        grad_cam_layer="block5_conv3" if depth == 16 else "block5_conv4",
        weights_file=_NOTOP.format(f"vgg{depth}"),
    )


def _efficientnet(variant, *, v2=False):
    """EfficientNet B0-B7 (7 block groups) and V2 (6, or 7 for M and L)."""
    name = f"efficientnetv2{variant}" if v2 else f"efficientnet{variant}"
    return _numbered(
        name,
        ("EfficientNetV2" if v2 else "EfficientNet") + variant.upper(),
        "efficientnet_v2" if v2 else "efficientnet",
        block="block",
        numbers=range(1, 8 if not v2 or variant in ("m", "l") else 7),
        end="block{}*",
        stem_end="stem_activation",
        preprocessing="raw",
        grad_cam_layer="top_activation",
        weights_file=(f"efficientnetv2-{variant}" if v2 else name) + "_notop.h5",
    )


def _convnext(size):
    prefix = f"convnext_{size}"
    return _numbered(
        f"convnext{size}",
        f"ConvNeXt{size.capitalize().replace('large', 'Large')}",
        "convnext",
        # A stage owns the downsampling layer before it.
        block="stage",
        numbers=range(4),
        end=prefix + "_stage_{}*",
        stem_end=f"{prefix}_stem",
        preprocessing="raw",
        grad_cam_layer=None,
        weights_file=f"{prefix}_notop.h5",
    )


def _mobilenet(constructor, module, *, stages, ends, **description):
    """MobileNet V1, V2 and V3: stages numbered ``stages`` from the input side.

    Each stage but the top one ends at the layer named in ``ends``.
    """
    return Backbone(
        name=constructor.lower(),
        constructor=constructor,
        module=module,
        blocks=tuple(f"stage{i}" for i in stages),
        ends=ends,
        min_size=32,
        **description,
    )


_DESCRIPTIONS = (
    *(_densenet(depth) for depth in (121, 169, 201)),
    *(_resnet(depth) for depth in (50, 101, 152)),
    *(_resnet(depth, "v2") for depth in (50, 101, 152)),
    _vgg(16),
    _vgg(19),
    *(_efficientnet(f"b{i}") for i in range(8)),
    *(_efficientnet(v, v2=True) for v in ("b0", "b1", "b2", "b3", "s", "m", "l")),
    *(_convnext(size) for size in ("tiny", "small", "base", "large", "xlarge")),
    *(
        # The stem's output comes from an automatically named activation,
        # so the stem trains with stage1.
        _mobilenet(
            f"MobileNetV3{size.capitalize()}",
            "mobilenet_v3",
            stages=range(1, 5),
            ends=tuple(f"expanded_conv_{i}_add" for i in last_layers),
            stem_end=None,
            preprocessing="raw",
            grad_cam_layer=None,
            weights_file=f"weights_mobilenet_v3_{size}_224_1.0_float_no_top_v2.h5",
        )
        for size, last_layers in (("small", (2, 5, 7)), ("large", (2, 5, 11)))
    ),
    _mobilenet(
        "MobileNet",
        "mobilenet",
        stages=range(2, 6),
        ends=("conv_pw_3_relu", "conv_pw_5_relu", "conv_pw_11_relu"),
        stem_end="conv_pw_1_relu",
        preprocessing="tf",
        grad_cam_layer="conv_pw_13_relu",
        weights_file="mobilenet_1_0_224_tf_no_top.h5",
    ),
    _mobilenet(
        "MobileNetV2",
        "mobilenet_v2",
        stages=range(2, 6),
        ends=("block_2_add", "block_5_add", "block_12_add"),
        stem_end="expanded_conv_project_BN",
        preprocessing="tf",
        grad_cam_layer="out_relu",
        weights_file=(
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
        ),
    ),
    Backbone(
        name="inceptionv3",
        constructor="InceptionV3",
        module="inception_v3",
        # The stem's layers are named automatically: it trains with mixed2.
        blocks=("mixed2", "mixed7", "mixed8", "mixed9", "mixed10"),
        ends=("mixed2", "mixed7", "mixed8", "mixed9"),
        stem_end=None,
        preprocessing="tf",
        grad_cam_layer="mixed10",
        min_size=75,
        weights_file="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    Backbone(
        name="xception",
        constructor="Xception",
        module="xception",
        blocks=("entry", "middle", "block13", "block14"),
        ends=("<block5_sepconv1_act", "<block13_sepconv1_act", "<block14_sepconv1"),
        stem_end="block1_conv2_act",
        preprocessing="tf",
        grad_cam_layer="block14_sepconv2_act",
        min_size=71,
        weights_file="xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    Backbone(
        name="inceptionresnetv2",
        constructor="InceptionResNetV2",
        module="inception_resnet_v2",
        blocks=("mixed_5b", "block35", "mixed_6a", "block17", "mixed_7a", "block8"),
        ends=("mixed_5b", "block35_10_ac", "mixed_6a", "block17_20_ac", "mixed_7a"),
        stem_end=None,
        preprocessing="tf",
        grad_cam_layer="conv_7b_ac",
        min_size=75,
        weights_file=(
            "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
        ),
    ),
)

#: Backbone name -> its description.
BACKBONES = {description.name: description for description in _DESCRIPTIONS}

#: keras.applications image backbones that cannot be used, and why.
UNSUPPORTED = {
    name: (
        "NASNet's cells each read the outputs of the two cells before them, so "
        "the network has no single-tensor block boundary to freeze, cache or "
        "share below; and its ImageNet weights need a fixed input size "
        f"({size}x{size})"
    )
    for name, size in (("nasnetmobile", 224), ("nasnetlarge", 331))
}


def check_backbone(name, estimator_name):
    """The description of backbone ``name``; a clear ValueError if there is none."""
    if name in BACKBONES:
        return BACKBONES[name]
    if name in UNSUPPORTED:
        raise ValueError(
            f"{estimator_name} cannot use backbone={name!r}: {UNSUPPORTED[name]}. "
            "Choose another backbone (see docs/user_guide/freeze_schedule.md)."
        )
    raise ValueError(
        f"{estimator_name}: unknown backbone={name!r}; choose one of "
        f"{', '.join(sorted(BACKBONES))}."
    )
