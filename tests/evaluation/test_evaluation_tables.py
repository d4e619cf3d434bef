"""The evaluation tables of the summary: each is its evaluation function's numbers.

The comparisons here are built from arrays (no training): known out-of-fold
scores, thresholds and metadata, so each table can be checked against the
function that owns its numbers, and breast level against a hand computation.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mammoclf.evaluation import (
    Predictions,
    SummaryOptions,
    evaluate_calibration,
    evaluate_operating_points,
    evaluate_subgroups,
    summarize,
)
from mammoclf.metrics import breast_level, roc_auc_score
from mammoclf.model_selection import (
    ComparisonResult,
    DecisionThreshold,
    HoldoutResult,
    Split,
    compare_models,
    evaluate_holdout,
)

N_RESAMPLES = 30
MALIGNANT, BENIGN = "MALIGNANT", "BENIGN"


def _threshold(value, source="fixed by FixedThresholdClassifier"):
    return DecisionThreshold(value, "predict_proba", MALIGNANT, source)


def fake_comparison(seed=0, n_patients=40, thresholds=(0.5, 0.4), metadata=True):
    """Two models' out-of-fold probabilities on 2 folds, 2 images per patient."""
    rng = np.random.default_rng(seed)
    n = 2 * n_patients
    groups = np.repeat(np.arange(n_patients), 2)
    y = np.where(rng.random(n) < 0.5, MALIGNANT, BENIGN)
    positive = y == MALIGNANT
    scores = {
        "good": np.clip(0.5 + 0.3 * (positive - 0.5) + 0.2 * rng.normal(size=n), 0, 1),
        "weak": np.clip(0.5 + 0.1 * (positive - 0.5) + 0.2 * rng.normal(size=n), 0, 1),
    }
    fold = (groups % 2).astype(int)
    splits = tuple(
        Split(0, k, np.flatnonzero(fold != k), np.flatnonzero(fold == k))
        for k in (0, 1)
    )
    per_image = np.where(fold == 0, thresholds[0], thresholds[1])
    y_pred = {
        m: np.where(s >= per_image, MALIGNANT, BENIGN).astype(object)[None, :]
        for m, s in scores.items()
    }
    index = pd.MultiIndex.from_tuples(
        [(m, 0, k) for m in scores for k in (0, 1)], names=["model", "repeat", "fold"]
    )
    frame = pd.DataFrame({"roc_auc": 0.5}, index=index)
    meta = pd.DataFrame(
        {
            "laterality": np.tile(["L", "R"], n_patients),
            "density": np.repeat(rng.integers(1, 3, n_patients), 2),
        },
        index=np.arange(100, 100 + n),  # the index is dropped, only the order counts
    )
    return ComparisonResult(
        model_names=("good", "weak"),
        metric_names=("roc_auc",),
        classes=np.array([BENIGN, MALIGNANT]),
        pos_label=MALIGNANT,
        y_true=y,
        groups=groups,
        splits=splits,
        cv_description="2 grouped folds",
        scores=frame,
        compute=pd.DataFrame(
            dict.fromkeys(
                [
                    "fit_time",
                    "train_time",
                    "predict_time",
                    "n_epochs",
                    "time_per_epoch",
                    "peak_memory_mb",
                    "memory_increase_mb",
                ],
                0.0,
            ),
            index=index,
        ),
        y_pred=y_pred,
        y_score={m: s[None, :] for m, s in scores.items()},
        score_method=dict.fromkeys(scores, "predict_proba"),
        histories={m: (None, None) for m in scores},
        stages={m: (None, None) for m in scores},
        estimators=None,
        thresholds={m: tuple(_threshold(t) for t in thresholds) for m in scores},
        metadata=meta.reset_index(drop=True) if metadata else None,
    )


def fake_holdout(seed=1, first_patient=1000, n_patients=20):
    rng = np.random.default_rng(seed)
    n = 2 * n_patients
    y = np.where(rng.random(n) < 0.4, MALIGNANT, BENIGN)
    score = np.clip(
        0.5 + 0.3 * ((y == MALIGNANT) - 0.5) + 0.2 * rng.normal(size=n), 0, 1
    )
    return HoldoutResult(
        model_names=("good",),
        classes=np.array([BENIGN, MALIGNANT]),
        pos_label=MALIGNANT,
        y_true=y,
        groups=np.repeat(np.arange(first_patient, first_patient + n_patients), 2),
        y_pred={"good": np.where(score >= 0.45, MALIGNANT, BENIGN)},
        y_score={"good": score},
        score_method={"good": "predict_proba"},
        thresholds={"good": _threshold(0.45)},
        fit_time={"good": 0.0},
        estimators={"good": None},
        training={
            "n_images": 80,
            "n_patients": 40,
            "n_positive": 40,
            "prevalence": 0.5,
            "image_shape": (64, 64),
        },
        metadata=pd.DataFrame(
            {
                "laterality": np.tile(["L", "R"], n_patients),
                "density": np.repeat(rng.integers(1, 3, n_patients), 2),
            }
        ),
    )


