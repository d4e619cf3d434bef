"""DenseNetTransferClassifier: backbone, weights, freeze schedules, search, persistence.

DenseNet fits cost seconds each, so most tests read the session fixtures of
``conftest.py``: a frozen DenseNet121 (the default suite's one DenseNet121
fit) and a partially unfrozen shallow DenseNet (tests/shallow_densenet.py),
each loaded from a weights file written by the suite. Full fine-tuning, and
the partial preset and pickling on DenseNet121, are ``slow``.
"""

import copy
import json
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import urllib.error

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupShuffleSplit

from mammoclf import DenseNetTransferClassifier
from mammoclf.classifiers import BACKBONES
from mammoclf.classifiers._transfer_network import (
    attach_head,
    block_layers,
    block_start_tensors,
    build_backbone,
    pretrained_backbone,
)
from mammoclf.exceptions import (
    FreezeScheduleError,
    InvalidImageError,
    WeightsUnavailableError,
)
from mammoclf.utils._keras import import_keras
from tests.classifiers.test_scratch_cnn import STAGE_KEYS
from tests.shallow_densenet import SHALLOW_BLOCKS, ShallowDenseNetClassifier


def head_params(n_features):
    """Parameters of head_dense (16 units) and the binary logits layer."""
    return n_features * 16 + 16 + 16 * 1 + 1


HEAD_PARAMS = head_params(1024)  # DenseNet121's 1024 features
# The shallow DenseNet's one conv block per dense block adds 32 channels to
# each, and each transition halves them: 64+32 -> 48+32 -> 40+32 -> 36+32.
SHALLOW_HEAD_PARAMS = head_params(68)


def densenet(**params):
    """A DenseNet estimator sized for tests: random weights, small head.

    ``batch_size=64`` covers the 60 toy images, so the frozen part and
    predictions run as single direct calls instead of traced functions.
    """
    defaults = {
        "weights": None,
        "dense_units": 16,
        "epochs": 1,
        "batch_size": 64,
        "random_state": 0,
    }
    return DenseNetTransferClassifier(**{**defaults, **params})


def _changed_layers(model, reference):
    """Names of the layers whose weights differ from ``reference`` (name -> list)."""
    return {
        name
        for name, expected in reference.items()
        if any(
            not np.array_equal(got, want)
            for got, want in zip(model.get_layer(name).get_weights(), expected)
        )
    }


# -------------------------------------------------------------- frozen preset
def test_frozen_preset_trains_exactly_the_head(frozen_densenet, densenet_weights):
    _, file_values = densenet_weights
    model = frozen_densenet.model_
    trainable_layers = {w.path.split("/")[0] for w in model.trainable_weights}
    assert trainable_layers == {"head_dense", "logits"}
    # Every backbone weight is the file's: loaded, then left alone by fit.
    assert _changed_layers(model, file_values) == set()
    (stage,) = frozen_densenet.stages_
    assert stage["trainable_blocks"] == ("head",)
    assert stage["n_trainable_params"] == HEAD_PARAMS


def test_frozen_preset_records_one_cached_stage(frozen_densenet):
    (stage,) = frozen_densenet.stages_
    # The keys every classifier records, and DenseNet's own.
    assert set(stage) == {
        *STAGE_KEYS,
        "unfreeze",
        "trainable_blocks",
        "frozen_cache",
        "cache_time",
        # Where the frozen activations came from (issue 18's shared store).
        "activations_from",
        "store_rows_read",
        "store_rows_computed",
    }
    assert stage["unfreeze"] is None
    assert (stage["epochs"], stage["epochs_run"], stage["first_epoch"]) == (2, 2, 0)
    assert stage["learning_rate"] == pytest.approx(1e-3)
    assert stage["frozen_cache"] == "memory"
    assert len(frozen_densenet.history_["loss"]) == frozen_densenet.n_epochs_ == 2


