"""Fits reuse a pooled network's traced train step, with bitwise-identical results."""

import os
import pickle

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate

import mammoclf
from mammoclf import ScratchCNNClassifier, compare_models
from mammoclf.classifiers._trace_pool import TracePool, trace_pool
from mammoclf.utils._keras import import_keras
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
    toy_images, empty_pool, new_train_functions, validation_fraction
):
    X, y, _ = _small(toy_images)
    params = {"validation_fraction": validation_fraction, "learning_rate": 0.01}
    with mammoclf.config_context(reuse_traces=False):
        fresh = _results(_cnn(**params).fit(X, y), X)
    first = _cnn(**params).fit(X, y)  # fills the pool
    reused = _cnn(**params).fit(X, y)  # trains the pooled twin
    assert len(new_train_functions) == 2  # the unpooled fit and the twin
    _assert_identical(fresh, _results(first, X))
    _assert_identical(fresh, _results(reused, X))
    # The second fit trained the pooled twin, not the first fit's network.
    _assert_identical(fresh, _results(first, X))
    assert first.model_ is not reused.model_


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


@pytest.mark.slow
def test_staged_transfer_fits_are_identical_and_not_pooled(toy_images, empty_pool):
    X, y, _ = toy_images
    params = {
        "weights": None,
        "freeze_schedule": "partial",
        "dense_units": 4,
        "epochs": 1,
        "batch_size": 32,
        "random_state": 0,
    }
    with mammoclf.config_context(reuse_traces=False):
        fresh = _results(ShallowDenseNetClassifier(**params).fit(X, y), X)
    reused = _results(ShallowDenseNetClassifier(**params).fit(X, y), X)
    assert len(empty_pool) == 0
    _assert_identical(fresh, reused)
