"""A scikeras KerasClassifier gets stratified folds and finite AUCs.

On scikit-learn >= 1.6, ``is_classifier(KerasClassifier(...))`` is False, so
``check_cv`` gives it plain ``KFold`` and scikit-learn's ``roc_auc`` scorer
cannot find its ``classes_``-based response: ``cross_validate`` reports NaN.
compare_models chooses folds without asking the estimator and scores from
``predict_proba`` itself.
"""

import warnings

import numpy as np
import pytest
from sklearn.base import is_classifier
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.model_selection import KFold, check_cv, cross_validate

from mammoclf.model_selection import compare_models

wrappers = pytest.importorskip(
    "scikeras.wrappers", reason="scikeras (optional extra) is not installed"
)


def build_logistic_network(meta):
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(meta["n_features_in_"],)),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(loss="binary_crossentropy", optimizer="adam")
    return model


@pytest.fixture(scope="module")
def keras_classifier():
    return wrappers.KerasClassifier(
        model=build_logistic_network, epochs=3, verbose=0, random_state=0
    )


def test_scikeras_is_not_a_classifier_to_sklearn(keras_classifier, toy_images):
    _, y, _ = toy_images
    assert not is_classifier(keras_classifier)
    assert type(check_cv(3, y, classifier=is_classifier(keras_classifier))) is KFold


def test_scikeras_gets_stratified_folds_and_finite_aucs(
    keras_classifier, toy_images, make_flat_logreg
):
    X, y, groups = toy_images
    flat = X.reshape(len(X), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's own failure warnings
        sklearn_auc = cross_validate(
            keras_classifier, flat, y, cv=3, scoring="roc_auc", error_score=np.nan
        )["test_score"]
    assert np.isnan(sklearn_auc).all()  # the problem compare_models avoids

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        result = compare_models(
            {"keras": keras_classifier, "logreg": make_flat_logreg()},
            flat,
            y,
            groups=groups,
            cv=3,
            random_state=0,
        )
    auc = result.fold_scores("roc_auc")
    assert np.isfinite(auc["keras"]).all()
    assert result.score_method["keras"] == "predict_proba"
    assert len(result.histories["keras"][0]["loss"]) == 3
    assert (result.compute.loc["keras", "n_epochs"] == 3).all()
    for split in result.splits:
        # Grouped (two images per patient) and stratified (half malignant).
        assert not set(groups[split.train]) & set(groups[split.test])
        assert abs(np.mean(y[split.test] == "MALIGNANT") - 0.5) <= 0.1
