"""compare_models on real mammoclf estimators and a scikit-learn pipeline."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mammoclf.evaluation import summarize
from mammoclf.model_selection import ComparisonResult


def test_result_structure(cnn_comparison, toy_images):
    _X, _y, _groups = toy_images
    r = cnn_comparison
    assert isinstance(r, ComparisonResult)
    assert r.model_names == ("cnn", "cnn_avg", "logreg")
    assert r.pos_label == "MALIGNANT"
    assert r.n_splits == 3 and r.n_repeats == 1
    assert r.scores.shape == (9, 8)
    assert r.scores.index.names == ["model", "repeat", "fold"]
    assert "StratifiedGroupKFold" in r.cv_description
    assert "3 models" in repr(r)


def test_every_image_is_tested_once_and_no_patient_is_split(cnn_comparison, toy_images):
    _, y, groups = toy_images
    r = cnn_comparison
    np.testing.assert_array_equal(
        np.sort(np.concatenate([s.test for s in r.splits])), np.arange(60)
    )
    for split in r.splits:
        assert not set(groups[split.train]) & set(groups[split.test])
        # stratified: 10 malignant per 20-image fold, give or take a patient
        assert abs(np.mean(y[split.test] == "MALIGNANT") - 0.5) <= 0.1
    for model in r.model_names:
        oof = r.out_of_fold(model)
        assert list(oof.index) == list(range(60))
        np.testing.assert_array_equal(oof["fold"], r.fold_ids[0])
        assert oof["y_score"].notna().all()


def test_scores_are_the_metrics_of_out_of_fold_predictions(cnn_comparison, toy_images):
    _, _y, _ = toy_images
    r = cnn_comparison
    for model in r.model_names:
        oof = r.out_of_fold(model)
        for split in r.splits:
            fold = oof.loc[split.test]
            auc = skm.roc_auc_score(fold["y_true"] == "MALIGNANT", fold["y_score"])
            acc = skm.accuracy_score(fold["y_true"], fold["y_pred"])
            sens = skm.recall_score(
                fold["y_true"], fold["y_pred"], pos_label="MALIGNANT"
            )
            row = r.scores.loc[(model, split.repeat, split.fold)]
            assert row["roc_auc"] == pytest.approx(auc)
            assert row["accuracy"] == pytest.approx(acc)
            assert row["sensitivity"] == pytest.approx(sens)


def test_out_of_fold_scores_come_from_the_fold_models(cnn_comparison, toy_images):
    X, _, _ = toy_images
    r = cnn_comparison
    for model in ("cnn", "logreg"):
        for split, estimator in zip(r.splits, r.estimators[model]):
            expected = estimator.predict_proba(X[split.test])[:, 1]
            np.testing.assert_allclose(
                r.y_score[model][0, split.test], expected, rtol=1e-5
            )
    assert r.score_method == dict.fromkeys(r.model_names, "predict_proba")


def test_epochs_time_per_epoch_and_histories(cnn_comparison):
    compute = cnn_comparison.compute
    cnn_avg = compute.loc["cnn_avg"]
    assert (cnn_avg["n_epochs"] == 2).all()
    np.testing.assert_allclose(cnn_avg["time_per_epoch"], cnn_avg["train_time"] / 2)
    assert (cnn_avg["train_time"] <= cnn_avg["fit_time"]).all()
    logreg = compute.loc["logreg"]
    assert logreg["n_epochs"].isna().all() and logreg["time_per_epoch"].isna().all()
    for history in cnn_comparison.histories["cnn_avg"]:
        assert len(history["loss"]) == 2 and "auc" in history
    assert cnn_comparison.histories["logreg"] == (None, None, None)
    table = cnn_comparison.compute_summary()
    assert table.loc["cnn", "fit_time_total"] == pytest.approx(
        compute.loc["cnn", "fit_time"].sum()
    )


def test_peak_memory_is_process_rss_during_fit(cnn_comparison):
    compute = cnn_comparison.compute
    # The process holds Python, NumPy and TensorFlow: hundreds of MB at least.
    assert (compute["peak_memory_mb"] > 100).all()
    assert (compute["memory_increase_mb"] >= 0).all()
    assert (compute["memory_increase_mb"] <= compute["peak_memory_mb"]).all()


@pytest.mark.filterwarnings(
    "ignore:Nadeau-Bengio:RuntimeWarning"
)  # AUC 1 in every fold
def test_summary_prints_table_one_and_tests(cnn_comparison):
    summary = summarize(cnn_comparison)
    text = str(summary)
    for expected in (
        "cnn_avg",
        "logreg",
        "sensitivity",
        "specificity",
        "roc_auc",
        "±",
        "corrected t",
        "DeLong",
        "Friedman",
        "p (holm)",
        "peak RSS (MB)",
    ):
        assert expected in text, expected
    markdown = summary.to_markdown()
    assert markdown.startswith("## Comparison of 3 model(s)")
    assert "| metric | cnn | cnn_avg | logreg |" in markdown
    folds = cnn_comparison.fold_scores("specificity")
    table = summary.scores
    for model in cnn_comparison.model_names:
        assert table.loc[("specificity", model), "mean"] == pytest.approx(
            folds[model].mean()
        )
        assert table.loc[("specificity", model), "sd"] == pytest.approx(
            folds[model].std(ddof=1)
        )
    # 3 pairs for each of the two default tests, Holm-adjusted within a test.
    assert len(summary.tests) == 6
    assert set(summary.tests["test_key"]) == {"corrected_t", "delong"}


def test_result_pickles_with_fitted_models(cnn_comparison, toy_images):
    X, _, _ = toy_images
    restored = pickle.loads(pickle.dumps(cnn_comparison))
    pd.testing.assert_frame_equal(restored.scores, cnn_comparison.scores)
    split = cnn_comparison.splits[0]
    np.testing.assert_allclose(
        restored.estimators["cnn"][0].predict_proba(X[split.test]),
        cnn_comparison.estimators["cnn"][0].predict_proba(X[split.test]),
        rtol=1e-6,
    )
