"""DenseNet fits inside a study-wide activation store: same results, less work.

Correctness first: fits and predictions inside the store equal separate
fits; a fit whose frozen part differs (seed, weights file, input size,
precision, a schedule that trains below the cut, a stochastic layer below
it) never reads another fit's activations.

What is tested is DenseNetTransferClassifier's use of the store, so the fits
run on the shallow DenseNet (tests/shallow_densenet.py: DenseNet121's blocks,
names and code paths at a seventh of its layers); DenseNet121's own graph is
tested in test_densenet.py.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupShuffleSplit

from mammoclf.classifiers import ActivationStore, _transfer, shared_activation_store
from mammoclf.utils._keras import import_keras, keras_seed
from tests.shallow_densenet import ShallowDenseNetClassifier, shallow_densenet121

N_IMAGES = 24


def _assert_same_scores(actual, expected):
    """Equal up to float32 rounding (convolutions of other batch sizes)."""
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def small_densenet(**params):
    defaults = {
        "weights": None,
        "freeze_schedule": "frozen",
        "dense_units": 8,
        "epochs": 1,
        "batch_size": 32,
        "random_state": 0,
    }
    return ShallowDenseNetClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def shallow_weights_file(tmp_path_factory):
    """A weights file of the shallow DenseNet's backbone, as Keras saves it."""
    keras = import_keras()
    with shallow_densenet121(), keras_seed(keras, 123):
        source = keras.applications.DenseNet121(
            include_top=False, weights=None, input_shape=(32, 32, 3)
        )
    path = tmp_path_factory.mktemp("weights") / "shallow_densenet_notop.weights.h5"
    source.save_weights(path)
    return str(path)


@pytest.fixture(scope="module")
def frozen_fit(toy_images, shallow_weights_file):
    """The frozen preset fitted without a store (head only, 2 epochs)."""
    X, y, _ = toy_images
    return small_densenet(weights=shallow_weights_file, dense_units=16, epochs=2).fit(
        X, y
    )


def test_frozen_fits_share_activations_and_backbone_with_the_same_results(
    frozen_fit, toy_images
):
    X, y, _ = toy_images
    with shared_activation_store() as store:
        first = clone(frozen_fit).fit(X, y)
        # Another grid candidate: a different head on the same frozen part.
        second = clone(frozen_fit).set_params(dense_units=4).fit(X, y)
        shared_scores = first.decision_function(X[:32])
        summary = store.summary()
    [stage] = first.stages_
    assert stage["activations_from"] == "store"
    assert (stage["store_rows_read"], stage["store_rows_computed"]) == (0, 60)
    [stage] = second.stages_
    assert (stage["store_rows_read"], stage["store_rows_computed"]) == (60, 0)
    assert second.model_.get_layer("relu") is first.model_.get_layer("relu")
    # One pass from the images for the training set (the test images are a
    # subset); the predictions above read them.
    assert [(row["cut"], row["computed_from"]) for row in summary] == [
        ("head", {"images": 60})
    ]
    _assert_same_scores(shared_scores, frozen_fit.decision_function(X[:32]))
    np.testing.assert_allclose(
        first.history_["loss"], frozen_fit.history_["loss"], rtol=1e-5
    )
    # Outside the store, the fitted model predicts on its own, the same; a
    # model sharing the backbone pickles as a whole.
    _assert_same_scores(first.decision_function(X[:32]), shared_scores)
    restored = pickle.loads(pickle.dumps(second))
    assert restored.model_.get_layer("relu") is not first.model_.get_layer("relu")
    _assert_same_scores(
        restored.decision_function(X[:8]), second.decision_function(X[:8])
    )


