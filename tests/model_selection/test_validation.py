"""Input validation of compare_models."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import InvalidParameterError

from mammoclf.evaluation import summarize
from mammoclf.metrics import make_clinical_scorer, ppv_score
from mammoclf.model_selection import compare_models


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = np.where(X[:, 0] > 0, "MALIGNANT", "BENIGN")
    return X, y, np.arange(40)


def test_rejects_bad_inputs(data):
    X, y, groups = data
    lr = LogisticRegression()
    with pytest.raises(ValueError, match="binary classifiers; y has 3"):
        compare_models([lr], X, np.resize(["A", "B", "C"], 40), groups=groups)
    with pytest.raises(ValueError, match="X has 40 samples but y has 39"):
        compare_models([lr], X, y[:-1], groups=groups)
    with pytest.raises(ValueError, match="groups has 39 entries"):
        compare_models([lr], X, y, groups=groups[:-1])
    with pytest.raises(ValueError, match="unique"):
        compare_models([("m", lr), ("m", lr)], X, y, groups=groups)
    with pytest.raises(ValueError, match="empty"):
        compare_models({}, X, y, groups=groups)
    with pytest.raises(InvalidParameterError, match="n_repeats"):
        compare_models([lr], X, y, groups=groups, n_repeats=0)
    with pytest.raises(InvalidParameterError, match="'cv' parameter"):
        compare_models([lr], X, y, groups=groups, cv=1)


def test_scoring_options(data):
    X, y, groups = data
    lr = LogisticRegression()
    result = compare_models([lr], X, y, groups=groups, cv=2, scoring="sensitivity")
    assert result.metric_names == ("sensitivity",)
    custom = {"precision": make_clinical_scorer(ppv_score), "auc": "roc_auc"}
    result = compare_models([lr], X, y, groups=groups, cv=2, scoring=custom)
    assert result.metric_names == ("precision", "auc")
    with pytest.raises(TypeError, match="estimator-calling scikit-learn scorer"):
        compare_models([lr], X, y, groups=groups, scoring={"auc": lambda e, X, y: 0.0})
    with pytest.raises(
        ValueError, match="scoring: unknown clinical metric 'neg_log_loss'"
    ):
        compare_models([lr], X, y, groups=groups, scoring=["neg_log_loss"])


class LabelsOnly(ClassifierMixin, BaseEstimator):
    """A classifier with predict only (no predict_proba, no decision_function)."""

    def fit(self, X, y):
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


class FailingClassifier(LabelsOnly):
    def fit(self, X, y):
        raise ValueError("cannot fit")


# Both models classify this easy data equally well in both folds.
@pytest.mark.filterwarnings("ignore:Nadeau-Bengio:RuntimeWarning")
def test_models_without_scores_cannot_be_scored_by_auc(data):
    X, y, groups = data
    with pytest.raises(ValueError, match="'labels' has neither predict_proba"):
        compare_models({"labels": LabelsOnly()}, X, y, groups=groups)
    result = compare_models(
        {"labels": LabelsOnly(), "svc": LinearSVC()},
        X,
        y,
        groups=groups,
        cv=2,
        scoring=["accuracy"],
    )
    assert result.score_method == {"labels": None, "svc": "decision_function"}
    assert np.isnan(result.y_score["labels"]).all()
    # The default summary then skips DeLong (it needs scores of every model).
    assert set(summarize(result).tests["test_key"]) == {"corrected_t"}


def test_fit_errors_name_the_model_and_fold(data):
    X, y, groups = data
    with pytest.raises(ValueError, match="cannot fit") as info:
        compare_models(
            {"bad": FailingClassifier()},
            X,
            y,
            groups=groups,
            cv=2,
            scoring=["accuracy"],
        )
    assert "'bad' on repeat 0, fold 0" in "".join(getattr(info.value, "__notes__", []))


def test_verbose_reports_progress(data, capsys):
    X, y, groups = data
    compare_models([LogisticRegression()], X, y, groups=groups, cv=2, verbose=1)
    console = capsys.readouterr()
    assert console.out == ""  # progress goes to stderr
    out = console.err
    assert "1 model(s) x 2 splits = 2 fits" in out
    assert "2/2 LogisticRegression repeat 0 fold 1" in out and "roc_auc" in out


def test_memory_measurement_can_be_turned_off(data):
    X, y, groups = data
    result = compare_models(
        [LogisticRegression()], X, y, groups=groups, cv=2, measure_memory=False
    )
    assert result.compute["peak_memory_mb"].isna().all()
    assert "not measured" in str(summarize(result))


def test_pos_label_must_be_named_when_labels_are_not_malignant(data):
    X, _, groups = data
    y = np.where(X[:, 0] > 0, "sick", "healthy")
    with pytest.raises(ValueError, match="no label named 'malignant'"):
        compare_models([LogisticRegression()], X, y, groups=groups)
    result = compare_models(
        [LogisticRegression()], X, y, groups=groups, cv=2, pos_label="healthy"
    )
    assert result.pos_label == "healthy"
    oof = result.out_of_fold("LogisticRegression")
    healthy = oof.y_true == "healthy"
    fold0 = oof.fold == 0
    expected = np.mean(oof.y_pred[healthy & fold0] == "healthy")
    assert result.scores["sensitivity"].iloc[0] == pytest.approx(expected)