@pytest.fixture(scope="module")
def comparison():
    return fake_comparison()


def _summary(result, n_resamples=N_RESAMPLES, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return summarize(
            result,
            SummaryOptions(
                n_resamples=n_resamples, random_state=0, tests=(), **options
            ),
        )


def test_thresholds_table_states_each_folds_threshold(comparison):
    table = _summary(comparison, breast_level=None, subgroups=()).table("thresholds")
    assert [
        t.key for t in _summary(comparison, breast_level=None, subgroups=()).tables
    ] == [
        "metrics",
        "thresholds",
        "compute",
    ]
    assert table.data["threshold"].tolist() == [0.5, 0.4, 0.5, 0.4]
    row = table.display.set_index("model").loc["good"]
    assert row["cross-validation"] == "0.400 to 0.500 (per fold)"
    assert row["chosen by"] == "fixed by FixedThresholdClassifier"


def test_calibration_table_is_evaluate_calibration_of_the_pooled_predictions(
    comparison,
):
    table = _summary(
        comparison, calibration=True, subgroups=(), breast_level=None
    ).table("calibration")
    for model in comparison.model_names:
        direct = evaluate_calibration(
            comparison.y_true,
            comparison.y_score[model][0],
            groups=comparison.groups,
            n_resamples=N_RESAMPLES,
            random_state=0,
        )
        mine = table.data.loc[model]
        pd.testing.assert_frame_equal(
            mine.drop(columns="result"), direct.table, check_names=False
        )
        # Brier by hand: the mean squared error of the probabilities.
        y01 = comparison.y_true == MALIGNANT
        brier = np.mean((comparison.y_score[model][0] - y01) ** 2)
        assert mine.loc["brier_score", "estimate"] == pytest.approx(brier)
        # The reliability diagram is drawn from the table's own result.
        assert mine["result"].iloc[0].n_images == comparison.y_true.size
    plain = _summary(comparison, breast_level=None, subgroups=())
    assert "calibration" not in [t.key for t in plain.tables]


def test_operating_points_table_is_evaluate_operating_points(comparison):
    summary = _summary(
        comparison, operating_points=True, subgroups=(), breast_level=None
    )
    table = summary.table("operating_points")
    direct = evaluate_operating_points(
        comparison.y_true,
        comparison.y_score["weak"][0],
        groups=comparison.groups,
        n_resamples=N_RESAMPLES,
        random_state=0,
    )
    pd.testing.assert_frame_equal(table.data.loc["weak"], direct)
    assert table.display["operating point"].tolist()[0] == (
        "sensitivity at specificity ≥ 0.80"
    )


def test_breast_level_on_a_hand_made_case():
    result = fake_comparison(n_patients=20, thresholds=(0.5, 0.5))
    table = _summary(result, n_resamples=10, subgroups=()).table("breast")
    # Every patient has one L and one R image here: breasts are images.
    good = table.data.loc[("good", "breast")]
    assert good["n"].iloc[0] == 40
    # Now two views of each breast: patient p's images are both left.
    same_side = fake_comparison(n_patients=20, thresholds=(0.5, 0.5))
    metadata = same_side.metadata.assign(laterality="L")
    same_side = ComparisonResult(**{**same_side.__dict__, "metadata": metadata})
    data = _summary(same_side, n_resamples=10, subgroups=()).table("breast").data
    scores = same_side.y_score["good"][0]
    by_hand = (
        pd.DataFrame(
            {
                "patient": same_side.groups,
                "score": scores,
                "y": same_side.y_true == MALIGNANT,
            }
        )
        .groupby("patient")
        .agg(score=("score", "mean"), y=("y", "max"))
    )
    breast = data.loc[("good", "breast")]
    assert breast["n"].iloc[0] == 20
    expected_auc = roc_auc_score(
        np.where(by_hand["y"], MALIGNANT, BENIGN), by_hand["score"], pos_label=MALIGNANT
    )
    assert breast.loc["roc_auc", "estimate"] == pytest.approx(expected_auc)
    # Sensitivity at the stated threshold 0.5 on the breast's mean probability.
    called = by_hand["score"] >= 0.5
    sensitivity = (called & by_hand["y"]).sum() / by_hand["y"].sum()
    assert breast.loc["sensitivity", "estimate"] == pytest.approx(sensitivity)
    # breast_level agrees with the hand computation.
    bunch = breast_level(
        same_side.y_true, scores, patients=same_side.groups, laterality=["L"] * 40
    )
    np.testing.assert_allclose(bunch.y_score, by_hand["score"].to_numpy())


def test_subgroup_table_is_evaluate_subgroups_and_flags_small_groups(comparison):
    with pytest.warns(UserWarning, match="density subgroup"):
        summary = summarize(
            comparison,
            SummaryOptions(n_resamples=N_RESAMPLES, breast_level=None, min_cases=30),
        )
    table = summary.table("subgroups")
    direct = evaluate_subgroups(
        comparison.y_true,
        comparison.metadata["density"],
        y_pred=comparison.y_pred["good"][0],
        y_score=comparison.y_score["good"][0],
        groups=comparison.groups,
        metrics=["roc_auc", "sensitivity", "specificity"],
        name="density",
        n_resamples=N_RESAMPLES,
        random_state=0,
    )
    mine = table.data.xs(("density",), level=["variable"]).xs("good", level="model")
    np.testing.assert_allclose(mine["estimate"], direct["estimate"])
    np.testing.assert_allclose(mine["ci_low"], direct["ci_low"])
    assert (table.display["too small"] == "yes").all()  # < 30 cases each
    assert any("too few" in note for note in table.notes)


def test_holdout_tables_are_kept_apart_from_the_cross_validation(comparison):
    result = comparison.with_holdout(fake_holdout())
    keys = [
        t.key for t in _summary(result, calibration=True, operating_points=True).tables
    ]
    assert (
        keys.index("subgroups")
        < keys.index("holdout")
        < keys.index("holdout_calibration")
    )
    assert {"holdout_operating_points", "holdout_breast", "holdout_subgroups"} < set(
        keys
    )
    summary = _summary(result, subgroups=(), breast_level=None)
    holdout = summary.table("holdout")
    direct = Predictions.from_holdout(fake_holdout()).evaluate(
        list(comparison.metric_names), n_resamples=N_RESAMPLES, random_state=0
    )
    pd.testing.assert_frame_equal(holdout.data, direct)
    thresholds = summary.table("thresholds").display.set_index("model")
    assert thresholds.loc["good", "held-out"] == "0.450"


def test_with_holdout_refuses_a_shared_patient(comparison):
    with pytest.raises(ValueError, match="both in this comparison and in the held-out"):
        comparison.with_holdout(fake_holdout(first_patient=39))


def test_an_external_evaluation_alone_has_no_cross_validated_tables():
    summary = summarize(
        fake_holdout(),
        SummaryOptions(
            n_resamples=N_RESAMPLES, calibration=True, subgroups=(), checklist=True
        ),
    )
    keys = [t.key for t in summary.tables]
    assert keys == [
        "thresholds",
        "holdout",
        "holdout_calibration",
        "holdout_breast",
        "checklist",
    ]
    assert "40 test images of 20 patients" in summary.title


def test_checklist_links_to_the_sections_that_answer_each_item(comparison):
    summary = _summary(
        comparison,
        calibration=True,
        subgroups=(),
        breast_level=None,
        checklist=True,
        report_sections={"grad_cam": "[Grad-CAM](#grad_cam)"},
    )
    assert summary.tables[-1].key == "checklist"
    answered = summary.table("checklist").data.set_index("item")["answered in"]
    assert answered["Calibration"] == "[Calibration (cross-validation)](#calibration)"
    assert answered["Explainability and failure analysis"] == "[Grad-CAM](#grad_cam)"
    assert answered["Ethics and consent"] == "for the authors to state"
    plain = _summary(comparison, subgroups=(), breast_level=None, checklist=True).table(
        "checklist"
    )
    assert plain.data.set_index("item").loc["Calibration", "answered in"] == (
        "not in this report (calibration)"
    )


def test_evaluation_options_are_checked(comparison):
    with pytest.raises(KeyError, match="not in the metadata"):
        summarize(comparison, SummaryOptions(subgroups=["age"]))
    with pytest.raises(ValueError, match="breast_level"):
        summarize(comparison, SummaryOptions(breast_level="median"))
    with pytest.raises(ValueError, match="n_resamples"):
        summarize(comparison, SummaryOptions(n_resamples=3))


def test_compare_models_and_evaluate_holdout_keep_metadata_row_for_row():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.where(X[:, 0] > 0, MALIGNANT, BENIGN)
    groups = np.arange(40) // 2
    metadata = pd.DataFrame({"density": np.arange(40) % 4}, index=np.arange(40)[::-1])
    result = compare_models(
        {"logreg": LogisticRegression()},
        X,
        y,
        groups=groups,
        cv=2,
        random_state=0,
        measure_memory=False,
        metadata=metadata,
    )
    np.testing.assert_array_equal(result.metadata["density"], np.arange(40) % 4)
    assert result.metadata.index.tolist() == list(range(40))
    with pytest.raises(ValueError, match="metadata has 39 rows for 40 images"):
        compare_models(
            {"logreg": LogisticRegression()},
            X,
            y,
            groups=groups,
            cv=2,
            metadata=metadata.iloc[:39],
        )
    holdout = evaluate_holdout(
        {"logreg": LogisticRegression()},
        X[:20],
        y[:20],
        X[20:],
        y[20:],
        groups_train=groups[:20],
        groups_test=groups[20:],
        metadata_test=metadata.iloc[20:],
    )
    np.testing.assert_array_equal(holdout.metadata["density"], np.arange(20, 40) % 4)
    with pytest.raises(ValueError, match="metadata_test has 5 rows"):
        evaluate_holdout(
            {"logreg": LogisticRegression()},
            X[:20],
            y[:20],
            X[20:],
            y[20:],
            groups_train=groups[:20],
            groups_test=groups[20:],
            metadata_test=metadata.iloc[:5],
        )
