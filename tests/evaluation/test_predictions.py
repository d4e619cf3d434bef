"""Predictions: who predicted what, out-of-fold or held out, read back from the results."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.svm import LinearSVC

from mammoclf.evaluation import Predictions
from mammoclf.model_selection import compare_models, evaluate_holdout


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=n) > 0, "MALIGNANT", "BENIGN")
    return X, y, np.arange(n) // 2


MODELS = {
    "logreg": FixedThresholdClassifier(LogisticRegression(), threshold=0.3),
    "nb": GaussianNB(),
    "svm": LinearSVC(),
}


@pytest.fixture(scope="module")
def comparison():
    X, y, groups = _data()
    return compare_models(MODELS, X, y, groups=groups, cv=2, n_repeats=2)


def test_from_comparison_is_the_out_of_fold_predictions_of_each_repeat(comparison):
    paths = np.array([f"img{i}.png" for i in range(40)])
    for repeat in (0, 1):
        predictions = Predictions.from_comparison(
            comparison, repeat=repeat, paths=paths
        )
        assert predictions.which == "cv"
        assert predictions.model_names == ("logreg", "nb", "svm")
        for model in predictions.model_names:
            table = comparison.out_of_fold(model, repeat=repeat)
            np.testing.assert_array_equal(predictions.sample, table.index)
            np.testing.assert_array_equal(predictions.fold, table["fold"])
            np.testing.assert_array_equal(predictions.groups, table["group"])
            np.testing.assert_array_equal(predictions.y_pred[model], table["y_pred"])
            np.testing.assert_array_equal(paths[table.index], predictions.paths)
            if model == "svm":  # decision_function: scores, not probabilities
                assert model not in predictions.probability_models
            else:
                np.testing.assert_allclose(predictions.y_score[model], table["y_score"])
        # Each image's threshold is that of the fold model that predicted it.
        for index, split in enumerate(comparison.splits):
            if split.repeat != repeat:
                continue
            rows = np.isin(predictions.sample, split.test)
            expected = comparison.thresholds["logreg"][index].threshold
            assert expected == 0.3
            assert np.all(predictions.thresholds["logreg"][rows] == expected)


def test_to_frame_has_one_row_per_image_and_model_with_words_for_labels(comparison):
    frame = Predictions.from_comparison(comparison).to_frame()
    assert len(frame) == 40 * 3
    assert list(frame.columns) == [
        "sample",
        "patient",
        "fold",
        "model",
        "y_true",
        "threshold",
        "y_score",
        "y_pred",
    ]
    assert set(frame["y_true"]) == {"BENIGN", "MALIGNANT"}
    assert all(type(v) is str for v in frame["y_pred"])
    logreg = frame[frame["model"] == "logreg"].set_index("sample")
    pd.testing.assert_series_equal(
        logreg["y_score"],
        comparison.out_of_fold("logreg")["y_score"],
        check_names=False,
        check_index_type=False,
    )


def test_from_holdout_of_a_holdout_and_of_a_comparison_with_one(comparison):
    X, y, groups = _data(40)
    X_test, y_test, groups_test = _data(20, seed=1)
    holdout = evaluate_holdout(
        {"logreg": FixedThresholdClassifier(LogisticRegression(), threshold=0.3)},
        X,
        y,
        X_test,
        y_test,
        groups_train=groups,
        groups_test=groups_test + 100,
    )
    predictions = Predictions.from_holdout(holdout, paths=[f"t{i}" for i in range(20)])
    assert predictions.which == "holdout" and predictions.fold is None
    np.testing.assert_array_equal(predictions.y_true, y_test)
    np.testing.assert_array_equal(
        predictions.y_pred["logreg"], holdout.y_pred["logreg"]
    )
    assert np.all(predictions.thresholds["logreg"] == 0.3)
    assert "fold" not in predictions.to_frame().columns
    assert predictions.to_frame()["path"].iloc[3] == "t3"
    attached = Predictions.from_holdout(comparison.with_holdout(holdout))
    np.testing.assert_array_equal(attached.y_score["logreg"], holdout.y_score["logreg"])


def test_the_wrong_result_and_bad_paths_are_refused(comparison):
    with pytest.raises(TypeError, match="from_comparison needs a ComparisonResult"):
        Predictions.from_comparison(object())
    with pytest.raises(TypeError, match="without a held-out evaluation"):
        Predictions.from_holdout(comparison)
    with pytest.raises(ValueError, match="repeat must be in"):
        Predictions.from_comparison(comparison, repeat=2)
    with pytest.raises(ValueError, match="one entry per sample"):
        Predictions.from_comparison(comparison, paths=["a.png"])
