"""Fits reuse a pooled network's traced train step, with bitwise-identical results."""

import os
import pickle

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate

import mammoclf
from mammoclf import ScratchCNNClassifier, compare_models
from mammoclf.classifiers._trace_pool import TracePool, network_key, trace_pool
from mammoclf.utils._keras import import_keras, keras_seed
from tests.shallow_densenet import ShallowDenseNetClassifier


def _cnn(**params):
    defaults = {
        "filters": (2,),
        "dense_units": 4,
        "dropout": 0.5,
        "epochs": 2,
        "batch_size": 16,
        "random_state": 0,
    }
    return ScratchCNNClassifier(**{**defaults, **params})


def _small(toy_images):
    X, y, groups = toy_images
    return X[:, ::2, ::2], y, groups  # 16x16 images: tracing, not compute, dominates


@pytest.fixture
def empty_pool():
    trace_pool().clear()
    yield trace_pool()
    trace_pool().clear()


@pytest.fixture
def new_train_functions(monkeypatch):
    """One entry per train function Keras creates (and so traces) in this process."""
    keras = import_keras()
    created = []
    original = keras.Model.make_train_function

    def counting(self, force=False):
        if force or self.train_function is None:
            created.append(self)
        return original(self, force)

    monkeypatch.setattr(keras.Model, "make_train_function", counting)
    return created


@pytest.fixture
def train_steps(monkeypatch):
    """One entry per trace of a ``train_step`` (its Python body runs only then)."""
    keras = import_keras()
    traced = []
    original = keras.Model.train_step

    def counting(self, data):
        traced.append(type(self).__name__)
        return original(self, data)

    monkeypatch.setattr(keras.Model, "train_step", counting)
    return traced


@pytest.fixture
def cache_clearing_seeds(monkeypatch):
    """One entry per TensorFlow global seed set the way that clears eager caches."""
    from tensorflow.python.eager import context

    seeds, original = [], context.Context._set_global_seed

    def recording(self, seed):
        seeds.append(seed)
        return original(self, seed)

    monkeypatch.setattr(context.Context, "_set_global_seed", recording)
    return seeds


def _results(clf, X):
    stages = [
        {k: v for k, v in stage.items() if k not in {"fit_time", "cache_time"}}
        for stage in clf.stages_
    ]
    weights = [np.asarray(w) for w in clf.model_.get_weights()]
    return clf.decision_function(X), clf.history_, stages, weights


def _assert_identical(first, second):
    scores_a, history_a, stages_a, weights_a = first
    scores_b, history_b, stages_b, weights_b = second
    np.testing.assert_array_equal(scores_a, scores_b, strict=True)
    assert history_a == history_b  # floats compared exactly
    assert stages_a == stages_b
    for a, b in zip(weights_a, weights_b, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)


@pytest.mark.parametrize(
    "validation_fraction", [None, pytest.param(0.25, marks=pytest.mark.slow)]
)
def test_reused_fit_is_bitwise_identical(
    toy_images,
    empty_pool,
    new_train_functions,
    cache_clearing_seeds,
    validation_fraction,
):
    X, y, _ = _small(toy_images)
    params = {"validation_fraction": validation_fraction, "learning_rate": 0.01}
    with mammoclf.config_context(reuse_traces=False):
        fresh = _results(_cnn(**params).fit(X, y), X)
    first = _cnn(**params).fit(X, y)  # fills the pool
    reused = _cnn(**params).fit(X, y)  # trains the pooled twin
    assert len(new_train_functions) == 2  # the unpooled fit and the twin
    # Only the fit without reuse reset TensorFlow's seed through
    # tf.random.set_seed, which clears its eager caches: after that, a pooled
    # step's next call instantiated its graph again (~0.3 s a fit). The fits
    # with reuse set the same seed (see the next test) and kept the caches.
    from tensorflow.python.eager import context

    seed = np.random.RandomState(0).randint(2**31 - 1)
    assert cache_clearing_seeds == [seed]
    assert context.global_seed() == seed
    _assert_identical(fresh, _results(first, X))
    _assert_identical(fresh, _results(reused, X))
    # The second fit trained the pooled twin, not the first fit's network.
    _assert_identical(fresh, _results(first, X))
    assert first.model_ is not reused.model_


