"""ScratchCNNClassifier: architecture hyperparameters and backend independence."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mammoclf import ScratchCNNClassifier

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "mammoclf"
# The keys of the stages_ record every mammoclf classifier writes.
STAGE_KEYS = (
    "learning_rate",
    "epochs",
    "epochs_run",
    "first_epoch",
    "n_trainable_params",
    "fit_time",
)


def _fit(X, y, **params):
    defaults = {"filters": (4,), "dense_units": 8, "epochs": 1, "random_state": 0}
    return ScratchCNNClassifier(**{**defaults, **params}).fit(X, y)


def test_one_block_per_filter_count(toy_images):
    X, y, _ = toy_images
    model = _fit(X, y, filters=(4, 8, 16)).model_
    convs = [layer for layer in model.layers if layer.name.endswith("_conv")]
    assert [layer.filters for layer in convs] == [4, 8, 16]
    assert [layer.kernel_size for layer in convs] == [(3, 3)] * 3
    pools = [
        layer
        for layer in model.layers
        if layer.name.endswith("_pool") and "block" in layer.name
    ]
    assert len(pools) == 3
    # Three 2x2 poolings: 32 -> 4 pixels a side, 16 channels, flattened.
    assert model.get_layer("head_pool").output.shape[-1] == 4 * 4 * 16


@pytest.mark.parametrize(
    "pooling, features", [("flatten", 16 * 16 * 4), ("avg", 4), ("max", 4)]
)
def test_pooling_choices(toy_images, pooling, features):
    X, y, _ = toy_images
    model = _fit(X, y, pooling=pooling).model_
    assert model.get_layer("head_pool").output.shape[-1] == features


def test_head_hyperparameters(toy_images):
    X, y, _ = toy_images
    model = _fit(X, y, dense_units=12, dropout=0.25, kernel_size=5).model_
    assert model.get_layer("head_dense").units == 12
    assert model.get_layer("head_dropout").rate == 0.25
    assert model.get_layer("block1_conv").kernel_size == (5, 5)


def test_batch_normalization_switch(toy_images):
    X, y, _ = toy_images
    names = {layer.name for layer in _fit(X, y, batch_normalization=True).model_.layers}
    assert "block1_bn" in names
    names = {layer.name for layer in _fit(X, y).model_.layers}
    assert "block1_bn" not in names


def test_fitted_contract_shared_with_densenet(toy_images):
    """One stage_ record, and the feature map Grad-CAM reads, as DenseNet has."""
    X, y, _ = toy_images
    clf = _fit(X, y, filters=(4, 8))
    layer = clf.model_.get_layer(clf.feature_map_layer_)
    # Block 2 sees the 16x16 map left by block 1's pooling, before its own.
    assert tuple(layer.output.shape) == (None, 16, 16, 8)
    (stage,) = clf.stages_
    assert set(stage) == set(STAGE_KEYS)
    assert (stage["epochs_run"], stage["first_epoch"]) == (clf.n_epochs_, 0)
    assert stage["epochs"] == clf.epochs and stage["learning_rate"] == 1e-3
    assert stage["n_trainable_params"] == sum(
        int(np.prod(w.shape)) for w in clf.model_.trainable_weights
    )
    assert 0 < stage["fit_time"] <= clf.fit_time_
    np.testing.assert_array_equal(clf.model_inputs(X[:2]), X[:2, :, :, None])


def test_one_pixel_high_images_are_valid():
    """Same padding lets 2-D tabular rows (1 x d images) flow through every block."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 5))
    y = (X[:, 0] > 0).astype(int)
    clf = ScratchCNNClassifier(
        filters=(4, 4, 4), image_shape=(1, -1), epochs=1, random_state=0
    ).fit(X, y)
    assert clf.image_shape_ == (1, 5, 1)
    assert clf.predict_proba(X).shape == (20, 2)


def test_model_code_uses_no_tensorflow_api():
    """Model code must run on any Keras 3 backend: no `tf.` calls, no TF import.

    ``_distribution.py`` is the one backend switch (MirroredStrategy on
    TensorFlow, keras.distribution on JAX), moved here from utils; it imports
    TensorFlow only when that backend is active.
    """
    backend_switches = {"_distribution.py"}
    for path in (PACKAGE_ROOT / "classifiers").glob("*.py"):
        if path.name in backend_switches:
            continue
        source = path.read_text()
        assert "import tensorflow" not in source, path
        assert "tf." not in source.replace("pdf.", ""), path


JAX_SCRIPT = textwrap.dedent(
    """
    import ctypes, gc, json, sys
    import numpy as np
    import psutil
    from mammoclf import ScratchCNNClassifier

    rng = np.random.default_rng(0)
    X = rng.random((32, 32, 32), dtype=np.float32)
    y = np.array([0, 1] * 16)
    process = psutil.Process()
    rss = []
    for seed in range(24):
        clf = ScratchCNNClassifier(filters=(4,), dense_units=8, epochs=1, random_state=seed)
        proba = clf.fit(X, y).predict_proba(X)
        assert np.all(np.isfinite(proba))
        del clf
        gc.collect()
        # Hand freed heap pages back to the OS, so that RSS follows live
        # memory rather than the allocator's arena high-water marks.
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        rss.append(process.memory_info().rss / 2**20)
    import keras
    repeat = ScratchCNNClassifier(filters=(4,), dense_units=8, epochs=1, random_state=3)
    first = repeat.fit(X, y).predict_proba(X)
    second = repeat.fit(X, y).predict_proba(X)
    print(json.dumps({"backend": keras.backend.backend(), "rss_mb": rss,
                      "refit_identical": bool(np.array_equal(first, second)),
                      "tensorflow_imported": "tensorflow" in sys.modules}))
    """
)


@pytest.mark.slow  # a fresh JAX interpreter and 20 fits; so is Grad-CAM on JAX
@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed"
)
@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="RSS is read after glibc's malloc_trim"
)
def test_runs_on_jax_backend_without_leaking():
    """Backend-agnostic model code, and flat RSS over 24 successive fits.

    On the JAX backend the framework frees everything a fit creates, so this
    measures mammoclf's own footprint. (TensorFlow 2.21 keeps each traced
    training graph alive through C++-held references, ~1-7 MB per fit of a
    tiny model, whoever calls ``model.fit``: upstream tensorflow#61791.)
    """
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert report["refit_identical"]
    # Seeding a fit must not import an unused TensorFlow (~5 s, ~500 MB).
    assert not report["tensorflow_imported"]
    rss = report["rss_mb"]
    # After warm-up (first compilations), 16 more fits may not grow RSS by
    # 10 MB (measured: ~3 MB; TensorFlow's own leak would add 16-110 MB).
    growth = np.median(rss[-4:]) - np.median(rss[4:8])
    assert growth < 10, rss
