"""The decision-threshold and operating-point tables: stated thresholds, ROC reads."""

import pandas as pd
import pytest

from mammoclf.evaluation import evaluate_operating_points
from tests.evaluation.fake_results import N_RESAMPLES, fake_comparison, summary_of


@pytest.fixture(scope="module")
def comparison():
    return fake_comparison()


def test_thresholds_table_states_each_foldsstated_threshold(comparison):
    table = summary_of(comparison, breast_level=None, subgroups=()).table("thresholds")
    assert [
        t.key for t in summary_of(comparison, breast_level=None, subgroups=()).tables
    ] == [
        "metrics",
        "thresholds",
        "compute",
    ]
    assert table.data["threshold"].tolist() == [0.5, 0.4, 0.5, 0.4]
    row = table.display.set_index("model").loc["good"]
    assert row["cross-validation"] == "0.400 to 0.500 (per fold)"
    assert row["chosen by"] == "fixed by FixedThresholdClassifier"


def test_operating_points_table_is_evaluate_operating_points(comparison):
    summary = summary_of(
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
