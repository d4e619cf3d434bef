"""Folds: identical for all models, grouped, explicit, leak-checked."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    RepeatedStratifiedKFold,
    StratifiedGroupKFold,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mammoclf.model_selection import GroupLeakageWarning, compare_models


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Remembers which samples (column 0 holds the sample index) it trained on."""

    def __init__(self, *, flip=False):
        self.flip = flip

    def fit(self, X, y):
        self.seen_ = np.sort(np.asarray(X)[:, 0].astype(int))
        self.model_ = LogisticRegression().fit(np.asarray(X)[:, 1:], y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(np.asarray(X)[:, 1:])

    def predict(self, X):
        return self.model_.predict(np.asarray(X)[:, 1:])


@pytest.fixture(scope="module")
def tabular():
    rng = np.random.default_rng(0)
    n = 90
    features = rng.normal(size=(n, 3))
    X = np.column_stack([np.arange(n), features])
    y = np.where(features[:, 0] + rng.normal(size=n) > 0, "MALIGNANT", "BENIGN")
    groups = np.arange(n) // 3  # three images per patient
    return X, y, groups


def test_every_model_trains_on_the_same_folds(tabular):
    X, y, groups = tabular
    result = compare_models(
        {"a": RecordingClassifier(), "b": RecordingClassifier(flip=True)},
        X,
        y,
        groups=groups,
        cv=3,
        n_repeats=2,
        random_state=1,
        return_estimators=True,
    )
    assert result.n_splits == 6 and result.n_repeats == 2
    for split, est_a, est_b in zip(
        result.splits, result.estimators["a"], result.estimators["b"]
    ):
        np.testing.assert_array_equal(est_a.seen_, np.sort(split.train))
        np.testing.assert_array_equal(est_b.seen_, np.sort(split.train))
        assert not set(groups[split.train]) & set(groups[split.test])
    # Repeats reshuffle: the two partitions differ.
    assert not np.array_equal(result.fold_ids[0], result.fold_ids[1])
    # The same seed gives the same folds.
    again = compare_models(
        {"a": RecordingClassifier()},
        X,
        y,
        groups=groups,
        cv=3,
        n_repeats=2,
        random_state=1,
    )
    np.testing.assert_array_equal(again.fold_ids, result.fold_ids)


def test_default_is_five_stratified_group_folds(tabular):
    X, y, groups = tabular
    result = compare_models([LogisticRegression()], X, y, groups=groups, random_state=0)
    assert result.model_names == ("LogisticRegression",)
    assert result.n_splits == 5
    assert result.cv_description.startswith("StratifiedGroupKFold(n_splits=5")
    overall = np.mean(y == "MALIGNANT")
    for split in result.splits:
        assert abs(np.mean(y[split.test] == "MALIGNANT") - overall) < 0.12


@pytest.mark.filterwarnings("ignore:The groups parameter is ignored:UserWarning")
def test_leaky_splitter_is_refused(tabular):
    X, y, groups = tabular
    with pytest.raises(ValueError, match="Patient leak in repeat 0, fold 0"):
        compare_models(
            [LogisticRegression()],
            X,
            y,
            groups=groups,
            cv=KFold(3, shuffle=True, random_state=0),
        )
    # A group-aware splitter object is used as given.
    result = compare_models(
        [LogisticRegression()], X, y, groups=groups, cv=GroupKFold(3)
    )
    assert result.cv_description.startswith("GroupKFold")


@pytest.mark.filterwarnings("ignore:The groups parameter is ignored:UserWarning")
def test_repeated_splitter_objects_become_repeats(tabular):
    X, y, _ = tabular
    cv = RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0)
    result = compare_models([LogisticRegression()], X, y, groups=np.arange(90), cv=cv)
    assert result.n_repeats == 2
    assert (result.fold_ids >= 0).all()
    with pytest.raises(ValueError, match="n_repeats > 1 needs cv=None or an int"):
        compare_models(
            [LogisticRegression()], X, y, groups=np.arange(90), cv=cv, n_repeats=2
        )


def test_explicit_index_pairs(tabular):
    X, y, groups = tabular
    pairs = list(StratifiedGroupKFold(3).split(X, y, groups))
    result = compare_models([LogisticRegression()], X, y, groups=groups, cv=pairs)
    for split, (train, test) in zip(result.splits, pairs):
        np.testing.assert_array_equal(split.test, test)
    with pytest.raises(ValueError, match="out of range"):
        compare_models(
            [LogisticRegression()], X, y, cv=[(np.arange(10), [200])] * 2, groups=groups
        )


def test_missing_groups_warns(tabular):
    X, y, _ = tabular
    with pytest.warns(GroupLeakageWarning, match="groups=np.arange"):
        result = compare_models([LogisticRegression()], X, y, cv=3)
    assert result.cv_description.startswith("StratifiedKFold")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GroupLeakageWarning)
        compare_models([LogisticRegression()], X, y, cv=3, groups=np.arange(90))


def _path_features(paths):
    """Stand-in for an image loader: a feature from each file name."""
    return np.array([[float(p.endswith("_CC.dcm"))] for p in paths])


def test_file_paths_as_x_and_cbis_patient_heuristic():
    paths = [
        f"Mass-Training_P_{i // 2:05d}_LEFT_{'CC' if i % 2 else 'MLO'}.dcm"
        for i in range(24)
    ]
    y = np.array(["MALIGNANT" if p.endswith("_CC.dcm") else "BENIGN" for p in paths])
    model = make_pipeline(FunctionTransformer(_path_features), LogisticRegression())
    with pytest.warns(GroupLeakageWarning, match="12 of 12 CBIS-DDSM patient ids"):
        result = compare_models({"paths": model}, paths, y, cv=3, random_state=0)
    assert result.fold_scores("accuracy")["paths"].min() == 1.0