def test_seed_keeping_kernels_seeds_tensorflow_as_set_seed_does():
    import tensorflow as tf
    from tensorflow.python.eager import context

    keras = import_keras()

    def draws(seed, **keep):
        with keras_seed(keras, seed, **keep):
            op_seeds = [context.internal_operation_seed() for _ in range(3)]
            # A tf.data shuffle without an op seed derives one from the global seed.
            order = list(tf.data.Dataset.range(16).shuffle(16).as_numpy_iterator())
            return context.global_seed(), op_seeds, order, float(np.random.rand())

    kept = draws(11, keep_compiled_kernels=True)
    assert kept == draws(11)  # tf.random.set_seed, clearing the caches
    assert kept[0] == 11
    other = draws(12, keep_compiled_kernels=True)
    assert other == draws(12)
    assert other[1] != kept[1] and other[2] != kept[2]


@pytest.mark.slow
def test_another_seed_and_learning_rate_reuse_the_trace(
    toy_images, empty_pool, new_train_functions
):
    X, y, _ = _small(toy_images)
    params = {"random_state": 3, "learning_rate": 0.003, "optimizer": "sgd"}
    _cnn(optimizer="sgd").fit(X, y)
    reused = _results(_cnn(**params).fit(X, y), X)
    assert len(new_train_functions) == 1
    with mammoclf.config_context(reuse_traces=False):
        fresh = _results(_cnn(**params).fit(X, y), X)
    _assert_identical(fresh, reused)
    assert reused[2][0]["learning_rate"] == 0.003


@pytest.mark.slow
def test_grid_search_traces_once_per_network(
    toy_images, empty_pool, new_train_functions
):
    X, y, groups = _small(toy_images)
    search = GridSearchCV(
        _cnn(epochs=1),
        {"dropout": [0.0, 0.5], "learning_rate": [0.01, 0.001]},
        cv=GroupKFold(n_splits=2),
    ).fit(X, y, groups=groups)
    # 8 fold fits and the refit, over two networks (dropout changes the
    # network; the learning rate is a variable of the optimizer).
    assert len(new_train_functions) == 2
    assert hasattr(search, "best_estimator_")


@pytest.mark.slow
def test_compare_models_traces_once_per_network(
    toy_images, empty_pool, new_train_functions
):
    X, y, groups = _small(toy_images)
    compare_models(
        {"a": _cnn(epochs=1), "b": _cnn(epochs=1, dense_units=3)},
        X,
        y,
        groups=groups,
        cv=GroupKFold(n_splits=2),
        measure_memory=False,
    )
    assert len(new_train_functions) == 2


@pytest.mark.slow
def test_opt_out_trains_each_fit_its_own_network(
    toy_images, empty_pool, new_train_functions
):
    X, y, _ = _small(toy_images)
    with mammoclf.config_context(reuse_traces=False):
        _cnn(epochs=1).fit(X, y)
        _cnn(epochs=1).fit(X, y)
        assert not mammoclf.get_config()["reuse_traces"]
    assert mammoclf.get_config()["reuse_traces"]
    assert len(new_train_functions) == 2
    assert len(empty_pool) == 0


def test_config_refuses_a_non_bool():
    with pytest.raises(ValueError, match="'reuse_traces' parameter of set_config"):
        mammoclf.set_config(reuse_traces="no")
    with pytest.raises(ValueError, match="'reuse_traces' parameter of config_context"):
        mammoclf.config_context(reuse_traces="no")
    assert mammoclf.get_config()["reuse_traces"] is True


@pytest.mark.slow
def test_user_callbacks_are_never_pooled(toy_images, empty_pool):
    keras = import_keras()
    X, y, _ = _small(toy_images)
    _cnn(epochs=1, callbacks=[keras.callbacks.TerminateOnNaN()]).fit(X, y)
    assert len(empty_pool) == 0


