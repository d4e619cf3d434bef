"""Grad-CAM: correct gradients, localisation, pipelines and clear errors."""

import importlib.util
import os
import pickle
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mammoclf import ScratchCNNClassifier
from mammoclf.exceptions import BackendNotSupportedError
from mammoclf.inspection import GradCAMDisplay, grad_cam


@pytest.fixture(scope="module")
def lesion_data():
    """Noise images; malignant ones carry a bright 6x6 square at a random place."""
    rng = np.random.default_rng(0)
    n = 80
    X = rng.random((n, 32, 32), dtype=np.float32) * 0.4
    y = np.array(["BENIGN", "MALIGNANT"] * (n // 2))
    masks = np.zeros((n, 32, 32), dtype=bool)
    for index in np.flatnonzero(y == "MALIGNANT"):
        row, col = rng.integers(2, 24, size=2)
        masks[index, row : row + 6, col : col + 6] = True
    X[masks] += 0.6
    return X, y, masks


@pytest.fixture(scope="module")
def lesion_model(lesion_data):
    X, y, _ = lesion_data
    clf = ScratchCNNClassifier(
        filters=(8, 8),
        dense_units=16,
        dropout=0.0,
        pooling="max",
        epochs=8,
        batch_size=8,
        learning_rate=0.01,
        random_state=0,
    ).fit(X, y)
    assert clf.score(X, y) >= 0.95
    return clf


def test_heatmaps_shape_range_and_dtype(lesion_model, lesion_data):
    X, _, _ = lesion_data
    heatmaps = grad_cam(lesion_model, X[:5])
    assert heatmaps.shape == (5, 32, 32) and heatmaps.dtype == np.float32
    assert heatmaps.min() >= 0.0 and heatmaps.max() <= 1.0


def test_heatmaps_point_at_the_lesion(lesion_model, lesion_data):
    X, y, masks = lesion_data
    malignant = np.flatnonzero(y == "MALIGNANT")
    heatmaps = grad_cam(lesion_model, X[malignant], target="MALIGNANT")
    inside = np.array([h[m].mean() for h, m in zip(heatmaps, masks[malignant])])
    outside = np.array([h[~m].mean() for h, m in zip(heatmaps, masks[malignant])])
    assert np.mean(inside > outside) >= 0.8


def test_matches_a_direct_gradient_tape_computation(lesion_model, lesion_data):
    """Reference: Grad-CAM written out with one two-output model and a tape."""
    import keras
    import tensorflow as tf

    X, _, _ = lesion_data
    images = X[:6, ..., np.newaxis]
    model = lesion_model.model_
    both = keras.Model(
        model.inputs, [model.get_layer("block2_relu").output, model.output]
    )
    with tf.GradientTape() as tape:
        features, logits = both(images, training=False)
        score = tf.reduce_sum(logits[:, 0])  # evidence for classes_[1]
    gradients = tape.gradient(score, features).numpy()
    cams = np.maximum(
        (gradients.mean(axis=(1, 2), keepdims=True) * features.numpy()).sum(-1), 0
    )
    cams = tf.image.resize(cams[..., None], (32, 32), method="bilinear").numpy()[..., 0]
    expected = (
        cams
        / np.where(cams.max(axis=(1, 2)) > 0, cams.max(axis=(1, 2)), 1)[:, None, None]
    )
    np.testing.assert_allclose(
        grad_cam(lesion_model, X[:6], target="MALIGNANT"), expected, atol=1e-5
    )


def test_target_class_zero_negates_binary_evidence(lesion_model, lesion_data):
    X, _, _ = lesion_data
    unnormalised_benign = grad_cam(
        lesion_model, X[:4], target="BENIGN", normalize=False
    )
    unnormalised_malignant = grad_cam(
        lesion_model, X[:4], target="MALIGNANT", normalize=False
    )
    assert not np.allclose(unnormalised_benign, unnormalised_malignant)


def test_predicted_target_is_the_default(lesion_model, lesion_data):
    X, _, _ = lesion_data
    predicted = lesion_model.predict(X[:6])
    per_image = np.stack(
        [
            grad_cam(lesion_model, X[i : i + 1], target=label)[0]
            for i, label in enumerate(predicted)
        ]
    )
    np.testing.assert_allclose(grad_cam(lesion_model, X[:6]), per_image, atol=1e-6)


def test_works_inside_a_fitted_pipeline(lesion_data):
    X, y, _ = lesion_data
    to_images = FunctionTransformer(lambda flat: flat.reshape(-1, 32, 32))
    pipeline = make_pipeline(
        to_images, ScratchCNNClassifier(filters=(4,), epochs=1, random_state=0)
    ).fit(X.reshape(len(X), -1), y)
    heatmaps = grad_cam(pipeline, X[:3].reshape(3, -1))
    np.testing.assert_allclose(heatmaps, grad_cam(pipeline[-1], X[:3]), atol=1e-6)


def test_unknown_target_is_an_error(lesion_model, lesion_data):
    X, _, _ = lesion_data
    with pytest.raises(ValueError, match="not a class"):
        grad_cam(lesion_model, X[:2], target="NORMAL")


def test_non_keras_estimator_is_an_error(lesion_data):
    from sklearn.linear_model import LogisticRegression

    X, y, _ = lesion_data
    flat = X.reshape(len(X), -1)
    with pytest.raises(TypeError, match="mammoclf Keras classifier"):
        grad_cam(LogisticRegression().fit(flat, y), flat)


def test_backend_without_gradients_is_a_clear_error(
    lesion_model, lesion_data, monkeypatch
):
    import keras

    X, _, _ = lesion_data
    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")
    with pytest.raises(BackendNotSupportedError, match="numpy"):
        grad_cam(lesion_model, X[:2])


def test_display_draws_one_overlay_per_image(lesion_model, lesion_data):
    X, y, _ = lesion_data
    display = GradCAMDisplay.from_estimator(lesion_model, X[:5], y[:5], n_cols=3)
    assert len(display.axes_) == 5
    first = display.axes_[0]
    assert len(first.images) == 2  # image, then heatmap on top
    assert first.images[1].get_alpha() == pytest.approx(0.45)
    assert first.get_title().startswith(f"true {y[0]}")
    assert display.figure_.axes[5].axison is False  # unused grid cell hidden


def test_display_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one heatmap per image"):
        GradCAMDisplay(np.zeros((3, 8, 8)), np.zeros((2, 8, 8))).plot()


JAX_GRAD_CAM = """
import pickle, sys
import numpy as np
from mammoclf.inspection import grad_cam
with open(sys.argv[1], "rb") as handle:
    clf, images = pickle.load(handle)
np.save(sys.argv[2], grad_cam(clf, images, target="MALIGNANT"))
"""


# ~17 s: a fresh JAX interpreter compiling the network. It stays in the
# default suite although it is among its heaviest tests: it is the only one
# that runs the JAX backend, the backend of the GPU machines, and CI runs
# nothing else (the static check of tests/classifiers/test_scratch_cnn.py::
# test_model_code_uses_no_tensorflow_api cannot see a runtime failure).
@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed"
)
def test_jax_backend_gives_the_same_heatmaps(lesion_model, lesion_data, tmp_path):
    """The same network, reloaded under KERAS_BACKEND=jax, explains images alike."""
    X, _, _ = lesion_data
    bundle = tmp_path / "model.pkl"
    bundle.write_bytes(pickle.dumps((lesion_model, X[:4])))
    output = tmp_path / "heatmaps.npy"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", JAX_GRAD_CAM, str(bundle), str(output)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(
        np.load(output), grad_cam(lesion_model, X[:4], target="MALIGNANT"), atol=1e-4
    )
