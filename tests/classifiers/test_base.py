"""Behaviour every Keras image classifier inherits from BaseKerasImageClassifier.

Exercised through ScratchCNNClassifier, the smallest concrete subclass.
"""

import gc
import logging
import pickle
import random
import weakref

import joblib
import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    check_cv,
    cross_val_score,
)
from sklearn.utils._param_validation import InvalidParameterError

from mammoclf import ScratchCNNClassifier
from mammoclf.exceptions import ImageRangeWarning, InvalidImageError


def tiny_cnn(**params):
    defaults = {"filters": (4,), "dense_units": 8, "epochs": 1, "random_state": 0}
    return ScratchCNNClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def fitted(toy_images):
    X, y, _ = toy_images
    return tiny_cnn(
        filters=(8,),
        dense_units=16,
        dropout=0.1,
        epochs=5,
        batch_size=8,
        learning_rate=0.01,
    ).fit(X, y)


def test_scores_do_not_depend_on_the_order_of_the_images(fitted, toy_images):
    """To float32 rounding (scikit-learn's check asks for 1e-7: see test_common)."""
    X, _, _ = toy_images
    order = np.random.default_rng(0).permutation(len(X))
    scores = fitted.decision_function(X)
    np.testing.assert_allclose(
        fitted.decision_function(X[order]), scores[order], rtol=1e-5, atol=1e-6
    )


# --------------------------------------------------------------------- inputs
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_accepts_any_real_dtype(toy_images, dtype):
    X, y, _ = toy_images
    images = (X * 200).astype(dtype)
    # Accepted, never rescaled, and out of [0, 1]: said so.
    with pytest.warns(ImageRangeWarning, match=r"values in \[0"):
        clf = tiny_cnn().fit(images, y)
    with pytest.warns(ImageRangeWarning):
        proba = clf.predict_proba(images)
    assert proba.shape == (len(y), 2)
    assert np.all(np.isfinite(proba))


def test_three_and_four_dimensional_input_agree(toy_images):
    X, y, _ = toy_images
    clf = tiny_cnn().fit(X, y)
    assert clf.image_shape_ == (32, 32, 1)
    assert clf.n_features_in_ == 32 * 32
    np.testing.assert_allclose(
        clf.predict_proba(X), clf.predict_proba(X[..., np.newaxis]), rtol=1e-6
    )


def test_flattened_input_with_image_shape(toy_images):
    X, y, _ = toy_images
    flat = X.reshape(len(X), -1)
    clf = tiny_cnn(image_shape=(32, 32)).fit(flat, y)
    assert clf.image_shape_ == (32, 32, 1)
    # The same images given as images are accepted and give the same output.
    np.testing.assert_allclose(clf.predict_proba(flat), clf.predict_proba(X), rtol=1e-6)


def test_flattened_input_with_wrong_image_shape(toy_images):
    X, y, _ = toy_images
    with pytest.raises(InvalidImageError, match="cannot be reshaped"):
        tiny_cnn(image_shape=(30, 30)).fit(X.reshape(len(X), -1), y)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(10), "Expected 2D array"),
        (np.zeros((2, 4, 4, 1, 1)), "5 dimensions"),
        (np.zeros((0, 8, 8)), "0 sample"),
        (np.zeros((2, 0, 8)), "non-zero height"),
        (np.full((2, 8, 8), np.nan), "NaN"),
        (np.full((2, 8, 8), np.inf), "infinity"),
        (np.array([[["a", "b"]], [["c", "d"]]]), "convert"),
    ],
    ids=["1d", "5d", "empty", "zero-height", "nan", "inf", "strings"],
)
def test_bad_images_raise_invalid_image_error(bad, message):
    y = np.arange(len(bad)) % 2
    with pytest.raises(InvalidImageError, match=message):
        tiny_cnn().fit(bad, y)


def test_invalid_image_error_is_a_value_error():
    assert issubclass(InvalidImageError, ValueError)


