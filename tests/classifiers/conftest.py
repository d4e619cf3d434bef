"""Session-scoped DenseNet fixtures: every DenseNet fit in the suite costs seconds.

The fitted estimators here are shared by the DenseNet121 tests
(test_densenet.py) and must not be modified by tests (refit a clone
instead). Other modules test DenseNetTransferClassifier's mechanics on the
shallow DenseNet (tests/shallow_densenet.py), so under pytest-xdist these
fixtures are built on one worker only.
"""

import numpy as np
import pytest

from mammoclf import DenseNetTransferClassifier
from mammoclf.utils._keras import import_keras, keras_seed


def _fixture_densenet(weights, freeze_schedule, epochs):
    # batch_size=32: two gradient steps per epoch on the 60 toy images, so
    # comparisons with these fits also cover the order of shuffled batches.
    return DenseNetTransferClassifier(
        weights=weights,
        freeze_schedule=freeze_schedule,
        dense_units=16,
        epochs=epochs,
        batch_size=32,
        random_state=0,
    )


@pytest.fixture(scope="session")
def densenet_weights(tmp_path_factory):
    """A DenseNet121 weights file as Keras saves it, and its values by layer.

    Random weights with random BatchNormalization statistics and scales, so
    that values copied from the file can be told from a fresh
    initialisation, and moving statistics that a training-mode
    BatchNormalization would update are far from any batch's statistics.
    """
    keras = import_keras()
    with keras_seed(keras, 123):
        source = keras.applications.DenseNet121(
            include_top=False, weights=None, input_shape=(32, 32, 3)
        )
    rng = np.random.default_rng(123)
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
    path = tmp_path_factory.mktemp("weights") / "densenet121_notop.weights.h5"
    source.save_weights(path)
    values = {
        layer.name: layer.get_weights() for layer in source.layers if layer.weights
    }
    return path, values


@pytest.fixture(scope="session")
def frozen_densenet(toy_images, densenet_weights):
    """The study's frozen model (head only, 2 epochs), from the weights file."""
    X, y, _ = toy_images
    path, _ = densenet_weights
    return _fixture_densenet(str(path), "frozen", epochs=2).fit(X, y)


@pytest.fixture(scope="session")
def partial_densenet(toy_images, densenet_weights):
    """The study's partially unfrozen model (head, then conv5), from the file."""
    X, y, _ = toy_images
    path, _ = densenet_weights
    return _fixture_densenet(str(path), "partial", epochs=1).fit(X, y)
