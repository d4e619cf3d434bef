"""ActivationCache and batch streaming, on a small dense network (fast).

The DenseNet-level guarantees (same predictions with and without caching)
are in test_densenet.py; here the mechanics: what is computed from what,
when caches go stale, where they are stored and how they are streamed.
"""

import os

import numpy as np
import pytest

from mammoclf.classifiers import _frozen_features
from mammoclf.classifiers._frozen_features import (
    ActivationCache,
    Cut,
    stochastic_layers,
    stream_batches,
)
from mammoclf.utils._keras import import_keras, keras_seed


@pytest.fixture(scope="module")
def keras():
    return import_keras()


@pytest.fixture(scope="module")
def network(keras):
    """image(6) -> a -> b -> c; cuts at the inputs of b and c."""
    with keras_seed(keras, 0):
        inputs = keras.Input((6,), name="image")
        x = keras.layers.Dense(5, activation="relu", name="a")(inputs)
        x = keras.layers.Dense(4, activation="relu", name="b")(x)
        outputs = keras.layers.Dense(2, name="c")(x)
        model = keras.Model(inputs, outputs)
    cut_b = Cut("b", 1, model.get_layer("b").input)
    cut_c = Cut("c", 2, model.get_layer("c").input)
    return model, cut_b, cut_c


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.random((23, 6), dtype=np.float32), rng.random((7, 6), dtype=np.float32)


def _direct(keras, model, cut, X):
    return np.asarray(keras.Model(model.input, cut.tensor)(X))


@pytest.fixture
def forward_sources(monkeypatch):
    """Record the shape of every array the cache runs a sub-network on."""
    sources = []
    real = _frozen_features._forward_in_batches

    def recording(keras, submodel, source, out, batch_size):
        sources.append(source.shape)
        return real(keras, submodel, source, out, batch_size)

    monkeypatch.setattr(_frozen_features, "_forward_in_batches", recording)
    return sources


def test_computes_shallow_cuts_once_and_deeper_ones_from_them(
    keras, network, data, forward_sources
):
    model, cut_b, cut_c = network
    X, X_val = data
    with ActivationCache(
        keras, model, X, X_val, batch_size=8, storage="memory"
    ) as cache:
        train_c, val_c, storage = cache.get(cut_c, also=[cut_b])
        train_b, _, _ = cache.get(cut_b)  # already there: no new pass
    assert storage == "memory"
    # Images -> b (train, validation), then b -> c from the cached b.
    assert forward_sources == [(23, 6), (7, 6), (23, 5), (7, 5)]
    np.testing.assert_allclose(train_b, _direct(keras, model, cut_b, X), rtol=1e-6)
    np.testing.assert_allclose(val_c, _direct(keras, model, cut_c, X_val), rtol=1e-6)
    np.testing.assert_allclose(train_c, _direct(keras, model, cut_c, X), rtol=1e-6)


def test_many_batches_use_the_traced_function_with_the_same_values(
    keras, network, data
):
    model, _, cut_c = network
    X, _ = data
    # 23 rows in batches of 2: beyond the direct-call limit, so the padded,
    # traced path runs, including a partial last batch.
    with ActivationCache(
        keras, model, X, None, batch_size=2, storage="memory"
    ) as cache:
        train, validation, _ = cache.get(cut_c)
    assert validation is None
    np.testing.assert_allclose(train, _direct(keras, model, cut_c, X), rtol=1e-6)


def test_stale_and_unread_caches_are_dropped(keras, network, data, forward_sources):
    model, cut_b, cut_c = network
    X, _ = data
    with ActivationCache(
        keras, model, X, None, batch_size=32, storage="memory"
    ) as cache:
        cache.get(cut_c, also=[cut_b])
        cache.invalidate_above(cut_b.depth)  # layer b trained: c is stale
        forward_sources.clear()
        cache.get(cut_c)
        assert forward_sources == [(23, 5)]  # recomputed from b, not the images
        cache.keep_only([cut_c])
        forward_sources.clear()
        cache.get(cut_b)
        assert forward_sources == [(23, 6)]  # b was released


