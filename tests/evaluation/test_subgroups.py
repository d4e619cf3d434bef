"""Subgroup tables: each subgroup evaluated alone, sizes counted, small ones warned."""

import numpy as np
import pytest

from mammoclf.evaluation import evaluate_predictions, evaluate_subgroups


def _data():
    rng = np.random.default_rng(0)
    n = 120
    y = np.tile(["BENIGN", "MALIGNANT"], n // 2)
    score = (y == "MALIGNANT") + rng.normal(size=n)
    pred = np.where(score > 0.5, "MALIGNANT", "BENIGN")
    patients = np.arange(n) // 2
    # Density 1-3 for most patients; 4 for a few; unknown for two patients.
    density = np.repeat(rng.choice([1, 2, 3], n // 2), 2).astype(object)
    density[:8] = 4
    density[8:12] = None
    return y, score, pred, patients, density


def test_each_subgroup_is_evaluated_alone_with_its_counts():
    y, score, pred, patients, density = _data()
    with pytest.warns(UserWarning) as record:
        table = evaluate_subgroups(
            y,
            density,
            y_pred=pred,
            y_score=score,
            groups=patients,
            metrics=["sensitivity", "accuracy"],
            name="breast_density",
            n_resamples=200,
            random_state=0,
        )
    assert table.index.names == ["breast_density", "metric"]
    assert table.index.get_level_values(0).unique().tolist() == [
        1,
        2,
        3,
        4,
        "(missing)",
    ]
    for value in [1, 2, 3, 4, "(missing)"]:
        members = (
            np.array([d is None for d in density])
            if value == "(missing)"
            else density == value
        )
        alone = evaluate_predictions(
            y[members],
            y_pred=pred[members],
            y_score=score[members],
            groups=patients[members],
            metrics=["sensitivity", "accuracy"],
            n_resamples=200,
            random_state=np.random.RandomState(0).randint(2**31 - 1),
        )
        rows = table.loc[value]
        np.testing.assert_allclose(rows["estimate"], alone["estimate"])
        np.testing.assert_allclose(rows["ci_low"], alone["ci_low"])
        assert (rows["n_images"] == members.sum()).all()
        assert (rows["n_patients"] == np.unique(patients[members]).size).all()
        assert (rows["n_positive"] == np.sum(y[members] == "MALIGNANT")).all()
        assert (rows["n_negative"] == np.sum(y[members] == "BENIGN")).all()
    # Density 4 (4 patients) and the missing group (2 patients) are too small.
    small = table.xs("accuracy", level="metric")["too_small"]
    assert small.to_dict() == {1: False, 2: False, 3: False, 4: True, "(missing)": True}
    message = str(record[-1].message)
    assert "2 breast_density subgroup(s)" in message
    assert "4 (4 patients: 4 with malignant and 4 with benign images)" in message
    assert "(missing) (2 patients" in message


def test_single_class_subgroup_gives_nan_not_an_error():
    y = np.array(["BENIGN", "MALIGNANT"] * 10 + ["BENIGN"] * 4)
    score = np.linspace(0, 1, 24)
    lesion = np.array(["mass"] * 20 + ["calc"] * 4)
    with pytest.warns(UserWarning):
        table = evaluate_subgroups(
            y, lesion, y_score=score, min_cases=2, n_resamples=100, random_state=0
        )
    calc = table.loc[("calc", "roc_auc")]
    assert np.isnan(calc["estimate"]) and calc["n_positive"] == 0
    assert bool(calc["too_small"])
    assert table.loc[("mass", "roc_auc"), "estimate"] > 0


def test_min_cases_is_the_threshold_for_the_warning():
    y = np.tile(["BENIGN", "MALIGNANT"], 20)
    score = np.linspace(0, 1, 40)
    group = np.repeat(["a", "b"], 20)  # 10 malignant and 10 benign images each
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = evaluate_subgroups(
            y, group, y_score=score, n_resamples=50, random_state=0
        )
    assert not table["too_small"].any()
    with pytest.warns(UserWarning, match="fewer than 11"):
        evaluate_subgroups(
            y, group, y_score=score, min_cases=11, n_resamples=50, random_state=0
        )


def test_lengths_must_match():
    with pytest.raises(ValueError, match="inconsistent"):
        evaluate_subgroups([0, 1, 0], [1, 2], y_score=[0.1, 0.2, 0.3])
