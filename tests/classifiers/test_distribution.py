"""distribution="data_parallel": the same model on two devices as on one.

Two simulated devices need a fresh process (JAX reads ``XLA_FLAGS`` and
TensorFlow fixes its logical devices when it starts), so the two-device
checks run a script in a subprocess; the rest runs here, on this process's
single CPU device.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from mammoclf import DenseNetTransferClassifier, ScratchCNNClassifier
from mammoclf.classifiers import _distribution
from mammoclf.exceptions import BackendNotSupportedError
from mammoclf.utils._keras import import_keras

TWO_DEVICE_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, warnings
    backend = os.environ["KERAS_BACKEND"]
    if backend == "tensorflow":
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from mammoclf import DenseNetTransferClassifier, ScratchCNNClassifier
    from mammoclf.classifiers import _distribution

    rng = np.random.default_rng(0)
    X = rng.random((46, 32, 32), dtype=np.float32) * 0.5
    y = np.array(["BENIGN", "MALIGNANT"] * 23)
    X[y == "MALIGNANT", 12:20, 12:20] += 0.5
    # 46 images, 9 held out: 37 training images in batches of 6 (the last
    # has 1 image) and 9 validation images (the last batch has 3): partial
    # batches that two devices cannot split evenly without padding.
    cnn = ScratchCNNClassifier(
        filters=(4, 8), dense_units=8, epochs=2, batch_size=6,
        validation_fraction=0.19, patience=5, distribution="data_parallel",
        # TensorFlow's replicas draw their own dropout masks (see the docs).
        dropout=0.5 if backend == "jax" else 0.0, random_state=0)
    models = {"cnn": (cnn, X, y)}
    if sys.argv[1:] == ["densenet"]:
        # Staged training on the frozen-prefix cache, streamed from disk:
        # several model.fit calls per fit, PyDataset batches, and the cache's
        # forward passes inside the data-parallel scope. 45 images: the last
        # batch of 8 holds 5.
        models = {"densenet": (DenseNetTransferClassifier(
            weights=None, freeze_schedule="conv5", frozen_cache="disk",
            dense_units=8, epochs=1, batch_size=8,
            distribution="data_parallel", random_state=0), X[:45], y[:45])}

    def replicas(model):
        value = model.weights[0].value
        if backend == "jax":
            return len(value.sharding.device_set)
        return len(getattr(value, "values", [value]))

    report = {"devices": _distribution.data_parallel_devices(
        __import__("keras"))}
    for name, (estimator, X_fit, y_fit) in models.items():
        two = estimator.fit(X_fit, y_fit)
        report[name] = {"two_proba": two.predict_proba(X_fit)[:, 1].tolist(),
                        "two_loss": two.history_["loss"],
                        "two_val_loss": two.history_.get("val_loss"),
                        "two_replicas": replicas(two.model_)}
    # The one-device reference: the same process and option, one device listed.
    first_device = report["devices"][:1]
    _distribution.data_parallel_devices = lambda keras: first_device
    for name, (estimator, X_fit, y_fit) in models.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            one = estimator.fit(X_fit, y_fit)
        report[name].update(
            one_proba=one.predict_proba(X_fit)[:, 1].tolist(),
            one_loss=one.history_["loss"],
            one_val_loss=one.history_.get("val_loss"),
            one_replicas=replicas(one.model_),
            one_device_warning=[str(w.message) for w in caught
                                if "single device" in str(w.message)])
    print(json.dumps(report))
    """
)


def _run_two_device_script(backend, *args):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if backend == "jax":
        env.update(
            JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2"
        )
    result = subprocess.run(
        [sys.executable, "-c", TWO_DEVICE_SCRIPT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _assert_two_devices_train_like_one(report, name):
    model = report[name]
    assert model["two_replicas"] == 2 and model["one_replicas"] == 1
    assert len(model["one_device_warning"]) == 1
    np.testing.assert_allclose(model["two_proba"], model["one_proba"], atol=1e-5)
    np.testing.assert_allclose(model["two_loss"], model["one_loss"], rtol=1e-5)
    if model["one_val_loss"] is not None:
        np.testing.assert_allclose(
            model["two_val_loss"], model["one_val_loss"], rtol=1e-5
        )
    # Training moved the model: the equality is not that of two untrained nets.
    assert np.ptp(model["two_proba"]) > 1e-3


@pytest.mark.slow  # a fresh interpreter per device count, on DenseNet121
@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed"
)
def test_jax_data_parallel_on_two_devices_equals_one_device():
    """keras.distribution.DataParallel: dropout included, up to summation order."""
    report = _run_two_device_script("jax")
    assert report["devices"] == ["cpu:0", "cpu:1"]
    _assert_two_devices_train_like_one(report, "cnn")


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed"
)
def test_jax_data_parallel_densenet_stages_on_two_devices_equal_one_device():
    """Two stages on disk-cached activations (a minute or two of JAX compilation)."""
    report = _run_two_device_script("jax", "densenet")
    _assert_two_devices_train_like_one(report, "densenet")


