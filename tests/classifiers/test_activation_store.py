"""The study-wide activation store, on a small dense network (fast).

What is computed once, what is read, what is never shared (keys), and how
chunks live in memory, on disk, across store instances and threads. The
DenseNet-level guarantees (same results with and without the store) are in
tests/classifiers/test_shared_activations.py.
"""

import pickle
import threading

import numpy as np
import pytest

from mammoclf.classifiers import _activation_store
from mammoclf.classifiers._activation_store import (
    ActivationStore,
    active_activation_store,
    cut_key,
    image_digests,
    shared_activation_store,
)
from mammoclf.classifiers._frozen_features import ActivationCache, Cut
from mammoclf.utils._keras import dtype_policy_scope, import_keras, keras_seed


@pytest.fixture(scope="module")
def keras():
    return import_keras()


def _network(keras, *, seed=0, scale=1.0, noise=False, policy="float32"):
    """image(6) -> rescale -> a -> [noise] -> b -> c, frozen up to c."""
    with keras_seed(keras, seed), dtype_policy_scope(keras, policy):
        inputs = keras.Input((6,), name="image")
        x = keras.layers.Rescaling(scale, name="rescale")(inputs)
        x = keras.layers.Dense(5, activation="relu", name="a")(x)
        if noise:
            x = keras.layers.GaussianNoise(0.1, name="noise")(x)
        x = keras.layers.Dense(4, activation="relu", name="b")(x)
        outputs = keras.layers.Dense(2, name="c", dtype="float32")(x)
        model = keras.Model(inputs, outputs)
    for name in ("a", "b"):
        model.get_layer(name).trainable = False
    cut_b = Cut("b", 1, model.get_layer("b").input)
    cut_c = Cut("c", 2, model.get_layer("c").input)
    return model, cut_b, cut_c


@pytest.fixture(scope="module")
def network(keras):
    return _network(keras)


@pytest.fixture
def images():
    return np.random.default_rng(0).random((20, 6), dtype=np.float32)


@pytest.fixture
def passes(monkeypatch):
    """Rows of every forward pass the store runs."""
    rows = []
    real = _activation_store.forward_in_batches

    def counting(keras, submodel, source, out, batch_size):
        rows.append(source.shape[0])
        return real(keras, submodel, source, out, batch_size)

    monkeypatch.setattr(_activation_store, "forward_in_batches", counting)
    return rows


def _fill(keras, store, network, cut, X, *, sources=()):
    model = network[0]
    out = np.empty((X.shape[0], *cut.tensor.shape[1:]), np.float32)
    report = store.fill(
        keras, model, cut, [X], [out], [image_digests(X)], sources=sources,
        batch_size=8,
    )  # fmt: skip
    return out, report


def _direct(keras, model, cut, X):
    return np.asarray(keras.Model(model.input, cut.tensor)(X))


def _assert_close(actual, expected):
    """Equal up to float32 rounding: batches of other sizes sum in other orders."""
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


def test_each_image_is_computed_once_and_read_afterwards(
    keras, network, images, passes
):
    model, _, cut_c = network
    store = ActivationStore(storage="memory")
    first, report = _fill(keras, store, network, cut_c, images[:12])
    assert (report.read, report.computed, report.source) == (0, 12, "images")
    # A second "fold" overlapping the first: only its 8 new images run.
    second, report = _fill(keras, store, network, cut_c, images[4:])
    assert (report.read, report.computed) == (8, 8)
    assert passes == [12, 8]
    _assert_close(first, _direct(keras, model, cut_c, images[:12]))
    _assert_close(second, _direct(keras, model, cut_c, images[4:]))
    again, report = _fill(keras, store, network, cut_c, images[::-1])
    assert (report.read, report.computed) == (20, 0) and passes == [12, 8]
    np.testing.assert_array_equal(again[::-1][:12], first)
    [row] = store.summary()
    assert row["cut"] == "c" and row["n_images"] == 20
    assert row["computed_from"] == {"images": 20}


def test_duplicate_images_are_computed_once(keras, network, images, passes):
    store = ActivationStore(storage="memory")
    doubled = np.concatenate([images[:5], images[:5]])
    out, report = _fill(keras, store, network, network[2], doubled)
    assert report.computed == 5 and passes == [5]
    np.testing.assert_array_equal(out[:5], out[5:])


def test_deeper_cuts_are_computed_from_a_stored_shallower_cut(
    keras, network, images, passes
):
    model, cut_b, cut_c = network
    store = ActivationStore(storage="memory")
    _fill(keras, store, network, cut_b, images)
    out, report = _fill(keras, store, network, cut_c, images[:7], sources=[cut_b])
    assert report.source == "b" and passes == [20, 7]
    _assert_close(out, _direct(keras, model, cut_c, images[:7]))
    # Images the shallower cut lacks: from the images instead.
    fresh = images[:3] + 1.0
    _, report = _fill(keras, store, network, cut_c, fresh, sources=[cut_b])
    assert report.source == "images"


