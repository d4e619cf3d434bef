"""One predict-and-score step for cross-validation, holdout and saved models."""

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

import mammoclf.model_selection._predict as predict_module
from mammoclf.evaluation import SummaryOptions, summarize
from mammoclf.metrics import positive_class_scores
from mammoclf.model_selection import (
    compare_models,
    decision_threshold,
    evaluate_fitted,
    evaluate_holdout,
)
from mammoclf.model_selection._predict import predict_and_score


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=60) > 0, "MALIGNANT", "BENIGN")
    return X, y, np.arange(60) // 2


class _LabelsOnly(DecisionTreeClassifier):
    """A classifier without predict_proba (so without positive-class scores)."""

    @property
    def predict_proba(self):
        raise AttributeError("no predict_proba")


def test_scores_labels_and_threshold_match_the_estimator(data):
    X, y, _ = data
    model = LinearSVC().fit(X, y)
    predicted = predict_and_score(model, X, pos_label="BENIGN")
    np.testing.assert_array_equal(predicted.y_pred, model.predict(X))
    # decision_function, oriented towards BENIGN (classes_[0]): negated.
    np.testing.assert_allclose(predicted.y_score, -model.decision_function(X))
    assert predicted.score_method == "decision_function"
    assert predicted.threshold == decision_threshold(model)
    assert predicted.predict_time >= 0


def test_a_labels_only_model_has_no_scores(data):
    X, y, _ = data
    predicted = predict_and_score(
        _LabelsOnly(random_state=0).fit(X, y), X, pos_label="MALIGNANT"
    )
    assert predicted.y_score is None and predicted.score_method is None
    assert predicted.y_pred.shape == (60,)


def test_cross_validation_holdout_and_saved_models_share_the_step(data, monkeypatch):
    """All three predict through _predict's one call of positive_class_scores."""
    X, y, groups = data
    calls = []

    def counting(estimator, X, *, pos_label):
        calls.append(len(X))
        return positive_class_scores(estimator, X, pos_label=pos_label)

    monkeypatch.setattr(predict_module, "positive_class_scores", counting)
    compare_models({"lr": LogisticRegression()}, X, y, groups=groups, cv=3)
    assert calls == [20, 20, 20]
    calls.clear()
    evaluate_holdout(
        {"lr": LogisticRegression()},
        X[:40],
        y[:40],
        X[40:],
        y[40:],
        groups_train=groups[:40],
        groups_test=groups[40:],
    )
    assert calls == [20]
    calls.clear()
    evaluate_fitted({"lr": LogisticRegression().fit(X[:40], y[:40])}, X[40:], y[40:])
    assert calls == [20]


def test_evaluate_fitted_gives_what_evaluate_holdout_gives_without_the_refit(data):
    X, y, groups = data
    held_out = evaluate_holdout(
        {"lr": LogisticRegression(), "labels": _LabelsOnly(random_state=0)},
        X[:40],
        y[:40],
        X[40:],
        y[40:],
        groups_train=groups[:40],
        groups_test=groups[40:],
    )
    fitted = evaluate_fitted(
        held_out.estimators,
        X[40:],
        y[40:],
        groups_test=groups[40:],
        training=held_out.training,
    )
    for name in ("lr", "labels"):
        np.testing.assert_array_equal(fitted.y_pred[name], held_out.y_pred[name])
        np.testing.assert_array_equal(fitted.y_score[name], held_out.y_score[name])
        assert fitted.score_method[name] == held_out.score_method[name]
        assert fitted.thresholds[name] == held_out.thresholds[name]
        assert math.isnan(fitted.fit_time[name])
    assert np.isnan(fitted.y_score["labels"]).all()
    assert fitted.training == held_out.training
    assert summarize(
        fitted, SummaryOptions(metrics=["sensitivity"], n_resamples=20)
    ).tables


@pytest.mark.parametrize(
    ("y_test", "models", "match"),
    [
        (np.array(["BENIGN", "OTHER"] * 10), None, "not classes of the models"),
        (np.array(["BENIGN"] * 19), None, "20 samples and y_test 19"),
        (None, "three", "fitted binary classifiers"),
        (None, "different", "different classes"),
    ],
)
def test_evaluate_fitted_refuses_inputs_it_cannot_score(data, y_test, models, match):
    X, y, _ = data
    fitted = {"lr": LogisticRegression().fit(X, y)}
    if models == "three":
        fitted["three"] = LogisticRegression().fit(X, np.arange(60) % 3)
    elif models == "different":
        fitted["other"] = LogisticRegression().fit(X, np.where(y == "BENIGN", 0, 1))
    with pytest.raises(ValueError, match=match):
        evaluate_fitted(fitted, X[40:], y[40:] if y_test is None else y_test)