@pytest.mark.slow
def test_pickled_estimator_carries_no_pool(toy_images, empty_pool):
    X, y, _ = _small(toy_images)
    clf = _cnn(epochs=1).fit(X, y)
    assert len(empty_pool) == 1
    (pooled,) = empty_pool._idle.values()
    data = pickle.dumps(clf)
    assert len(data) < 2 * len(pickle.dumps(pickle.loads(data)))  # no twin inside
    loaded = pickle.loads(data)
    assert loaded.model_ is not pooled
    assert len(empty_pool) == 1
    np.testing.assert_array_equal(
        loaded.decision_function(X), clf.decision_function(X), strict=True
    )


def test_pool_is_least_recently_used_and_lends_one_fit_at_a_time():
    pool, built = TracePool(size=2), []

    def build():
        built.append(object())
        return built[-1]

    with pool.checkout("a", build) as a, pool.checkout("a", build) as a2:
        assert a is not a2  # a lent network is not lent again
    for key in ["b", "c"]:
        with pool.checkout(key, build):
            pass
    assert len(pool) == 2  # "a" twice, then "b" and "c": the two "a" dropped
    with pool.checkout("c", build) as c:
        assert c is built[-1]
    with pytest.raises(RuntimeError), pool.checkout("b", build):
        raise RuntimeError  # a failed fit's network is not returned
    assert len(pool) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_starts_with_an_empty_pool():
    pool = trace_pool()
    with pool.checkout("key", object):
        pass
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, bytes([len(trace_pool()), trace_pool() is pool]))
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 2) == bytes([0, 0])
    assert len(trace_pool()) >= 1
    pool.clear()


@pytest.mark.slow
def test_loky_workers_reuse_with_identical_results(toy_images):
    X, y, groups = _small(toy_images)
    cv = GroupKFold(n_splits=4)

    def run(n_jobs):
        result = cross_validate(
            _cnn(epochs=1),
            X,
            y,
            groups=groups,
            cv=cv,
            n_jobs=n_jobs,
            return_estimator=True,
        )
        return [clf.decision_function(X) for clf in result["estimator"]]

    # Each worker keeps its own pool (on by default there) and reuses it
    # for its second fold; the reference is this process without reuse.
    with mammoclf.config_context(reuse_traces=False):
        reference = run(None)
    for expected, got in zip(reference, run(2), strict=True):
        np.testing.assert_array_equal(expected, got, strict=True)


def _staged(**params):
    """A staged shallow DenseNet: the head, then ``conv5``, each on cached features."""
    defaults = {
        "weights": None,
        "freeze_schedule": "partial",
        "dense_units": 4,
        "epochs": 1,
        "batch_size": 32,
        "random_state": 0,
    }
    return ShallowDenseNetClassifier(**{**defaults, **params})


def test_staged_fit_reuses_each_stage_bitwise(toy_images, empty_pool, train_steps):
    X, y, _ = toy_images
    X, y = X[:16], y[:16]  # two batches of 8: the cost is building and tracing
    with mammoclf.config_context(reuse_traces=False):
        fresh = _results(_staged(batch_size=8).fit(X, y), X)
    assert len(empty_pool) == 0
    _staged(batch_size=8).fit(X, y)  # fills the pool: one network per stage
    assert len(empty_pool) == 2  # the trainable sets differ: two keys
    train_steps.clear()
    reused = _staged(batch_size=8).fit(X, y)
    assert train_steps == []  # both stages ran steps traced by the fit before
    _assert_identical(fresh, _results(reused, X))
    assert [s["trainable_blocks"] for s in reused.stages_] == [
        ("head",),
        ("conv5", "head"),
    ]


def test_key_names_the_variables_that_train():
    """Same layers, configs and optimizer slots; another variable frozen: another key."""
    keras = import_keras()

    def key(frozen):
        inputs = keras.Input((2,))
        first = keras.layers.Dense(2, use_bias=False, name="first")
        second = keras.layers.Dense(2, use_bias=False, name="second")
        model = keras.Model(inputs, second(first(inputs)))
        (first if frozen == "first" else second).kernel.trainable = False
        model.compile(optimizer="adam", loss="mse")
        model.optimizer.build(model.trainable_variables)
        return network_key(model, jit_compile=False)

    assert key("first") == key("first")
    assert key("first") != key("second")