@pytest.mark.parametrize("storage, limit", [("disk", None), ("auto", 0)])
def test_disk_storage_is_memory_mapped_and_removed(
    keras, network, data, monkeypatch, storage, limit
):
    model, _, cut_c = network
    X, X_val = data
    if limit is not None:
        monkeypatch.setattr(_frozen_features, "IN_MEMORY_LIMIT_BYTES", limit)
    cache = ActivationCache(keras, model, X, X_val, batch_size=8, storage=storage)
    train, validation, used = cache.get(cut_c)
    assert used == "disk"
    assert isinstance(train, np.memmap) and isinstance(validation, np.memmap)
    directory = os.path.dirname(train.filename)
    assert os.path.isdir(directory)
    np.testing.assert_allclose(train, _direct(keras, model, cut_c, X), rtol=1e-6)
    cache.close()
    assert not os.path.exists(directory)


def test_auto_storage_stays_in_memory_below_the_limit(keras, network, data):
    model, _, cut_c = network
    X, _ = data
    with ActivationCache(keras, model, X, None, batch_size=8, storage="auto") as cache:
        train, _, used = cache.get(cut_c)
    assert used == "memory" and not isinstance(train, np.memmap)


def test_stream_batches_cover_every_sample_in_a_new_order_per_epoch(keras):
    X = np.arange(10, dtype=np.float32)[:, np.newaxis]
    y = np.arange(10, dtype=np.float32) * 10
    w = np.arange(10, dtype=np.float32) / 10
    stream = stream_batches(keras, X, y, w, batch_size=4, shuffle=True, seed=3)
    assert len(stream) == 3

    def epoch():
        batches = [stream[i] for i in range(len(stream))]
        for xb, yb, wb in batches:
            np.testing.assert_array_equal(yb, xb[:, 0] * 10)  # rows stay aligned
            np.testing.assert_allclose(wb, xb[:, 0] / 10)
        return np.concatenate([xb[:, 0] for xb, _, _ in batches])

    first = epoch()
    stream.on_epoch_end()
    second = epoch()
    assert sorted(first) == sorted(second) == list(range(10))
    assert not np.array_equal(first, second)
    again = stream_batches(keras, X, y, w, batch_size=4, shuffle=True, seed=3)
    np.testing.assert_array_equal(
        np.concatenate([again[i][0][:, 0] for i in range(3)]), first
    )
    ordered = stream_batches(keras, X, y, w, batch_size=4, shuffle=False, seed=0)
    np.testing.assert_array_equal(ordered[2][0][:, 0], [8, 9])


def test_stochastic_layers_are_the_ones_that_forbid_caching(keras):
    dropout = keras.layers.Dropout(0.5, name="drop")
    noise = keras.layers.GaussianNoise(0.1, name="noise")
    flip = keras.layers.RandomFlip(name="flip")
    frozen_bn = keras.layers.BatchNormalization(name="frozen_bn")
    frozen_bn.trainable = False
    training_bn = keras.layers.BatchNormalization(name="training_bn")
    conv = keras.layers.Conv2D(2, 3, name="conv")
    assert stochastic_layers([dropout, noise, flip, frozen_bn, training_bn, conv]) == [
        "drop",
        "noise",
        "flip",
        "training_bn",
    ]


def test_later_stages_read_what_the_first_pass_computes():
    """The frozen part runs once per fit: a stage computes the cuts later
    stages need, as long as nothing below them trains in between."""
    from mammoclf.classifiers._backbones import BACKBONES
    from mammoclf.classifiers._freeze_schedule import resolve_freeze_schedule
    from mammoclf.classifiers._transfer import _cuts_read_later

    densenet = BACKBONES["densenet121"]
    cuts = {name: Cut(name, depth, None) for name, depth in densenet.depth.items()}

    def read_later(preset, index, cached=("head", "conv5", "conv4")):
        stages = resolve_freeze_schedule(
            preset,
            blocks=("conv2", "conv3", "conv4", "conv5"),
            epochs=1,
            learning_rate=1e-3,
        )
        plan = [
            cuts[stage.unfreeze or "head"]
            if (stage.unfreeze or "head") in cached
            else None
            for stage in stages
        ]
        return [cut.name for cut in _cuts_read_later(stages, plan, index, densenet)]

    assert read_later("partial", 0) == ["conv5"]
    assert read_later("gradual", 0) == ["conv5", "conv4"]
    assert read_later("gradual", 1) == ["conv4"]
    assert read_later("gradual", 2) == []
    # A stage that trains conv4 makes the conv5 cut of a later stage stale.
    assert read_later([{}, {"unfreeze": "conv4"}, {"unfreeze": "conv5"}], 0) == [
        "conv4"
    ]
