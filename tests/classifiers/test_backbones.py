"""Every backbone of TransferClassifier: preprocessing, blocks, and one fit per family.

The backbones are data (mammoclf/classifiers/_backbones.py); these tests
check each description against the network Keras builds. Adding a backbone
is one entry there and one parameter in ``FAMILIES`` below (or in
``ALL_BACKBONES``, which every test that is cheap covers anyway).

- The ImageNet preprocessing the network applies to images in [0, 1]
  equals ``keras.applications.<family>.preprocess_input`` of the same image
  as 0-255 RGB (every backbone, by default: the input part is built alone).
- The blocks partition the network at single-tensor boundaries.
- Per family, at the backbone's minimum size with ``weights=None``, one
  epoch per stage and a few images: fit and predict; the frozen-prefix
  cache gives the predictions of an uncached fit; Grad-CAM's map is not
  constant; save and load; GridSearchCV over two schedules.
"""

import contextlib
import importlib

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import mammoclf
from mammoclf import TransferClassifier
from mammoclf.classifiers import BACKBONES
from mammoclf.classifiers._transfer_network import (
    block_layers,
    build_backbone,
    preprocessing_model,
)
from mammoclf.inspection import grad_cam
from mammoclf.utils._keras import import_keras
from tests.shallow_densenet import shallow_densenet121

ALL_BACKBONES = sorted(BACKBONES)
# One backbone per family, at its smallest. Each family's five fit tests
# cost 50 s (MobileNetV3Small) to minutes on 2 cores, more than the default
# suite's budget allows, so they run with ``-m slow``; the preprocessing of
# every backbone, the block split of one and one "frozen" fit and prediction
# of each ``REPRESENTATIVE`` backbone run by default.
FAMILIES = {
    "densenet121": "DenseNet (the shallow stand-in of tests/shallow_densenet.py)",
    "resnet50": "ResNet v1",
    "resnet50v2": "ResNet v2",
    "vgg16": "VGG",
    "inceptionv3": "Inception v3",
    "xception": "Xception",
    "inceptionresnetv2": "Inception-ResNet v2",
    "mobilenet": "MobileNet v1",
    "mobilenetv2": "MobileNet v2",
    "mobilenetv3small": "MobileNet v3",
    "efficientnetb0": "EfficientNet",
    "efficientnetv2b0": "EfficientNetV2",
    "convnexttiny": "ConvNeXt",
}
DEFAULT_BLOCK_SPLIT = {"mobilenetv3small"}


def _family_params(families=FAMILIES):
    return [pytest.param(name, marks=pytest.mark.slow, id=name) for name in families]


def _stand_in(name):
    """DenseNet121 is tested on its shallow stand-in (same code, blocks, names)."""
    return shallow_densenet121() if name == "densenet121" else contextlib.nullcontext()


@pytest.mark.parametrize("name", ALL_BACKBONES)
@pytest.mark.parametrize("channels", [3, 1])
def test_preprocessing_equals_keras_preprocess_input(name, channels):
    """What the network feeds its backbone is ``preprocess_input`` of 0-255 RGB."""
    keras = import_keras()
    description = BACKBONES[name]
    rng = np.random.default_rng(0)
    images = rng.random((2, 8, 8, channels)).astype("float32")
    ours = keras.ops.convert_to_numpy(
        preprocessing_model(keras, description, images.shape[1:])(images)
    )
    rgb = np.repeat(images, 3, axis=-1) if channels == 1 else images
    module = importlib.import_module(f"keras.applications.{description.module}")
    expected = module.preprocess_input(rgb * np.float32(255.0))
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-4)


def test_every_keras_image_backbone_is_described_or_refused():
    keras = import_keras()
    constructors = {
        name.lower()
        for name in dir(keras.applications)
        if callable(getattr(keras.applications, name)) and name[0].isupper()
    }
    from mammoclf.classifiers._backbones import UNSUPPORTED

    assert constructors == set(BACKBONES) | set(UNSUPPORTED)
    assert {d.constructor.lower() for d in BACKBONES.values()} == set(BACKBONES)