def test_predict_rejects_other_channel_count(fitted, toy_images):
    X, _, _ = toy_images
    rgb = np.repeat(X[..., np.newaxis], 3, axis=-1)
    with pytest.raises(InvalidImageError, match="3-channel images.*1-channel"):
        fitted.predict(rgb)


def test_predict_rejects_other_image_size(fitted, toy_images):
    X, _, _ = toy_images
    with pytest.raises(
        InvalidImageError, match=r"fitted on images of shape \(32, 32, 1\)"
    ):
        fitted.predict_proba(X[:, :16, :16])


def test_predict_rejects_nan(fitted, toy_images):
    X, _, _ = toy_images
    images = X[:3].copy()
    images[1, 2, 2] = np.nan
    with pytest.raises(InvalidImageError, match="NaN"):
        fitted.predict(images)


# --------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "labels",
    [
        np.array(["BENIGN", "MALIGNANT"]),
        np.array([0, 1]),
        np.array([False, True]),
        np.array([-3, 7]),
    ],
    ids=["strings", "ints", "bools", "arbitrary-ints"],
)
def test_labels_of_any_type(toy_images, labels):
    X, y, _ = toy_images
    y_typed = np.where(y == "MALIGNANT", labels[1], labels[0])
    clf = tiny_cnn().fit(X, y_typed)
    np.testing.assert_array_equal(clf.classes_, labels)
    assert set(np.unique(clf.predict(X))) <= set(labels.tolist())
    assert clf.predict(X).dtype == y_typed.dtype


def test_multiclass(toy_images):
    X, _, _ = toy_images
    y = np.array(["BENIGN", "MALIGNANT", "NORMAL"] * 20)
    clf = tiny_cnn().fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert clf.decision_function(X).shape == (60, 3)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


def test_single_class_is_an_error(toy_images):
    X, _, _ = toy_images
    with pytest.raises(ValueError, match="at least 2 classes"):
        tiny_cnn().fit(X, np.full(len(X), "BENIGN"))


def test_score_rejects_labels_unseen_in_fit(fitted, toy_images):
    X, y, _ = toy_images
    y_unseen = y.copy()
    y_unseen[0] = "NORMAL"
    with pytest.raises(ValueError, match=r"never seen in fit: \['NORMAL'\]"):
        fitted.score(X, y_unseen)


# --------------------------------------------------------- prediction methods
def test_prediction_methods_agree(fitted, toy_images):
    X, y, _ = toy_images
    proba = fitted.predict_proba(X)
    scores = fitted.decision_function(X)
    assert proba.shape == (len(X), 2) and scores.shape == (len(X),)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # Column 1 is classes_[1]; positive logits mean classes_[1].
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-scores)), rtol=1e-6)
    expected = np.where(scores > 0, fitted.classes_[1], fitted.classes_[0])
    np.testing.assert_array_equal(fitted.predict(X), expected)
    assert fitted.score(X, y) == pytest.approx(np.mean(fitted.predict(X) == y))


def test_learns_the_toy_task(fitted, toy_images):
    X, y, _ = toy_images
    assert fitted.score(X, y) >= 0.9


def test_direct_calls_until_the_budget_then_one_traced_function(
    toy_images, monkeypatch
):
    """Ski rental: batches run through model() until the next call would
    exceed the budget; from then on the traced predict function, with the
    same scores to float32 rounding."""
    X, y, _ = toy_images
    clf = tiny_cnn(batch_size=8).fit(X, y)
    monkeypatch.setattr(type(clf), "_direct_batches_before_tracing", 10)
    predict_calls = []
    real_predict = clf.model_.predict
    monkeypatch.setattr(
        clf.model_,
        "predict",
        lambda *args, **kwargs: (
            predict_calls.append(1) or real_predict(*args, **kwargs)
        ),
    )
    direct = [clf.decision_function(X[:30]), clf.decision_function(X[30:48])]
    assert predict_calls == []  # 4 + 3 batches of 8: direct
    traced = clf.decision_function(X[:48])  # 6 more would make 13 > 10
    assert predict_calls == [1]
    np.testing.assert_allclose(np.concatenate(direct), traced, rtol=1e-5, atol=1e-6)
    clf.decision_function(X[:8])  # one more batch: still within the budget
    assert predict_calls == [1]
    clf.decision_function(X[:40])
    assert predict_calls == [1, 1]