@pytest.fixture(scope="module")
def reference_store(toy_images):
    """A store holding the activations of one frozen fit (weights=None, 32 px)."""
    X, y, _ = toy_images
    store = ActivationStore(storage="memory")
    with shared_activation_store(store):
        small_densenet().fit(X[:N_IMAGES], y[:N_IMAGES])
    yield store
    store.close()


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"random_state": 1}, id="other-seed"),
        pytest.param({"weights": "file"}, id="weights-file"),
        pytest.param({"resize_to": (40, 40)}, id="other-resize"),
        pytest.param({"precision": "mixed_bfloat16"}, id="other-precision"),
    ],
)
def test_fits_whose_frozen_part_differs_read_nothing(
    reference_store, toy_images, shallow_weights_file, params
):
    X, y, _ = toy_images
    if params.get("weights") == "file":
        params = {"weights": shallow_weights_file}
    with shared_activation_store(reference_store):
        other = small_densenet(**params).fit(X[:N_IMAGES], y[:N_IMAGES])
    [stage] = other.stages_
    assert (stage["store_rows_read"], stage["store_rows_computed"]) == (0, N_IMAGES)
    assert len(reference_store.summary()) >= 2  # its own key


def test_a_stage_after_training_below_its_cut_computes_its_own(toy_images):
    """Head, conv5, head again: the last head stage sees a trained conv5."""
    X, y, _ = toy_images
    schedule = [{"unfreeze": None}, {"unfreeze": "conv5"}, {"unfreeze": None}]
    alone = small_densenet(freeze_schedule=schedule).fit(X[:N_IMAGES], y[:N_IMAGES])
    with shared_activation_store():
        shared = small_densenet(freeze_schedule=schedule).fit(
            X[:N_IMAGES], y[:N_IMAGES]
        )
        shared_scores = shared.decision_function(X[N_IMAGES:])
    assert [s["activations_from"] for s in shared.stages_] == ["store", "store", "fit"]
    assert shared.stages_[2]["store_rows_read"] == 0
    _assert_same_scores(shared_scores, alone.decision_function(X[N_IMAGES:]))


def test_a_stochastic_layer_below_the_cut_is_never_cached(toy_images, monkeypatch):
    """Named "resize", the noise layer passes for input preprocessing (no
    block of the backbone): still refused."""
    layer_name = "resize"
    X, y, _ = toy_images

    def noisy_backbone(keras, *, description, input_shape, resize_to):
        inputs = keras.Input(shape=input_shape, name="image")
        x = keras.layers.GaussianNoise(0.1, name=layer_name)(inputs)
        x = keras.layers.Concatenate(axis=-1, name="grey_to_rgb")([x, x, x])
        features = keras.applications.DenseNet121(
            include_top=False, weights=None, input_tensor=x
        ).output
        return inputs, keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)

    monkeypatch.setattr(_transfer, "build_backbone", noisy_backbone)
    with shared_activation_store() as store:
        with pytest.raises(RuntimeError, match=rf"\['{layer_name}'\] behave"):
            small_densenet().fit(X[:N_IMAGES], y[:N_IMAGES])
        assert store.summary() == []


# Four fits, two of which fine-tune conv5 (10 s); the store's equality with
# separate fits is tested by default above, per stage and prediction.
@pytest.mark.slow
def test_grid_search_over_freeze_schedule_is_the_same_with_the_store(toy_images):
    X, y, groups = toy_images

    def search():
        return GridSearchCV(
            small_densenet(epochs=2),
            {"freeze_schedule": ["frozen", "conv5"]},
            scoring="roc_auc",
            cv=GroupShuffleSplit(n_splits=1, test_size=0.5, random_state=0),
            refit=False,
        ).fit(X, y, groups=groups)

    alone = search()
    with shared_activation_store() as store:
        shared = search()
        computed = {row["cut"]: row["computed_from"] for row in store.summary()}
    _assert_same_scores(
        shared.cv_results_["split0_test_score"], alone.cv_results_["split0_test_score"]
    )
    # One pass from the images per cut; the conv5 fit's head stage read the
    # frozen fit's head activations.
    assert computed["head"] == {"images": 60}
    assert computed["conv5"] == {"images": 60}