# ------------------------------------------------------------- partial preset
# The partial preset's tests run on the shallow DenseNet by default (its
# blocks, names and staging are DenseNet121's, with one conv block per dense
# block); test_partial_preset_on_densenet121 repeats them on DenseNet121.
def _assert_conv5_and_nothing_else_changed(clf, file_values, conv5_blocks):
    model = clf.model_
    conv5_convolutions = {
        layer.name
        for layer in block_layers(model, BACKBONES["densenet121"])["conv5"]
        if type(layer).__name__ == "Conv2D"
    }
    assert len(conv5_convolutions) == 2 * conv5_blocks  # 2 per conv block
    assert _changed_layers(model, file_values) == conv5_convolutions


def test_partial_preset_changes_conv5_and_nothing_else(
    partial_densenet, shallow_densenet_weights
):
    _, file_values = shallow_densenet_weights
    _assert_conv5_and_nothing_else_changed(
        partial_densenet, file_values, conv5_blocks=SHALLOW_BLOCKS[3]
    )


def _assert_batchnorm_untouched(clf, file_values, dense_blocks):
    model = clf.model_
    batch_norms = [
        layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"
    ]
    # The stem's, two per conv block, one per transition (3), the final bn.
    assert len(batch_norms) == 1 + 2 * sum(dense_blocks) + 3 + 1
    assert any(layer.name.startswith("conv5_") for layer in batch_norms)
    for layer in batch_norms:
        assert not layer.trainable, layer.name  # frozen, hence inference mode
        gamma, beta, moving_mean, moving_variance = layer.get_weights()
        expected = file_values[layer.name]
        np.testing.assert_array_equal(moving_mean, expected[2], err_msg=layer.name)
        np.testing.assert_array_equal(moving_variance, expected[3], err_msg=layer.name)
        np.testing.assert_array_equal(gamma, expected[0], err_msg=layer.name)
        np.testing.assert_array_equal(beta, expected[1], err_msg=layer.name)


def test_backbone_batchnorm_is_untouched_while_fine_tuning(
    partial_densenet, shallow_densenet_weights
):
    _, file_values = shallow_densenet_weights
    _assert_batchnorm_untouched(partial_densenet, file_values, SHALLOW_BLOCKS)


def _assert_partial_stages(clf, head_params):
    stages = clf.stages_
    model = clf.model_
    conv5_params = sum(
        int(np.prod(w.shape))
        for layer in block_layers(model, BACKBONES["densenet121"])["conv5"]
        if type(layer).__name__ == "Conv2D"
        for w in layer.weights
    )
    assert [s["unfreeze"] for s in stages] == [None, "conv5"]
    assert [s["trainable_blocks"] for s in stages] == [("head",), ("conv5", "head")]
    assert [s["learning_rate"] for s in stages] == pytest.approx([1e-3, 1e-4])
    assert [s["n_trainable_params"] for s in stages] == [
        head_params,
        head_params + conv5_params,
    ]
    assert [(s["first_epoch"], s["epochs_run"]) for s in stages] == [(0, 1), (1, 1)]
    assert [s["frozen_cache"] for s in stages] == ["memory", "memory"]
    assert clf.n_epochs_ == len(clf.history_["loss"]) == 2


def test_partial_stages_match_the_schedule(partial_densenet):
    _assert_partial_stages(partial_densenet, SHALLOW_HEAD_PARAMS)


@pytest.mark.slow  # ~20 s: DenseNet121 trains conv5; default: the three tests above
def test_partial_preset_on_densenet121(toy_images, densenet_weights):
    """The partial preset's tests above, on DenseNet121 from its weights file."""
    X, y, _ = toy_images
    path, file_values = densenet_weights
    # partial_densenet's parameters, on DenseNet121.
    clf = densenet(weights=str(path), freeze_schedule="partial", batch_size=32)
    clf.fit(X, y)
    _assert_conv5_and_nothing_else_changed(clf, file_values, conv5_blocks=16)
    _assert_batchnorm_untouched(clf, file_values, (6, 12, 24, 16))
    _assert_partial_stages(clf, HEAD_PARAMS)