def test_unfitted_estimator_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    for method in ("predict", "predict_proba", "decision_function"):
        with pytest.raises(NotFittedError):
            getattr(tiny_cnn(), method)(np.zeros((2, 8, 8)))


# ------------------------------------------------------------------- weights
def test_balanced_class_weight_shifts_predictions(toy_images):
    _X, _y, _ = toy_images
    # Make "MALIGNANT" rare and indistinguishable: only class weights decide.
    rng = np.random.default_rng(1)
    noise = rng.random((60, 16, 16), dtype=np.float32)
    y_rare = np.array(["BENIGN"] * 50 + ["MALIGNANT"] * 10)
    params = {"epochs": 15, "learning_rate": 0.01}
    plain = tiny_cnn(**params).fit(noise, y_rare)
    balanced = tiny_cnn(class_weight="balanced", **params).fit(noise, y_rare)
    assert np.mean(plain.predict(noise) == "MALIGNANT") < np.mean(
        balanced.predict(noise) == "MALIGNANT"
    )


def test_class_weight_dict_with_unknown_label_is_an_error(toy_images):
    X, y, _ = toy_images
    with pytest.raises(ValueError, match="NORMAL"):
        tiny_cnn(class_weight={"NORMAL": 2.0}).fit(X, y)


def test_zero_sample_weight_removes_samples(toy_images):
    """Weight-0 images contribute nothing, so duplicating them changes nothing."""
    X, y, _ = toy_images
    weights = np.r_[np.ones(60), np.zeros(60)]
    X_padded = np.concatenate(
        [X, np.random.default_rng(2).random(X.shape, dtype=np.float32)]
    )
    y_padded = np.r_[y, y[::-1]]
    with_padding = tiny_cnn(batch_size=120).fit(
        X_padded, y_padded, sample_weight=weights
    )
    without = tiny_cnn(batch_size=120).fit(X, y)
    # One full-batch step on the same seed: identical up to the loss
    # normalisation (mean over 120 vs 60 images), so compare directions only.
    assert np.mean(with_padding.predict(X) == without.predict(X)) > 0.9
    sample_weight_copy = weights.copy()
    np.testing.assert_array_equal(weights, sample_weight_copy)


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.ones(5), "expected"),
        (-np.ones(60), "non-negative"),
        (np.zeros(60), "all zero"),
    ],
)
def test_bad_sample_weight(toy_images, weights, message):
    X, y, _ = toy_images
    with pytest.raises(ValueError, match=message):
        tiny_cnn().fit(X, y, sample_weight=weights)


# ------------------------------------------------------------ training loop
def test_history_and_fitted_attributes(fitted):
    assert set(fitted.history_) >= {"loss", "accuracy", "auc"}
    assert all(len(values) == 5 for values in fitted.history_.values())
    assert fitted.n_epochs_ == 5
    assert fitted.fit_time_ > 0
    assert fitted.model_.output_shape == (None, 1)
    assert fitted.model_.layers[-1].dtype_policy.compute_dtype == "float32"


