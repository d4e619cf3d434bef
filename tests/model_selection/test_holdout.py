"""evaluate_holdout: one refit on all training data, one look at the test set."""

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    FixedThresholdClassifier,
    StratifiedGroupKFold,
    TunedThresholdClassifierCV,
)
from sklearn.svm import LinearSVC

from mammoclf.evaluation import Predictions, evaluate_predictions
from mammoclf.exceptions import GroupLeakageWarning
from mammoclf.model_selection import decision_threshold, evaluate_holdout


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = np.where(X[:, 0] + 0.8 * rng.normal(size=120) > 0, "MALIGNANT", "BENIGN")
    patients = np.repeat(np.arange(60), 2)
    train = patients < 40
    return X[train], y[train], patients[train], X[~train], y[~train], patients[~train]


class RecordingGroupKFold(StratifiedGroupKFold):
    """StratifiedGroupKFold that keeps the groups it was given."""

    def split(self, X, y=None, groups=None):
        self.seen_groups_ = None if groups is None else np.asarray(groups).copy()
        return super().split(X, y, groups)


def test_models_are_refitted_on_all_training_data(split):
    X_train, y_train, g_train, X_test, y_test, g_test = split
    result = evaluate_holdout(
        {"logreg": LogisticRegression(C=0.5), "svm": LinearSVC()},
        X_train,
        y_train,
        X_test,
        y_test,
        groups_train=g_train,
        groups_test=g_test,
    )
    reference = LogisticRegression(C=0.5).fit(X_train, y_train)
    np.testing.assert_allclose(result.estimators["logreg"].coef_, reference.coef_)
    np.testing.assert_array_equal(result.y_pred["logreg"], reference.predict(X_test))
    np.testing.assert_allclose(
        result.y_score["logreg"], reference.predict_proba(X_test)[:, 1]
    )
    assert result.score_method == {
        "logreg": "predict_proba",
        "svm": "decision_function",
    }
    assert result.model_names == ("logreg", "svm")
    np.testing.assert_array_equal(result.y_true, y_test)
    np.testing.assert_array_equal(result.groups, g_test)
    assert result.training == {
        "n_images": 80,
        "n_patients": 40,
        "n_positive": int(np.sum(y_train == "MALIGNANT")),
        "prevalence": float(np.mean(y_train == "MALIGNANT")),
        "image_shape": (4,),
    }
    assert result.fit_time["logreg"] >= 0
    assert "HoldoutResult(models=['logreg', 'svm'], n_test=40, n_train=80)" == repr(
        result
    )


def test_scores_are_evaluate_predictions_on_the_test_set(split):
    X_train, y_train, g_train, X_test, y_test, g_test = split
    result = evaluate_holdout(
        [LogisticRegression(), DummyClassifier(strategy="prior")],
        X_train,
        y_train,
        X_test,
        y_test,
        groups_train=g_train,
        groups_test=g_test,
    )
    assert result.model_names == ("LogisticRegression", "DummyClassifier")
    table = Predictions.from_holdout(result).evaluate(
        ["sensitivity", "roc_auc"], n_resamples=50, random_state=0
    )
    alone = evaluate_predictions(
        y_test,
        y_pred=result.y_pred["LogisticRegression"],
        y_score=result.y_score["LogisticRegression"],
        groups=g_test,
        metrics=["sensitivity", "roc_auc"],
        n_resamples=50,
        random_state=np.random.RandomState(0).randint(2**31 - 1),
    )
    rows = table.loc["LogisticRegression"]
    np.testing.assert_allclose(rows["estimate"], alone["estimate"])
    np.testing.assert_allclose(rows["ci_high"], alone["ci_high"])
    assert table.loc[("DummyClassifier", "roc_auc"), "estimate"] == 0.5


def test_a_patient_in_both_sets_is_refused(split):
    X_train, y_train, g_train, X_test, y_test, g_test = split
    leaked = g_test.copy()
    leaked[5] = g_train[0]
    with pytest.raises(ValueError, match="1 patient\\(s\\) have images in both"):
        evaluate_holdout(
            [LogisticRegression()],
            X_train,
            y_train,
            X_test,
            y_test,
            groups_train=g_train,
            groups_test=leaked,
        )


def test_patient_ids_for_both_sets_or_neither(split):
    X_train, y_train, g_train, X_test, y_test, _ = split
    with pytest.raises(ValueError, match="both sets"):
        evaluate_holdout(
            [LogisticRegression()],
            X_train,
            y_train,
            X_test,
            y_test,
            groups_train=g_train,
        )
    with pytest.warns(GroupLeakageWarning, match="nothing checks"):
        result = evaluate_holdout(
            [LogisticRegression()], X_train, y_train, X_test, y_test
        )
    assert result.groups is None and result.training["n_patients"] is None