# -------------------------------------------------- staged training mechanics
def test_custom_schedule_runs_epochs_on_and_is_not_mutated(toy_images, monkeypatch):
    from mammoclf.classifiers import _frozen_features

    X, y, _ = toy_images
    schedule = [{"epochs": 3}, {"unfreeze": None, "epochs": 2, "learning_rate": 1e-4}]
    original = copy.deepcopy(schedule)
    forward_calls = []
    real_forward = _frozen_features._forward_in_batches

    def counting_forward(*args, **kwargs):
        forward_calls.append(args[2].shape[0])
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(_frozen_features, "_forward_in_batches", counting_forward)
    # The stage mechanics, not DenseNet121's graph: the shallow DenseNet.
    clf = ShallowDenseNetClassifier(
        **densenet(
            freeze_schedule=schedule, validation_fraction=0.25, patience=1
        ).get_params()
    )
    clf.fit(X, y)
    assert clf.freeze_schedule is schedule and schedule == original
    first, second = clf.stages_
    assert second["first_epoch"] == first["epochs_run"]
    assert 1 <= first["epochs_run"] <= 3 and 1 <= second["epochs_run"] <= 2
    assert second["learning_rate"] == pytest.approx(1e-4)
    for key in ("loss", "val_loss", "val_auc"):
        assert len(clf.history_[key]) == first["epochs_run"] + second["epochs_run"]
    # Both head-only stages read one cache, computed once for the 45 training
    # and the 15 validation images.
    assert sorted(forward_calls) == [15, 45]
    assert [s["frozen_cache"] for s in clf.stages_] == ["memory", "memory"]


@pytest.mark.parametrize(
    "schedule, match",
    [
        ("parital", "not a preset"),
        ({"unfreeze": "conv5"}, "single dict"),
        ([{"unfreeze": "conv9"}], "not a block"),
        ([{"epochs": -1}], "positive integer"),
        ([{"unfreeze": "conv5"}], "before the new head has trained"),
    ],
)
def test_malformed_schedule_fails_before_training(toy_images, schedule, match):
    X, y, _ = toy_images
    with pytest.raises(FreezeScheduleError, match=match):
        densenet(freeze_schedule=schedule).fit(X, y)


