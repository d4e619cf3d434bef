"""Session-scoped DenseNet fixtures: every DenseNet fit in the suite costs seconds.

The fitted estimators here are shared by the DenseNet tests
(test_densenet.py) and must not be modified by tests (refit a clone
instead). Other modules test DenseNetTransferClassifier's mechanics on the
shallow DenseNet (tests/shallow_densenet.py), so under pytest-xdist these
fixtures are built on one worker only.
"""

import numpy as np
import pytest

from mammoclf import DenseNetTransferClassifier
from mammoclf.utils._keras import import_keras, keras_seed
from tests.shallow_densenet import ShallowDenseNetClassifier, shallow_densenet121


def _fixture_densenet(cls, weights, freeze_schedule, epochs):
    # batch_size=32: two gradient steps per epoch on the 60 toy images, so
    # comparisons with these fits also cover the order of shuffled batches.
    return cls(
        weights=weights,
        freeze_schedule=freeze_schedule,
        dense_units=16,
        epochs=epochs,
        batch_size=32,
        random_state=0,
    )


def _write_random_weights(keras, path, seed):
    """Build DenseNet121 (as ``keras.applications`` builds it now), save it to ``path``.

    Random weights with random BatchNormalization statistics and scales, so
    that values copied from the file can be told from a fresh
    initialisation, and moving statistics that a training-mode
    BatchNormalization would update are far from any batch's statistics.
    Returns the saved values by layer name.
    """
    with keras_seed(keras, seed):
        source = keras.applications.DenseNet121(
            include_top=False, weights=None, input_shape=(32, 32, 3)
        )
    rng = np.random.default_rng(seed)
    for layer in source.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                    rng.normal(0.0, 0.1, beta.shape).astype("float32"),
                    rng.normal(0.0, 0.5, mean.shape).astype("float32"),
                    rng.uniform(0.5, 2.0, variance.shape).astype("float32"),
                ]
            )
    source.save_weights(path)
    return {layer.name: layer.get_weights() for layer in source.layers if layer.weights}


@pytest.fixture(scope="session")
def densenet_weights(tmp_path_factory):
    """A DenseNet121 weights file as Keras saves it, and its values by layer."""
    path = tmp_path_factory.mktemp("weights") / "densenet121_notop.weights.h5"
    return path, _write_random_weights(import_keras(), path, 123)


@pytest.fixture(scope="session")
def shallow_densenet_weights(tmp_path_factory):
    """``densenet_weights`` for the shallow DenseNet (tests/shallow_densenet.py)."""
    path = tmp_path_factory.mktemp("weights") / "shallow_densenet_notop.weights.h5"
    with shallow_densenet121():
        return path, _write_random_weights(import_keras(), path, 123)


@pytest.fixture(scope="session")
def frozen_densenet(toy_images, densenet_weights):
    """The study's frozen model (head only, 2 epochs), from the weights file.

    The default suite's one DenseNet121 fit: DenseNet121's own graph is
    tested on it; the other DenseNet mechanics on the shallow DenseNet.
    """
    X, y, _ = toy_images
    path, _ = densenet_weights
    return _fixture_densenet(
        DenseNetTransferClassifier, str(path), "frozen", epochs=2
    ).fit(X, y)


@pytest.fixture(scope="session")
def partial_densenet(toy_images, shallow_densenet_weights):
    """The study's partially unfrozen model (head, then conv5), from the file.

    On the shallow DenseNet: which layers the partial preset trains and
    leaves alone is mammoclf's code, the same for DenseNet121's blocks
    (``test_partial_preset_on_densenet121`` repeats it there with -m slow).
    """
    X, y, _ = toy_images
    path, _ = shallow_densenet_weights
    return _fixture_densenet(
        ShallowDenseNetClassifier, str(path), "partial", epochs=1
    ).fit(X, y)