class _WeightRecorder:
    """A Keras callback recording the weights at the end of every epoch."""

    def __new__(cls):
        import keras

        class Recorder(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.weights = []

            def on_epoch_end(self, epoch, logs=None):
                self.weights.append([w.copy() for w in self.model.get_weights()])

        return Recorder()


def test_early_stopping_restores_best_weights(toy_images):
    X, y, _ = toy_images
    recorder = _WeightRecorder()
    clf = tiny_cnn(
        epochs=40,
        learning_rate=0.05,
        validation_fraction=0.25,
        patience=2,
        callbacks=[recorder],
    ).fit(X, y)
    val_loss = clf.history_["val_loss"]
    assert clf.n_epochs_ == len(val_loss) < 40
    best = int(np.argmin(val_loss))
    for restored, recorded in zip(clf.model_.get_weights(), recorder.weights[best]):
        np.testing.assert_array_equal(restored, recorded)


def test_validation_fraction_too_large_for_data(toy_images):
    X, y, _ = toy_images
    with pytest.raises(ValueError, match="validation_fraction"):
        tiny_cnn(validation_fraction=0.99).fit(X[:6], y[:6])


def test_verbose_zero_is_silent_and_two_prints_epochs(toy_images, capsys):
    X, y, _ = toy_images
    tiny_cnn(verbose=0).fit(X, y)
    assert capsys.readouterr().out == ""
    tiny_cnn(verbose=2, epochs=2).fit(X, y)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out


@pytest.mark.parametrize(
    "params",
    [
        {"epochs": 0},
        {"batch_size": 0},
        {"learning_rate": -1.0},
        {"optimizer": "adamax"},
        {"class_weight": "inverse"},
        {"validation_fraction": 1.5},
        {"precision": "float8"},
        {"filters": ()},
        {"filters": (8, -1)},
        {"dropout": 1.5},
    ],
)
def test_invalid_parameters_are_rejected_in_fit(toy_images, params):
    X, y, _ = toy_images
    clf = tiny_cnn(**params)  # construction never validates
    with pytest.raises((InvalidParameterError, ValueError)):
        clf.fit(X, y)


# ---------------------------------------------------------- reproducibility
def test_same_seed_same_predictions(toy_images):
    X, y, _ = toy_images
    first = tiny_cnn(random_state=7, epochs=2).fit(X, y).predict_proba(X)
    second = tiny_cnn(random_state=7, epochs=2).fit(X, y).predict_proba(X)
    other = tiny_cnn(random_state=8, epochs=2).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


def test_fit_leaves_global_random_streams_untouched(toy_images):
    X, y, _ = toy_images
    np.random.seed(123)
    random.seed(123)
    expected_numpy = np.random.get_state()[1].copy()
    expected_python = random.getstate()
    tiny_cnn(random_state=0).fit(X, y)
    np.testing.assert_array_equal(np.random.get_state()[1], expected_numpy)
    assert random.getstate() == expected_python


def test_fit_does_not_mutate_parameters(toy_images):
    X, y, _ = toy_images
    filters = [4, 8]
    class_weight = {"BENIGN": 1.0, "MALIGNANT": 2.0}
    clf = tiny_cnn(filters=filters, class_weight=class_weight, image_shape=None)
    before = clone(clf).get_params()
    clf.fit(X, y)
    assert clf.get_params() == before
    assert clf.filters is filters and filters == [4, 8]
    assert class_weight == {"BENIGN": 1.0, "MALIGNANT": 2.0}


# ----------------------------------------------------------- scikit-learn API
def test_is_a_classifier_with_stratified_default_cv(toy_images):
    _, y, _ = toy_images
    assert is_classifier(ScratchCNNClassifier())
    assert isinstance(
        check_cv(3, y, classifier=is_classifier(ScratchCNNClassifier())),
        StratifiedKFold,
    )


def test_clone_and_params_round_trip():
    clf = tiny_cnn(filters=(4, 8), dropout=0.3)
    cloned = clone(clf)
    assert cloned.get_params() == clf.get_params()
    cloned.set_params(dropout=0.1)
    assert clf.dropout == 0.3 and cloned.dropout == 0.1


def test_init_is_keyword_only():
    with pytest.raises(TypeError):
        ScratchCNNClassifier((8, 16))


@pytest.mark.parametrize(
    "dump, load", [(pickle.dumps, pickle.loads), ("joblib", "joblib")]
)
def test_pickle_round_trip(fitted, toy_images, tmp_path, dump, load):
    X, _, _ = toy_images
    if dump == "joblib":
        path = tmp_path / "model.joblib"
        joblib.dump(fitted, path)
        restored = joblib.load(path)
    else:
        restored = load(dump(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(restored.classes_, fitted.classes_)
    assert restored.history_ == fitted.history_
    unfitted = pickle.loads(pickle.dumps(tiny_cnn()))
    assert unfitted.get_params() == tiny_cnn().get_params()


def test_grid_search_roc_auc_scores_are_finite(toy_images):
    X, y, _groups = toy_images
    search = GridSearchCV(
        tiny_cnn(epochs=2, learning_rate=0.01),
        {"dense_units": [4, 8]},
        scoring="roc_auc",
        cv=2,
        refit=False,  # four fits, not seven: the refit is one more ordinary fit
    ).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    assert search.best_params_["dense_units"] in (4, 8)


def test_cross_val_score_uses_stratified_folds(toy_images):
    X, y, _ = toy_images
    # Sorted labels: an unstratified KFold(3) would put only one class in the
    # first test fold, making ROC AUC undefined (NaN).
    order = np.argsort(y, kind="stable")
    scores = cross_val_score(tiny_cnn(), X[order], y[order], scoring="roc_auc", cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


# ----------------------------------------------------------------- resources
@pytest.mark.slow  # ~10 s of repeated fits watching RSS
def test_repeated_fits_release_models(toy_images):
    """Fitted networks are freed with their estimator: no Keras model survives.

    RSS across repeated fits is measured separately (JAX backend, where the
    framework itself does not leak) in ``test_rss_flat_over_repeated_fits``.
    """
    import keras

    X, y, _ = toy_images
    refs = []
    for seed in range(5):
        clf = tiny_cnn(random_state=seed).fit(X[:16], y[:16])
        refs.append(weakref.ref(clf.model_))
        del clf
    gc.collect()
    assert all(ref() is None for ref in refs)
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.slow  # ~15 s: six fits to provoke the warning
def test_fresh_models_do_not_trigger_tensorflow_retracing_warnings(toy_images, caplog):
    """Each fit builds a new model; TensorFlow warns after five such traces."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("a TensorFlow warning")
    X, y, _ = toy_images
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for seed in range(7):
            # 40 images in batches of 16: predict traces its function too.
            tiny_cnn(random_state=seed, batch_size=16).fit(X[:40], y[:40]).predict(
                X[:40]
            )
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


def test_only_the_retracing_warning_is_muted(caplog):
    from mammoclf.utils._keras import fresh_model_retracing_muted

    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        with fresh_model_retracing_muted():
            logger.warning(
                "5 out of the last 9 calls to f triggered tf.function retracing."
            )
            logger.warning("something else")
        logger.warning("2 calls triggered tf.function retracing, outside mammoclf")
    assert [r.getMessage() for r in caplog.records] == [
        "something else",
        "2 calls triggered tf.function retracing, outside mammoclf",
    ]


def _interrupting_callback(at_epoch):
    import keras

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == at_epoch:
                raise KeyboardInterrupt

    return Interrupt()


def test_interrupted_first_fit_leaves_the_estimator_unfitted(toy_images):
    from sklearn.exceptions import NotFittedError

    X, y, _ = toy_images
    clf = tiny_cnn(epochs=3, callbacks=[_interrupting_callback(1)])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert not [name for name in vars(clf) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_interrupted_refit_keeps_the_previous_fit(toy_images):
    X, y, _ = toy_images
    clf = tiny_cnn(epochs=1).fit(X, y)
    before = clf.predict_proba(X)
    state = {k: v for k, v in vars(clf).items() if k.endswith("_")}
    clf.set_params(epochs=3, callbacks=[_interrupting_callback(1)])
    y_other = np.where(y == "BENIGN", "B", "M")  # a refit on other labels...
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X[:, :16, :16], y_other)  # ...and other image sizes
    assert {
        k: v for k, v in vars(clf).items() if k.endswith("_")
    }.keys() == state.keys()
    np.testing.assert_array_equal(clf.classes_, ["BENIGN", "MALIGNANT"])
    assert clf.image_shape_ == (32, 32, 1)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
