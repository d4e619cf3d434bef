"""Input mistakes a new user makes, answered by every classifier with one rule.

Flattened images without ``image_shape``, one image instead of a batch,
8-bit ``[0, 255]`` images, and a list of images of different sizes. Most
checks run before any training: the fits are made to stop right after input
validation by giving labels of one class, so these tests cost no training.
"""

import warnings

import numpy as np
import pytest

from mammoclf import DenseNetTransferClassifier, ScratchCNNClassifier
from mammoclf.exceptions import ImageRangeWarning, InvalidImageError

ONE_CLASS = "at least 2 classes"


def tiny_cnn(**params):
    defaults = {"filters": (4,), "dense_units": 8, "epochs": 1, "random_state": 0}
    return ScratchCNNClassifier(**{**defaults, **params})


CLASSIFIERS = [
    tiny_cnn(),
    DenseNetTransferClassifier(weights=None, freeze_schedule="frozen", epochs=1),
]
IDS = ["ScratchCNNClassifier", "DenseNetTransferClassifier"]


@pytest.fixture(scope="module")
def fitted(toy_images):
    X, y, _ = toy_images
    return tiny_cnn().fit(X, y)


@pytest.mark.parametrize("classifier", CLASSIFIERS, ids=IDS)
def test_flattened_images_without_image_shape_are_refused(classifier, toy_images):
    X, y, _ = toy_images
    # Until 0.1: trained silently on (1, 1024, 1) images, one pixel high.
    with pytest.raises(InvalidImageError, match=r"image_shape=\(H, W\).*X\[None\]"):
        classifier.fit(X.reshape(len(X), -1), y)


def test_one_image_instead_of_a_batch_names_x_none(fitted, toy_images):
    X, _, _ = toy_images
    with pytest.raises(InvalidImageError, match=r"one image.*pass X\[None\]"):
        fitted.predict(X[0])
    assert fitted.predict(X[0][None]).shape == (1,)


def test_image_shape_minus_one_infers_the_other_side(toy_images):
    X, y, _ = toy_images
    rows = tiny_cnn(image_shape=(1, -1)).fit(X[:, 0, :], y)
    assert rows.image_shape_ == (1, 32, 1)
    halves = tiny_cnn(image_shape=(16, -1)).fit(X.reshape(len(X), -1), y)
    assert halves.image_shape_ == (16, 64, 1)
    with pytest.raises(InvalidImageError, match="cannot be reshaped"):
        tiny_cnn(image_shape=(7, -1)).fit(X.reshape(len(X), -1), y)
    with pytest.raises(InvalidImageError, match="positive integers"):
        tiny_cnn(image_shape=(-1, -1)).fit(X.reshape(len(X), -1), y)


@pytest.mark.parametrize("classifier", CLASSIFIERS, ids=IDS)
def test_eight_bit_images_warn_by_the_same_rule_in_every_classifier(
    classifier, toy_images
):
    X, _, _ = toy_images
    one_class = np.zeros(len(X))
    with (
        pytest.warns(
            ImageRangeWarning, match=r"\[0, 255\].*divide 8-bit images by 255"
        ),
        pytest.raises(ValueError, match=ONE_CLASS),
    ):
        classifier.fit(np.round(X * 255).astype(np.uint8), one_class)


@pytest.mark.parametrize("classifier", CLASSIFIERS, ids=IDS)
def test_unit_range_images_do_not_warn(classifier, toy_images):
    X, _, _ = toy_images
    # Slight overshoot of a sharp resampling filter is not a scaling mistake.
    overshoot = X * 1.05 - 0.02
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImageRangeWarning)
        with pytest.raises(ValueError, match=ONE_CLASS):
            classifier.fit(overshoot, np.zeros(len(X)))


def test_predicting_out_of_range_images_warns(fitted, toy_images):
    X, _, _ = toy_images
    with pytest.warns(ImageRangeWarning, match="values in"):
        fitted.predict_proba(X * 255)


@pytest.mark.parametrize("classifier", CLASSIFIERS, ids=IDS)
def test_images_of_different_sizes_name_resizer(classifier):
    images = [np.zeros((40, 32)), np.zeros((32, 32)), np.zeros((48, 40))]
    with pytest.raises(InvalidImageError, match=r"different sizes.*Resizer"):
        classifier.fit(images, ["BENIGN", "MALIGNANT", "BENIGN"])
