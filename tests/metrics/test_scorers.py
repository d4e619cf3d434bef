import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.svm import LinearSVC

from mammoclf.metrics import (
    CLINICAL_METRICS,
    clinical_scorers,
    make_clinical_scorer,
    positive_class_scores,
    ppv_score,
    sensitivity_score,
)


@pytest.fixture(scope="module")
def tabular():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = np.where(X[:, 0] + 0.7 * rng.normal(size=80) > 0, "MALIGNANT", "BENIGN")
    return X, y


def test_scorers_match_sklearn_in_cross_validate(tabular):
    X, y = tabular
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    ours = cross_validate(LogisticRegression(), X, y, cv=cv, scoring=clinical_scorers())
    theirs = cross_validate(
        LogisticRegression(),
        X,
        y,
        cv=cv,
        scoring={
            "sensitivity": skm.make_scorer(skm.recall_score, pos_label="MALIGNANT"),
            "specificity": skm.make_scorer(skm.recall_score, pos_label="BENIGN"),
            "ppv": skm.make_scorer(skm.precision_score, pos_label="MALIGNANT"),
            "roc_auc": "roc_auc",
            "accuracy": "accuracy",
            "f1_weighted": "f1_weighted",
            "balanced_accuracy": "balanced_accuracy",
        },
    )
    assert {f"test_{m}" for m in CLINICAL_METRICS} <= set(ours)
    for name in [
        "sensitivity",
        "specificity",
        "ppv",
        "roc_auc",
        "accuracy",
        "f1_weighted",
        "balanced_accuracy",
    ]:
        np.testing.assert_allclose(ours[f"test_{name}"], theirs[f"test_{name}"])


def test_scorer_in_grid_search_refits_on_named_metric(tabular):
    X, y = tabular
    # C=1e-4 shrinks the model to a constant prediction: balanced accuracy 0.5
    # and no malignant calls, so PPV is undefined: NaN, which scikit-learn
    # reports as a non-finite test score (not a 0.0 that would rank).
    with pytest.warns(UserWarning, match="non-finite"):
        search = GridSearchCV(
            LogisticRegression(),
            {"C": [1e-4, 1.0]},
            cv=3,
            scoring=clinical_scorers(),
            refit="balanced_accuracy",
        ).fit(X, y)
    assert search.best_params_ == {"C": 1.0}
    np.testing.assert_allclose(
        search.cv_results_["mean_test_balanced_accuracy"][0], 0.5
    )
    assert np.all(np.isfinite(search.cv_results_["mean_test_roc_auc"]))
    assert np.isnan(search.cv_results_["mean_test_ppv"][0])


def test_named_ratio_scorers_return_nan_where_undefined():
    # One fold's worth of predictions: no malignant case, no malignant call.
    y_true = np.array(["BENIGN"] * 4)
    y_pred = np.array(["BENIGN"] * 4)
    for name in ("sensitivity", "ppv"):
        scorer = make_clinical_scorer(name, pos_label="MALIGNANT")
        assert np.isnan(scorer.score_predictions(y_true, y_pred=y_pred))
    for name in ("specificity", "npv"):
        scorer = make_clinical_scorer(name, pos_label="MALIGNANT")
        assert scorer.score_predictions(y_true, y_pred=y_pred) == 1.0
    # The metric functions keep scikit-learn's convention (0.0, warned).
    with pytest.warns(UndefinedMetricWarning, match="PPV is undefined"):
        assert ppv_score(y_true, y_pred, pos_label="MALIGNANT") == 0.0
    # An explicit choice wins over the scorer's NaN.
    zero = make_clinical_scorer("ppv", pos_label="MALIGNANT", zero_division=0.0)
    assert zero.score_predictions(y_true, y_pred=y_pred) == 0.0
    assert all(
        np.isnan(s.kwargs.get("zero_division", np.nan))
        for s in clinical_scorers(metrics=["sensitivity", "npv"]).values()
    )


def test_score_response_prefers_proba_and_orients_decision_function(tabular):
    X, y = tabular
    proba_model = LogisticRegression().fit(X, y)
    scores, method = positive_class_scores(proba_model, X, pos_label="MALIGNANT")
    assert method == "predict_proba"
    np.testing.assert_allclose(scores, proba_model.predict_proba(X)[:, 1])
    svc = LinearSVC().fit(X, y)
    pos, method = positive_class_scores(svc, X, pos_label="MALIGNANT")
    neg, _ = positive_class_scores(svc, X, pos_label="BENIGN")
    assert method == "decision_function"
    np.testing.assert_allclose(pos, svc.decision_function(X))
    np.testing.assert_allclose(neg, -svc.decision_function(X))
    auc = make_clinical_scorer("roc_auc")(svc, X, y)
    assert auc == pytest.approx(skm.roc_auc_score(y == "MALIGNANT", pos))
    with pytest.raises(ValueError, match="not among the classes"):
        positive_class_scores(svc, X, pos_label="OTHER")


def test_predict_scorer_resolves_pos_label_from_classes_on_one_class_fold(tabular):
    X, y = tabular
    model = LogisticRegression().fit(X, y)
    benign = y == "BENIGN"
    # The benign-only test set alone could not tell which class is malignant.
    specificity = clinical_scorers(metrics=["specificity"])["specificity"]
    assert specificity(model, X[benign], y[benign]) == pytest.approx(
        np.mean(model.predict(X[benign]) == "BENIGN")
    )


def test_make_clinical_scorer_validation_and_loss_sign(tabular):
    X, y = tabular
    model = LogisticRegression().fit(X, y)
    loss = make_clinical_scorer(
        skm.log_loss, response="score", greater_is_better=False, labels=[False, True]
    )
    expected = skm.log_loss(y == "MALIGNANT", model.predict_proba(X)[:, 1])
    assert loss.score_predictions(
        y == "MALIGNANT", y_score=model.predict_proba(X)[:, 1]
    ) == pytest.approx(-expected)
    assert "sensitivity_score" in repr(make_clinical_scorer(sensitivity_score))
    with pytest.raises(
        ValueError, match="'score_func' parameter of make_clinical_scorer"
    ):
        make_clinical_scorer("auc")
    with pytest.raises(ValueError, match="response"):
        make_clinical_scorer(sensitivity_score, response="proba")
    with pytest.raises(ValueError, match="subset"):
        clinical_scorers(metrics=["sensitivity", "recall"])
