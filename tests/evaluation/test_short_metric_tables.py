"""The breast-level and subgroup tables: each is its evaluation function's numbers,
and breast level is checked against a hand computation."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mammoclf.evaluation import SummaryOptions, evaluate_subgroups, summarize
from mammoclf.metrics import breast_level, roc_auc_score
from mammoclf.model_selection import ComparisonResult, compare_models, evaluate_holdout
from tests.evaluation.fake_results import (
    BENIGN,
    MALIGNANT,
    N_RESAMPLES,
    fake_comparison,
    summary_of,
)


@pytest.fixture(scope="module")
def comparison():
    return fake_comparison()


def test_breast_level_on_a_hand_made_case():
    result = fake_comparison(n_patients=20, thresholds=(0.5, 0.5))
    table = summary_of(result, n_resamples=10, subgroups=()).table("breast")
    # Every patient has one L and one R image here: breasts are images.
    good = table.data.loc[("good", "breast")]
    assert good["n"].iloc[0] == 40
    # Now two views of each breast: patient p's images are both left.
    same_side = fake_comparison(n_patients=20, thresholds=(0.5, 0.5))
    metadata = same_side.metadata.assign(laterality="L")
    same_side = ComparisonResult(**{**same_side.__dict__, "metadata": metadata})
    data = summary_of(same_side, n_resamples=10, subgroups=()).table("breast").data
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
