"""mammoclf models inside scikit-learn's threshold classifiers, patient groups routed.

A threshold used for binary metrics must be chosen on training data only.
scikit-learn's ``TunedThresholdClassifierCV`` does that by cross-validation
inside ``fit``; with ``cv=StratifiedGroupKFold(...)`` the patient ids reach
its splitter only through metadata routing
(``sklearn.config_context(enable_metadata_routing=True)``). These tests pin
that mammoclf estimators and ``make_pipeline`` pipelines work there, and that
the threshold a report states is the one ``predict`` applies.
"""

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import (
    FixedThresholdClassifier,
    StratifiedGroupKFold,
    TunedThresholdClassifierCV,
)

from mammoclf import Augmenter, ScratchCNNClassifier, make_pipeline
from mammoclf.evaluation import SummaryOptions, summarize
from mammoclf.model_selection import decision_threshold


class RecordingGroupKFold(StratifiedGroupKFold):
    """StratifiedGroupKFold that keeps the groups and folds it produced."""

    def split(self, X, y=None, groups=None):
        self.seen_groups_ = None if groups is None else np.asarray(groups).copy()
        self.folds_ = list(super().split(X, y, groups))
        return iter(self.folds_)


def _tiny_cnn():
    return ScratchCNNClassifier(
        filters=(4,), dense_units=4, epochs=2, batch_size=16, random_state=0
    )


@pytest.fixture(scope="module")
def images():
    """48 images of 16x16 px (a bright square means malignant), 2 per patient."""
    rng = np.random.default_rng(0)
    X = rng.random((48, 16, 16), dtype=np.float32) * 0.5
    y = np.array(["BENIGN", "MALIGNANT"] * 24)
    X[y == "MALIGNANT", 6:10, 6:10] += 0.5
    patients = np.repeat(np.arange(24), 2)
    return X, y, patients


@pytest.fixture(scope="module")
def tuned(images):
    X, y, patients = images
    pipeline = make_pipeline(Augmenter(n_copies=1, random_state=0), _tiny_cnn())
    model = TunedThresholdClassifierCV(
        pipeline, cv=RecordingGroupKFold(n_splits=2), random_state=0
    )
    with sklearn.config_context(enable_metadata_routing=True):
        return model.fit(X, y, groups=patients)


def test_tuned_threshold_pipeline_uses_patient_grouped_inner_folds(images, tuned):
    _, _, patients = images
    splitter = tuned.cv
    np.testing.assert_array_equal(splitter.seen_groups_, patients)
    assert len(splitter.folds_) == 2
    for train, test in splitter.folds_:
        assert not set(patients[train]) & set(patients[test])


def test_the_stated_threshold_is_the_one_predict_applies(images, tuned):
    X, _, _ = images
    stated = decision_threshold(tuned)
    assert stated.threshold == tuned.best_threshold_
    assert 0 < stated.threshold < 1
    assert stated.response == "predict_proba"
    assert stated.positive_class == "MALIGNANT"
    assert "TunedThresholdClassifierCV" in stated.source
    probability = tuned.predict_proba(X)[:, 1]
    expected = np.where(probability >= stated.threshold, "MALIGNANT", "BENIGN")
    np.testing.assert_array_equal(tuned.predict(X), expected)
    # The refitted pipeline inside keeps mammoclf's own rule.
    inner = decision_threshold(tuned.estimator_)
    assert (inner.threshold, inner.source) == (
        0.5,
        "mammoclf default: probability above 0.5",
    )


def test_groups_need_metadata_routing(images):
    X, y, patients = images
    model = TunedThresholdClassifierCV(_tiny_cnn(), cv=StratifiedGroupKFold(n_splits=2))
    # Refused before any fit: without routing scikit-learn takes no groups.
    with pytest.raises(ValueError, match="enable_metadata_routing"):
        model.fit(X, y, groups=patients)


def test_fixed_threshold_classifier_around_a_mammoclf_estimator(images):
    X, y, _ = images
    fixed = FixedThresholdClassifier(
        _tiny_cnn(), threshold=0.3, pos_label="MALIGNANT"
    ).fit(X, y)
    probability = fixed.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(
        fixed.predict(X), np.where(probability >= 0.3, "MALIGNANT", "BENIGN")
    )
    stated = decision_threshold(fixed)
    assert (stated.threshold, stated.positive_class) == (0.3, "MALIGNANT")
    # The bare estimator predicts malignant above probability 0.5, as stated.
    bare = fixed.estimator_
    assert decision_threshold(bare).threshold == 0.5
    np.testing.assert_array_equal(
        bare.predict(X), np.where(probability > 0.5, "MALIGNANT", "BENIGN")
    )


@pytest.fixture(scope="module")
def tuned_comparison(images):
    """compare_models of a tuned-threshold pipeline on patient-grouped folds.

    The pipeline ends in a logistic regression to keep the six fits cheap;
    the CNN inside TunedThresholdClassifierCV is tested above.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import FunctionTransformer

    from mammoclf.model_selection import compare_models

    X, y, patients = images
    flatten = FunctionTransformer(np.reshape, kw_args={"shape": (-1, 16 * 16)})
    tuned = TunedThresholdClassifierCV(
        make_pipeline(flatten, LogisticRegression()),
        cv=RecordingGroupKFold(n_splits=2),
        random_state=0,
    )
    return compare_models(
        {"tuned": tuned},
        X,
        y,
        groups=patients,
        cv=2,
        random_state=0,
        return_estimators=True,
        measure_memory=False,
    )


def test_compare_models_routes_training_patients_to_a_tuned_threshold(
    images, tuned_comparison
):
    _, _, patients = images
    for split, fitted in zip(
        tuned_comparison.splits, tuned_comparison.estimators["tuned"]
    ):
        # The inner splitter saw the outer training fold's patients, in order.
        np.testing.assert_array_equal(fitted.cv.seen_groups_, patients[split.train])
        for train, test in fitted.cv.folds_:
            inner = patients[split.train]
            assert not set(inner[train]) & set(inner[test])


def test_compare_models_states_each_folds_tuned_threshold(tuned_comparison):
    thresholds = tuned_comparison.thresholds["tuned"]
    fitted = tuned_comparison.estimators["tuned"]
    assert len(thresholds) == tuned_comparison.n_splits == 2
    for stated, model in zip(thresholds, fitted):
        assert stated.threshold == model.best_threshold_
        assert stated == decision_threshold(model)
        assert "TunedThresholdClassifierCV" in stated.source


def test_the_summary_states_the_threshold_each_fold_model_applied(tuned_comparison):
    table = summarize(tuned_comparison, SummaryOptions(tests=())).table("thresholds")
    fitted = tuned_comparison.estimators["tuned"]
    np.testing.assert_array_equal(
        table.data["threshold"], [model.best_threshold_ for model in fitted]
    )
    shown = table.display.set_index("model").loc["tuned", "cross-validation"]
    low, high = sorted(model.best_threshold_ for model in fitted)
    expected = f"{low:.3f}" if low == high else f"{low:.3f} to {high:.3f} (per fold)"
    assert shown == expected
    assert "TunedThresholdClassifierCV" in table.display["chosen by"].iloc[0]