@pytest.mark.slow
def test_uncached_stages_key_on_what_trains(toy_images, empty_pool, train_steps):
    """Without the cache both stages train the whole network: same layers, other
    trainable variables, so two keys (and a bitwise-identical result)."""
    X, y, _ = toy_images
    params = {"frozen_cache": "off", "validation_fraction": 0.25}
    with mammoclf.config_context(reuse_traces=False):
        fresh = _results(_staged(**params).fit(X, y), X)
    _staged(**params).fit(X, y)
    assert len(empty_pool) == 2
    train_steps.clear()
    reused = _results(_staged(**params).fit(X, y), X)
    assert train_steps == []
    _assert_identical(fresh, reused)


@pytest.mark.slow
def test_staged_fits_in_loky_workers_are_identical(toy_images):
    X, y, groups = toy_images
    cv = GroupKFold(n_splits=4)

    def run(n_jobs):
        result = cross_validate(
            _staged(),
            X,
            y,
            groups=groups,
            cv=cv,
            n_jobs=n_jobs,
            return_estimator=True,
        )
        return [_results(clf, X) for clf in result["estimator"]]

    # Two workers, four folds: each worker's later folds train its pooled twins.
    with mammoclf.config_context(reuse_traces=False):
        reference = run(None)
    for expected, got in zip(reference, run(2), strict=True):
        _assert_identical(expected, got)


@pytest.mark.slow
def test_compare_models_traces_each_stage_once(toy_images, empty_pool, train_steps):
    X, y, groups = toy_images
    compare_models(
        {"partial": _staged(), "frozen": _staged(freeze_schedule="frozen")},
        X,
        y,
        groups=groups,
        cv=GroupKFold(n_splits=3),
        measure_memory=False,
    )
    # Two trained configurations over 6 fits and 9 stages: the head (the
    # frozen model's stage and the partial model's first) and conv5 + head.
    assert len(train_steps) == 2


@pytest.fixture
def predict_steps(monkeypatch):
    """One entry per trace of a ``predict_step``."""
    keras = import_keras()
    traced = []
    original = keras.Model.predict_step

    def counting(self, data):
        traced.append(type(self).__name__)
        return original(self, data)

    monkeypatch.setattr(keras.Model, "predict_step", counting)
    return traced


def _unpadded(clf, X):
    """Keras's own batching: a partial last batch of its own size."""
    images = clf.model_inputs(X)
    logits = clf.model_.predict(images, batch_size=clf.batch_size, verbose=0)
    return np.asarray(logits, dtype=np.float64)[:, 0]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: _cnn(epochs=1), id="cnn"),
        pytest.param(
            lambda: _staged(freeze_schedule="frozen", batch_size=16),
            id="shallow_densenet",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_predict_traces_once_for_every_input_size(
    toy_images, predict_steps, monkeypatch, make
):
    X, y, _ = toy_images
    clf = make().fit(X[:32], y[:32])
    # No direct calls: every prediction runs the traced predict function.
    monkeypatch.setattr(type(clf), "_direct_batches_before_tracing", 0)
    whole = clf.decision_function(X[:48])  # three batches of 16 real images
    sizes = [5, 16, 21, 1, 60]  # partial, whole, both, one, beyond `whole`
    scores = {n: clf.decision_function(X[:n]) for n in sizes}
    assert len(predict_steps) == 1
    for n, got in scores.items():
        assert got.shape == (n,)
        # Every image is scored in a batch of 16, whatever else is predicted
        # with it: the padding rows change no returned score, to the bit.
        shared = min(n, 48)
        np.testing.assert_array_equal(got[:shared], whole[:shared], strict=True)
        # Keras's own partial last batch runs other kernels: float32 rounding.
        np.testing.assert_allclose(got, _unpadded(clf, X[:n]), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(whole, _unpadded(clf, X[:48]), strict=True)
