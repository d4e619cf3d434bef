"""The held-out test set's tables are its own, kept apart from the cross-validation."""

import pandas as pd
import pytest

from mammoclf.evaluation import Predictions, SummaryOptions, summarize
from tests.evaluation.fake_results import (
    N_RESAMPLES,
    fake_comparison,
    fake_holdout,
    summary_of,
)


@pytest.fixture(scope="module")
def comparison():
    return fake_comparison()


def test_holdout_tables_are_kept_apart_from_the_cross_validation(comparison):
    result = comparison.with_holdout(fake_holdout())
    keys = [
        t.key
        for t in summary_of(result, calibration=True, operating_points=True).tables
    ]
    assert (
        keys.index("subgroups")
        < keys.index("holdout")
        < keys.index("holdout_calibration")
    )
    assert {"holdout_operating_points", "holdout_breast", "holdout_subgroups"} < set(
        keys
    )
    summary = summary_of(result, subgroups=(), breast_level=None)
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