@pytest.mark.parametrize(
    "variant",
    [{"seed": 1}, {"scale": 0.5}, {"policy": "mixed_bfloat16"}],
    ids=["other-weights", "other-preprocessing", "other-dtype-policy"],
)
def test_frozen_parts_that_differ_never_share(keras, network, images, variant):
    store = ActivationStore(storage="memory")
    _fill(keras, store, network, network[2], images)
    other = _network(keras, **variant)
    assert cut_key(keras, other[0], other[2]) != cut_key(keras, network[0], network[2])
    _, report = _fill(keras, store, other, other[2], images)
    assert (report.read, report.computed) == (0, 20)
    # The same construction again shares: keys come from content, not objects.
    same = _network(keras)
    _, report = _fill(keras, store, same, same[2], images)
    assert (report.read, report.computed) == (20, 0)


def test_a_changed_weight_changes_the_key_once_digests_are_forgotten(keras):
    model, _, cut_c = _network(keras)
    before = cut_key(keras, model, cut_c)
    layer = model.get_layer("a")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel + 1.0, bias])
    _activation_store.forget_layer_digests([layer])  # what training a block does
    assert cut_key(keras, model, cut_c) != before


def test_trainable_or_stochastic_layers_below_the_cut_are_refused(keras, images):
    model, _, cut_c = _network(keras, noise=True)
    store = ActivationStore(storage="memory")
    with pytest.raises(ValueError, match=r"\['noise'\] behave differently"):
        _fill(keras, store, (model,), cut_c, images)
    model, _, cut_c = _network(keras)
    model.get_layer("a").trainable = True
    with pytest.raises(ValueError, match=r"layers \['a'\] have trainable weights"):
        _fill(keras, store, (model,), cut_c, images)
    assert store.summary() == []


def test_disk_chunks_are_shared_by_stores_on_the_same_directory(
    keras, network, images, tmp_path, passes
):
    first = ActivationStore(tmp_path, storage="disk")
    _fill(keras, first, network, network[2], images[:10])
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert not [name for name in files if "partial" in name]
    # Another process's store: a new instance on the directory.
    second = pickle.loads(pickle.dumps(first))
    assert second is not first and second.directory == first.directory
    out, report = _fill(keras, second, network, network[2], images)
    assert (report.read, report.computed) == (10, 10) and passes == [10, 10]
    _assert_close(out, _direct(keras, network[0], network[2], images))
    # Unfinished writes (a killed process) are never read.
    key_directory = next(tmp_path.iterdir())
    (key_directory / ".x.images.partial.npy").write_bytes(b"garbage")
    third = ActivationStore(tmp_path, storage="disk")
    [row] = third.summary()
    assert row["n_images"] == 20 and row["computed_from"] == {"images": 20}
    first.close()
    assert key_directory.exists()  # a given directory belongs to the caller


def test_memory_stores_cannot_cross_processes():
    with pytest.raises(TypeError, match="storage='disk'"):
        pickle.dumps(ActivationStore(storage="memory"))


def test_auto_storage_spills_to_disk_beyond_the_limit(keras, network, images):
    store = ActivationStore(storage="auto", in_memory_limit=0)
    out, _ = _fill(keras, store, network, network[2], images)
    directory = store.directory
    assert any(directory.rglob("*.npy"))
    again, report = _fill(keras, store, network, network[2], images)
    assert report.read == 20
    np.testing.assert_array_equal(again, out)
    store.close()
    assert not directory.exists()


def test_concurrent_fits_compute_a_key_once(keras, network, images, passes):
    store = ActivationStore(storage="memory")
    network[0](images[:1])  # build the graph before the threads race
    threads = [
        threading.Thread(target=_fill, args=(keras, store, network, network[2], images))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert passes == [20]


def test_context_manager_activates_nests_and_cleans_up(tmp_path):
    assert active_activation_store() is None
    with shared_activation_store() as outer:
        assert active_activation_store() is outer
        with shared_activation_store(tmp_path / "kept") as inner:
            assert active_activation_store() is inner
            assert inner.storage == "disk"
        with shared_activation_store(outer):  # re-entering leaves it open
            assert active_activation_store() is outer
        assert not outer.closed
    assert outer.closed and inner.closed
    assert active_activation_store() is None
    assert (tmp_path / "kept").is_dir()


def test_image_digests_tell_images_apart_by_value():
    images = np.zeros((4, 3, 3), np.float32)
    images[1, 0, 0] = 1e-30
    images[2, 0, 0] = -0.0  # another bit pattern: conservatively, another image
    digests = image_digests(images)
    assert len(set(digests.tolist())) == 3  # images 0 and 3 are equal
    assert digests[0] == image_digests(images[:1].copy())[0]


def test_the_per_fit_cache_reads_pristine_cuts_from_the_store(keras, network, images):
    model, cut_b, cut_c = network
    store = ActivationStore(storage="memory")
    _fill(keras, store, network, cut_c, images)
    with ActivationCache(
        keras, model, images[:9], images[9:], batch_size=8, storage="memory",
        store=store, store_sources=[cut_b, cut_c],
    ) as cache:  # fmt: skip
        train, validation, _ = cache.get(cut_c)
        report = cache.take_store_report()
        assert (report.read, report.computed) == (20, 0)
        assert cache.came_from_store(cut_c)
        # Once layer b has trained, c is no function of the image alone.
        cache.invalidate_above(cut_b.depth)
        cache.get(cut_c)
        assert not cache.came_from_store(cut_c)
        assert cache.take_store_report().computed == 0
    _assert_close(train, _direct(keras, model, cut_c, images[:9]))
    _assert_close(validation, _direct(keras, model, cut_c, images[9:]))