def test_bad_labels_and_lengths(split):
    X_train, y_train, g_train, X_test, y_test, g_test = split
    kwargs = {"groups_train": g_train, "groups_test": g_test}
    with pytest.raises(ValueError, match="two classes"):
        evaluate_holdout(
            [LogisticRegression()],
            X_train,
            np.full(80, "BENIGN"),
            X_test,
            y_test,
            **kwargs,
        )
    with pytest.raises(ValueError, match="not in y_train"):
        other = np.where(y_test == "BENIGN", "NORMAL", y_test)
        evaluate_holdout(
            [LogisticRegression()], X_train, y_train, X_test, other, **kwargs
        )
    with pytest.raises(ValueError, match="each pair must match"):
        evaluate_holdout(
            [LogisticRegression()], X_train, y_train[:-1], X_test, y_test, **kwargs
        )
    with pytest.raises(ValueError, match="groups_test has 39"):
        evaluate_holdout(
            [LogisticRegression()],
            X_train,
            y_train,
            X_test,
            y_test,
            groups_train=g_train,
            groups_test=g_test[:-1],
        )


def test_tuned_threshold_gets_the_training_patients(split):
    X_train, y_train, g_train, X_test, y_test, g_test = split
    tuned = TunedThresholdClassifierCV(
        LogisticRegression(), cv=RecordingGroupKFold(n_splits=4)
    )
    result = evaluate_holdout(
        {
            "tuned": tuned,
            "fixed": FixedThresholdClassifier(LogisticRegression(), threshold=0.3),
        },
        X_train,
        y_train,
        X_test,
        y_test,
        groups_train=g_train,
        groups_test=g_test,
    )
    fitted = result.estimators["tuned"]
    # The inner splitter saw the training patients, and only them.
    np.testing.assert_array_equal(fitted.cv.seen_groups_, g_train)
    threshold = result.thresholds["tuned"]
    assert threshold.threshold == fitted.best_threshold_
    assert threshold.response == "predict_proba"
    assert threshold.positive_class == "MALIGNANT"
    assert "TunedThresholdClassifierCV" in threshold.source
    # predict applies exactly the stated threshold to the stated scores.
    called = np.where(
        result.y_score["tuned"] >= threshold.threshold, "MALIGNANT", "BENIGN"
    )
    np.testing.assert_array_equal(result.y_pred["tuned"], called)
    assert result.thresholds["fixed"].threshold == 0.3
    table = Predictions.from_holdout(result).evaluate(
        ["sensitivity"], n_resamples=50, random_state=0
    )
    assert table.loc[("tuned", "sensitivity"), "threshold"] == fitted.best_threshold_


def test_decision_threshold_of_plain_estimators():
    X = np.arange(20.0).reshape(-1, 1)
    y = np.where(X[:, 0] > 9, "MALIGNANT", "BENIGN")
    plain = decision_threshold(LogisticRegression().fit(X, y))
    assert np.isnan(plain.threshold) and plain.source == "the estimator's own predict"
    auto = decision_threshold(FixedThresholdClassifier(LinearSVC()).fit(X, y))
    assert (auto.threshold, auto.response) == (0.0, "decision_function")
    auto = decision_threshold(FixedThresholdClassifier(LogisticRegression()).fit(X, y))
    assert (auto.threshold, auto.response) == (0.5, "predict_proba")


def test_model_without_scores_gets_nan_scores_and_label_metrics_only(split):
    from sklearn.base import BaseEstimator, ClassifierMixin

    class LabelsOnly(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            return np.where(X[:, 0] > 0, "MALIGNANT", "BENIGN")

    X_train, y_train, g_train, X_test, y_test, g_test = split
    result = evaluate_holdout(
        {"rule": LabelsOnly()},
        X_train,
        y_train,
        X_test,
        y_test,
        groups_train=g_train,
        groups_test=g_test,
    )
    assert result.score_method["rule"] is None
    assert np.isnan(result.y_score["rule"]).all()
    table = Predictions.from_holdout(result).evaluate(n_resamples=50, random_state=0)
    assert "roc_auc" not in table.index.get_level_values("metric")


def test_progress_lines(split, capsys):
    X_train, y_train, g_train, X_test, y_test, g_test = split
    evaluate_holdout(
        [LogisticRegression()],
        X_train,
        y_train,
        X_test,
        y_test,
        groups_train=g_train,
        groups_test=g_test,
        verbose=1,
    )
    assert "[evaluate_holdout] 1/1 LogisticRegression: fitted on 80 images" in (
        capsys.readouterr().err  # progress goes to stderr
    )


def test_deprecated_scores_are_the_predictions_evaluation(split):
    X_train, y_train, g_train, X_test, y_test, g_test = split
    result = evaluate_holdout(
        [LogisticRegression()],
        X_train,
        y_train,
        X_test,
        y_test,
        groups_train=g_train,
        groups_test=g_test,
    )
    with pytest.warns(FutureWarning, match=r"HoldoutResult\.scores\(\.\.\.\) is dep"):
        old = result.scores(["roc_auc"], n_resamples=20, random_state=1)
    new = Predictions.from_holdout(result).evaluate(
        ["roc_auc"], n_resamples=20, random_state=1
    )
    pd.testing.assert_frame_equal(old, new)