def test_an_unsupported_backbone_says_why():
    X = np.zeros((4, 32, 32), "float32")
    with pytest.raises(ValueError, match="NASNet's cells each read the outputs"):
        TransferClassifier(backbone="nasnetmobile", weights=None).fit(X, [0, 1] * 2)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=() if n in DEFAULT_BLOCK_SPLIT else pytest.mark.slow)
        for n in ALL_BACKBONES
    ],
)
def test_blocks_split_the_network_at_single_tensors(name):
    keras = import_keras()
    description = BACKBONES[name]
    size = description.min_size
    with _stand_in(name):
        inputs, features = build_backbone(
            keras, description=description, input_shape=(size, size, 1), resize_to=None
        )
    model = keras.Model(inputs, features)
    blocks = block_layers(model, description)  # raises on a multi-tensor boundary
    assert all(blocks[block] for block in description.blocks)
    assert (description.stem_end is None) == (not blocks["stem"])
    names = {layer.name for layer in model.layers}
    assert (description.grad_cam_layer or "feature_map") in names


_FITTED = {}


def _data(name, scale=1, n_images=8):
    size = scale * BACKBONES[name].min_size
    rng = np.random.default_rng(1)
    X = rng.random((n_images, size, size, 1)).astype("float32")
    y = np.array(["BENIGN", "MALIGNANT"] * (n_images // 2))
    X[y == "MALIGNANT", : size // 2, : size // 2] += 0.3
    return np.clip(X, 0, 1), y


def _estimator(name, **params):
    return TransferClassifier(
        backbone=name,
        weights=None,
        freeze_schedule="partial",
        dense_units=4,
        epochs=1,
        batch_size=4,
        random_state=0,
        **params,
    )


def _fit(estimator, name):
    X, y = _data(name)
    with _stand_in(name):
        return estimator.fit(X, y)


def _fitted(name):
    """One partial fit per backbone, with the frozen-prefix cache in memory."""
    if name not in _FITTED:
        _FITTED[name] = _fit(_estimator(name, frozen_cache="memory"), name)
    return _FITTED[name]


# The default fit test: one backbone of each representative family, on the
# "frozen" preset: the backbone is built and runs forward only (direct calls,
# no traced network), and the head trains on its cached output.
REPRESENTATIVE = (
    "densenet121",
    "resnet50",
    "efficientnetb0",
    "mobilenetv3small",
    "convnexttiny",
    "vgg16",
)


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_representative_backbone_fits_and_predicts(name):
    X, y = _data(name, n_images=4)
    clf = _estimator(name).set_params(freeze_schedule="frozen", dense_units=16)
    with _stand_in(name):
        clf.fit(X, y)
    assert [s["trainable_blocks"] for s in clf.stages_] == [("head",)]
    assert clf.stages_[0]["frozen_cache"] == "memory"  # the backbone ran once
    assert clf.n_epochs_ == 1
    proba = clf.predict_proba(X)
    assert proba.shape == (4, 2) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    # The logits depend on the image. Random EfficientNet and MobileNetV3
    # features are ~1e-6 (their untrained blocks shrink the signal), so the
    # probabilities may round to one value while the logits still differ.
    assert np.ptp(clf.decision_function(X)) > 0


@pytest.mark.parametrize("name", _family_params())
def test_fit_and_predict(name):
    clf = _fitted(name)
    X, _ = _data(name)
    proba = clf.predict_proba(X)
    assert proba.shape == (8, 2) and np.isfinite(proba).all()
    top = BACKBONES[name].blocks[-1]
    assert [s["trainable_blocks"] for s in clf.stages_] == [("head",), (top, "head")]
    assert [s["frozen_cache"] for s in clf.stages_] == ["memory", "memory"]


@pytest.mark.parametrize("name", _family_params())
def test_frozen_prefix_cache_gives_equal_predictions(name):
    cached = _fitted(name)
    uncached = _fit(clone(cached).set_params(frozen_cache="off"), name)
    assert [s["frozen_cache"] for s in uncached.stages_] == [None, None]
    X, _ = _data(name)
    np.testing.assert_allclose(
        uncached.decision_function(X), cached.decision_function(X), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("name", _family_params())
def test_grad_cam_map_is_not_constant(name):
    # At its minimum size a backbone's last feature map is 1x1 (or nearly),
    # and a heatmap upsampled from one cell is constant by construction:
    # twice the size gives at least 2x2 cells.
    X, y = _data(name, scale=2)
    with _stand_in(name):
        # A random backbone's features reach tens (untrained BatchNormalization
        # statistics): a 4-unit head at 1e-3 can die in one epoch (constant
        # logits, zero gradients); a wider head at a small rate does not.
        clf = _estimator(name).set_params(
            freeze_schedule="frozen", dense_units=64, learning_rate=1e-5
        )
        clf.fit(X, y)
    # For two classes one class's evidence is the other's negated: the ReLU
    # of Grad-CAM keeps it for one of them (a random network may favour either).
    heatmaps = np.concatenate(
        [grad_cam(clf, X[:4], target=label, normalize=False) for label in clf.classes_]
    )
    assert heatmaps.shape[1:3] == X.shape[1:3]
    assert max(np.ptp(heatmap) for heatmap in heatmaps) > 0


@pytest.mark.parametrize("name", _family_params())
def test_save_and_load(name, tmp_path):
    clf = _fitted(name)
    X, _ = _data(name)
    mammoclf.save(clf, tmp_path / "model.mammoclf")
    loaded = mammoclf.load(tmp_path / "model.mammoclf")
    assert type(loaded) is TransferClassifier
    assert loaded.get_params()["backbone"] == name
    np.testing.assert_allclose(
        loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("name", _family_params())
def test_grid_search_over_two_schedules(name):
    X, y = _data(name)
    top = BACKBONES[name].blocks[-1]
    search = GridSearchCV(
        _estimator(name), {"freeze_schedule": ["frozen", top]}, cv=2, scoring="accuracy"
    )
    with _stand_in(name):
        search.fit(X, y)
    assert search.cv_results_["param_freeze_schedule"].tolist() == ["frozen", top]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_a_dropout_turned_off_is_not_stochastic():
    """EfficientNet's frozen blocks hold Dropout layers at rate 0: no obstacle to caching."""
    from mammoclf.classifiers._activation_keys import stochastic_layers

    keras = import_keras()
    off = keras.layers.Dropout(0.0, name="off")
    on = keras.layers.Dropout(0.2, name="on")
    assert stochastic_layers([off, on]) == ["on"]


def test_a_numbered_family_builder_writes_each_block_and_end():
    """What ``_numbered`` derives, for two families of different shapes."""
    densenet, efficientnet = BACKBONES["densenet169"], BACKBONES["efficientnetv2s"]
    assert densenet.blocks == ("conv2", "conv3", "conv4", "conv5")
    assert densenet.ends == ("pool2_pool", "pool3_pool", "pool4_pool")
    assert densenet.weights_file == (
        "densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    assert efficientnet.blocks == tuple(f"block{i}" for i in range(1, 7))
    assert efficientnet.ends == tuple(f"block{i}*" for i in range(1, 6))
    assert efficientnet.weights_file == "efficientnetv2-s_notop.h5"
    assert BACKBONES["efficientnetv2m"].blocks[-1] == "block7"
    assert BACKBONES["mobilenetv3large"].ends[-1] == "expanded_conv_11_add"
    assert {b.min_size for b in BACKBONES.values() if b.module != "xception"} <= {
        32,
        75,
    }