@pytest.mark.slow  # two uncached DenseNet121 fits; cache equality: test_disk_cache_streams_...
# ------------------------------------------------------------- frozen caching
def test_auto_cache_is_off_with_callbacks_and_results_match(
    frozen_densenet, toy_images
):
    """Caching changes speed, not results: the frozen preset without it."""
    keras = import_keras()
    X, y, _ = toy_images

    class SeenModels(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.n_layers = set()

        def on_epoch_end(self, epoch, logs=None):
            self.n_layers.add(len(self.model.layers))

    seen = SeenModels()
    uncached = clone(frozen_densenet).set_params(callbacks=[seen]).fit(X, y)
    assert uncached.stages_[0]["frozen_cache"] is None
    assert seen.n_layers == {len(uncached.model_.layers)}  # the whole network
    np.testing.assert_allclose(
        uncached.decision_function(X[:32]),
        frozen_densenet.decision_function(X[:32]),
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        uncached.history_["loss"], frozen_densenet.history_["loss"], rtol=1e-4
    )


@pytest.mark.slow  # about 30 s: traces training through the whole network
def test_partial_preset_predictions_equal_without_cache(partial_densenet, toy_images):
    X, y, _ = toy_images
    uncached = clone(partial_densenet).set_params(frozen_cache="off").fit(X, y)
    assert [s["frozen_cache"] for s in uncached.stages_] == [None, None]
    np.testing.assert_allclose(
        uncached.decision_function(X[:32]),
        partial_densenet.decision_function(X[:32]),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.slow  # ~20 s: three DenseNet121 fits; tests/utils covers the disk store
def test_disk_cache_streams_and_matches_memory_cache(toy_images):
    X, y, _ = toy_images
    # One batch per epoch and no dropout: the disk stream orders samples its
    # own way, and only then is the order irrelevant to training.
    params = {
        "freeze_schedule": "frozen",
        "epochs": 2,
        "batch_size": 64,
        "dropout": 0.0,
        "validation_fraction": 0.2,
    }
    in_memory = densenet(frozen_cache="memory", **params).fit(X, y)
    on_disk = densenet(frozen_cache="disk", **params).fit(X, y)
    assert on_disk.stages_[0]["frozen_cache"] == "disk"
    np.testing.assert_allclose(
        on_disk.history_["val_loss"], in_memory.history_["val_loss"], rtol=1e-5
    )
    np.testing.assert_allclose(
        on_disk.decision_function(X[:32]),
        in_memory.decision_function(X[:32]),
        rtol=1e-4,
        atol=1e-6,
    )


# -------------------------------------------------------------------- weights
def test_weights_file_in_legacy_h5_layout(tmp_path, densenet_weights):
    """The layout of Keras's downloaded ``*_notop.h5`` files loads too."""
    h5py = pytest.importorskip("h5py")
    _, file_values = densenet_weights
    path = tmp_path / "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [name.encode() for name in file_values]
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.1.5"
        for name, values in file_values.items():
            group = handle.create_group(name)
            weight_names = [f"{name}/w{i}:0".encode() for i in range(len(values))]
            group.attrs["weight_names"] = weight_names
            for weight_name, value in zip(weight_names, values):
                group.create_dataset(weight_name.decode(), data=value)
    loaded = pretrained_backbone(
        import_keras(), description=BACKBONES["densenet121"], weights=str(path)
    )
    assert _changed_layers(loaded, file_values) == set()


def test_offline_imagenet_weights_name_the_file_and_alternatives(
    toy_images, tmp_path, monkeypatch
):
    from keras.src.utils import file_utils  # where Keras downloads

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError(
            socket.gaierror(-3, "Temporary failure in name resolution")
        )

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    # An empty Keras cache, so a weights file cached on this machine is not found.
    monkeypatch.setattr(file_utils.config, "_KERAS_DIR", str(tmp_path))
    X, y, _ = toy_images
    with pytest.raises(WeightsUnavailableError) as info:
        densenet(weights="imagenet", backbone="densenet169").fit(X, y)
    message = str(info.value)
    assert "densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert "$KERAS_HOME/models/" in message and "~/.keras/models/" in message
    assert "weights=None" in message and "weights='/path/to/" in message
    assert "URL fetch failure" in message  # Keras's own reason is kept
    assert not os.listdir(tmp_path / "models")  # nothing half-downloaded remains


def test_missing_or_foreign_weights_file(toy_images, tmp_path):
    X, y, _ = toy_images
    with pytest.raises(FileNotFoundError, match="neither 'imagenet' nor an existing"):
        densenet(weights=str(tmp_path / "nowhere.h5")).fit(X, y)
    foreign = tmp_path / "notes.weights.h5"
    foreign.write_text("not an HDF5 file")
    with pytest.raises(WeightsUnavailableError, match="notes.weights.h5"):
        densenet(weights=foreign).fit(X, y)


@pytest.mark.parametrize(
    "backbone, n_conv5_blocks",
    [
        ("densenet169", 32),
        # 201 splits as 169 does; building it costs ~9 s.
        pytest.param("densenet201", 32, marks=pytest.mark.slow),
    ],
)
def test_larger_backbones_split_into_the_same_blocks(backbone, n_conv5_blocks):
    keras = import_keras()
    description = BACKBONES[backbone]
    inputs, features = build_backbone(
        keras, description=description, input_shape=(32, 32, 1), resize_to=None
    )
    model = attach_head(
        keras,
        inputs,
        features,
        backbone=backbone,
        dense_units=8,
        dropout=0.2,
        n_outputs=1,
        seed=0,
    )
    blocks = block_layers(model, description)
    assert list(blocks) == ["stem", "conv2", "conv3", "conv4", "conv5", "head"]
    concatenations = [
        layer.name for layer in blocks["conv5"] if layer.name.endswith("_concat")
    ]
    assert len(concatenations) == n_conv5_blocks
    assert blocks["conv5"][-3:] == [
        model.get_layer(n) for n in ("bn", "relu", "avg_pool")
    ]
    # Every block boundary is one tensor: the part above it is a model of its own.
    for name, tensor in block_start_tensors(blocks).items():
        above = keras.Model(tensor, model.output)
        assert above.get_layer("logits") is model.get_layer("logits"), name


# --------------------------------------------------------------------- inputs
def test_small_images_and_odd_channels_are_rejected_clearly(toy_images):
    X, y, _ = toy_images
    with pytest.raises(InvalidImageError, match=r"at least 32x32.*resize_to"):
        densenet().fit(X[:, :20, :20], y)
    with pytest.raises(InvalidImageError, match="2 channels"):
        densenet().fit(np.stack([X, X], axis=-1), y)
    with pytest.raises(InvalidImageError, match=r"resize_to=\(16, 16\)"):
        densenet(resize_to=(16, 16)).fit(X, y)


@pytest.mark.slow  # ~9 s; mixed precision also in tests/utils/test_activation_store.py
def test_mixed_precision_with_resizing(toy_images):
    X, y, _ = toy_images
    small = X[:, ::2, ::2]  # 16x16, resized to 32x32 inside the model
    clf = densenet(
        freeze_schedule="frozen", resize_to=(32, 32), precision="mixed_bfloat16"
    ).fit(small, y)
    model = clf.model_
    assert model.get_layer("resize").output.shape[1:3] == (32, 32)
    assert model.get_layer("conv5_block16_2_conv").compute_dtype == "bfloat16"
    assert model.get_layer("head_dense").compute_dtype == "bfloat16"
    assert model.get_layer("logits").compute_dtype == "float32"
    assert model.get_layer("imagenet_normalization").compute_dtype == "float32"
    assert model.output.dtype == "float32"
    proba = clf.predict_proba(small[:8])
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert clf.stages_[0]["frozen_cache"] == "memory"


# --------------------------------------------------- search, clone, persistence
def test_grid_search_over_unfreeze_depth(toy_images):
    X, y, groups = toy_images
    search = GridSearchCV(
        # DenseNet121's blocks and names at a seventh of its layers: what is
        # tested is the search over the schedule (DenseNet121's own stages
        # are tested above; its grid search runs in tests/model_selection).
        ShallowDenseNetClassifier(**densenet(batch_size=32).get_params()),
        {"freeze_schedule": ["frozen", "conv5"]},
        scoring="roc_auc",
        # One patient-grouped hold-out split keeps this to two fits; every
        # patient has both labels here, so each test fold has both classes.
        cv=GroupShuffleSplit(n_splits=1, test_size=0.5, random_state=0),
        refit=False,  # the refit is one more ordinary fit
    )
    search.fit(X, y, groups=groups)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    assert search.best_params_["freeze_schedule"] in ("frozen", "conv5")
    assert list(search.cv_results_["param_freeze_schedule"]) == ["frozen", "conv5"]


def test_scores_do_not_depend_on_the_other_images_of_the_batch(
    frozen_densenet, toy_images
):
    """An image's score alone equals its score among others, to float32 rounding.

    (scikit-learn's check_methods_subset_invariance asks for 1e-7, which
    batch-size-dependent convolution kernels do not meet: see test_common.)
    """
    X, _, _ = toy_images
    together = frozen_densenet.predict_proba(X[:12])
    # Four suffice: each image scored alone is a whole DenseNet121 pass.
    alone = np.concatenate(
        [frozen_densenet.predict_proba(X[i : i + 1]) for i in range(4)]
    )
    np.testing.assert_allclose(alone, together[:4], rtol=1e-5, atol=1e-6)
    reordered = frozen_densenet.predict_proba(X[:12][::-1])[::-1]
    np.testing.assert_allclose(reordered, together, rtol=1e-5, atol=1e-6)


def _assert_clone_and_pickle_round_trip(fitted, X):
    fresh = clone(fitted)
    assert not hasattr(fresh, "model_")
    assert fresh.get_params() == fitted.get_params()
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(
        restored.predict_proba(X[:16]), fitted.predict_proba(X[:16]), rtol=1e-6
    )
    assert restored.stages_ == fitted.stages_
    assert restored.model_.get_layer("head_dense").trainable


def test_clone_and_pickle_round_trip(partial_densenet, toy_images):
    """Both stages' records and the network survive; on the shallow DenseNet."""
    X, _, _ = toy_images
    _assert_clone_and_pickle_round_trip(partial_densenet, X)


@pytest.mark.slow  # ~20 s: DenseNet121's network to bytes and back; default: above
def test_clone_and_pickle_round_trip_of_densenet121(frozen_densenet, toy_images):
    X, _, _ = toy_images
    _assert_clone_and_pickle_round_trip(frozen_densenet, X)


def test_grad_cam_layer_is_the_last_feature_map(frozen_densenet, toy_images):
    keras = import_keras()
    X, _, _ = toy_images
    model = frozen_densenet.model_
    layer = model.get_layer(frozen_densenet.feature_map_layer_)
    probe = keras.Model(model.input, [layer.output, model.output])
    feature_map, logits = probe(X[:2, :, :, np.newaxis], training=False)
    assert tuple(feature_map.shape) == (2, 1, 1, 1024)  # 32 px / 32
    # A direct call of 2 images against (once earlier tests spent the direct
    # budget) the traced function's padded batch of 32: float32 rounding.
    np.testing.assert_allclose(
        np.asarray(logits)[:, 0],
        frozen_densenet.decision_function(X[:2]),
        rtol=1e-5,
        atol=1e-6,
    )


# ----------------------------------------------------------------------- slow
@pytest.mark.slow  # about 100 s: the last stages train the whole network
def test_gradual_preset_unfreezes_block_by_block(toy_images):
    X, y, _ = toy_images
    clf = densenet(freeze_schedule="gradual").fit(X, y)
    stages = clf.stages_
    assert [s["unfreeze"] for s in stages] == [
        None,
        "conv5",
        "conv4",
        "conv3",
        "conv2",
        "all",
    ]
    assert stages[-1]["trainable_blocks"] == (
        "stem",
        "conv2",
        "conv3",
        "conv4",
        "conv5",
        "head",
    )
    assert [s["frozen_cache"] for s in stages] == [
        "memory",
        "memory",
        "memory",
        None,
        None,
        None,
    ]
    counts = [s["n_trainable_params"] for s in stages]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert [s["first_epoch"] for s in stages] == list(range(6))


JAX_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import keras
    from mammoclf import DenseNetTransferClassifier

    rng = np.random.default_rng(0)
    X = rng.random((20, 32, 32)).astype("float32")
    y = np.array([0, 1] * 10)
    clf = DenseNetTransferClassifier(weights=None, freeze_schedule="frozen",
                                     dense_units=8, epochs=1, batch_size=32,
                                     random_state=0).fit(X, y)
    proba = clf.predict_proba(X[:4])
    print(json.dumps({"backend": keras.backend.backend(),
                      "proba": proba.tolist(),
                      "cache": clf.stages_[0]["frozen_cache"]}))
    """
)


@pytest.mark.slow  # about a minute: JAX compiles each DenseNet operation on CPU
def test_fits_on_the_jax_backend():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert report["cache"] == "memory"
    proba = np.array(report["proba"])
    assert proba.shape == (4, 2) and np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