@pytest.mark.slow  # a fresh interpreter per device count, on DenseNet121
def test_tensorflow_mirrored_strategy_on_two_devices_equals_one_device():
    """tf.distribute.MirroredStrategy over two logical CPU devices."""
    report = _run_two_device_script("tensorflow")
    assert report["devices"] == ["cpu:0", "cpu:1"]
    _assert_two_devices_train_like_one(report, "cnn")


# ---------------------------------------------------------------- in-process
def _weighted_mean_loss(losses, weights):
    """Keras's "sum_over_batch_size" reduction of per-row losses."""
    return np.sum(losses * weights) / losses.shape[0]


@pytest.mark.parametrize("n_rows, n_padded", [(5, 6), (1, 4), (8, 8)])
def test_padding_keeps_the_batch_loss(n_rows, n_padded):
    rng = np.random.default_rng(n_rows)
    x = rng.random((n_rows, 3, 3, 1)).astype(np.float32)
    y = rng.integers(0, 2, (n_rows, 1)).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, n_rows).astype(np.float32)
    x_pad, y_pad, w_pad = _distribution.pad_batch(x, y, weights, n_padded)
    assert x_pad.shape[0] == y_pad.shape[0] == w_pad.shape[0] == n_padded
    np.testing.assert_array_equal(x_pad[:n_rows], x)
    np.testing.assert_array_equal(w_pad[n_rows:], 0.0)
    # Any per-row loss: padding rows repeat real rows, at weight 0.
    row_loss = lambda xs, ys: xs.mean(axis=(1, 2, 3)) + ys[:, 0]
    np.testing.assert_allclose(
        _weighted_mean_loss(row_loss(x_pad, y_pad), w_pad),
        _weighted_mean_loss(row_loss(x, y), weights),
        rtol=1e-6,
    )


def test_inputs_pass_through_outside_a_data_parallel_fit():
    inputs = {"x": np.zeros((3, 2)), "y": np.zeros(3), "batch_size": 2}
    assert _distribution.data_parallel_inputs(import_keras(), inputs) is inputs


def test_batches_keep_every_row_once_per_epoch():
    keras = import_keras()
    X = np.arange(11, dtype=np.float32)[:, None]
    y, w = X.copy(), np.ones(11, np.float32)
    # The feed of a data-parallel fit, without the backend scope around it.
    feed = _distribution._Feed(batch_size=4, seed=0)
    token = _distribution._active_feed.set(feed)
    try:
        inputs = _distribution.data_parallel_inputs(
            keras,
            {
                "x": X,
                "y": y,
                "sample_weight": w,
                "batch_size": 4,
                "shuffle": True,
                "validation_data": (X, y, w),
            },
        )
    finally:
        _distribution._active_feed.reset(token)
    assert inputs["shuffle"] is False
    epochs = []
    for _ in range(2):
        batches = [inputs["x"][i] for i in range(len(inputs["x"]))]
        assert [b[0].shape[0] for b in batches] == [4, 4, 4]  # 3 rows padded to 4
        rows = np.concatenate([b[0][b[2] > 0, 0] for b in batches])
        assert sorted(rows) == list(range(11))
        epochs.append(rows)
        inputs["x"].on_epoch_end()
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled per epoch
    validation = [inputs["validation_data"][i][0][:, 0] for i in range(3)]
    np.testing.assert_array_equal(np.concatenate(validation)[:11], np.arange(11))


def test_single_device_warns_and_trains_as_data_parallel_would(toy_images):
    X, y, _ = toy_images
    params = {
        "filters": (4,),
        "dense_units": 8,
        "epochs": 1,
        "batch_size": 16,
        "random_state": 0,
    }
    with pytest.warns(UserWarning, match=r"single device \(cpu:0\)"):
        clf = ScratchCNNClassifier(distribution="data_parallel", **params).fit(X, y)
    assert clf.distribution == "data_parallel"  # stored untouched
    assert clf.predict_proba(X).shape == (60, 2)


def test_batch_size_must_split_across_devices(toy_images, monkeypatch):
    X, y, _ = toy_images
    monkeypatch.setattr(
        _distribution,
        "data_parallel_devices",
        lambda keras: ["gpu:0", "gpu:1", "gpu:2"],
    )
    clf = ScratchCNNClassifier(
        filters=(4,), epochs=1, batch_size=16, distribution="data_parallel"
    )
    with pytest.raises(
        ValueError,
        match=r"batch_size=16 is not a multiple of 3.*"
        r"batch_size=18",
    ):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_other_backends_are_refused(toy_images, monkeypatch, backend):
    X, y, _ = toy_images
    keras = import_keras()
    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    clf = DenseNetTransferClassifier(
        weights=None, freeze_schedule="frozen", epochs=1, distribution="data_parallel"
    )
    with pytest.raises(
        BackendNotSupportedError, match=f"active backend is '{backend}'"
    ):
        clf.fit(X, y)


def test_distribution_is_validated_in_fit(toy_images):
    X, y, _ = toy_images
    clf = ScratchCNNClassifier(distribution="model_parallel")  # no error yet
    with pytest.raises(InvalidParameterError, match="distribution"):
        clf.fit(X, y)
