"""Omnibus tests against scipy and statsmodels."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.anova import AnovaRM

from mammoclf.stats import anova_oneway, anova_repeated_measures, friedman_test


@pytest.fixture
def table():
    rng = np.random.default_rng(3)
    fold_effect = rng.normal(scale=0.05, size=(8, 1))
    scores = (
        0.8 + fold_effect + np.array([0.0, 0.02, 0.04]) + 0.01 * rng.normal(size=(8, 3))
    )
    return pd.DataFrame(scores, columns=["cnn", "frozen", "unfrozen"])


def test_oneway_anova_matches_scipy(table):
    ours = anova_oneway(table, metric="roc_auc")
    ref = stats.f_oneway(table["cnn"], table["frozen"], table["unfrozen"])
    assert ours.statistic == pytest.approx(ref.statistic)
    assert ours.pvalue == pytest.approx(ref.pvalue)
    assert ours.df == (2, 21)
    # eta^2 = F df1 / (F df1 + df2) for one-way ANOVA.
    f = ref.statistic
    assert ours.effect_size == pytest.approx(f * 2 / (f * 2 + 21))


def test_repeated_measures_anova_matches_statsmodels(table):
    long = (
        table.rename_axis("fold")
        .reset_index()
        .melt(id_vars="fold", var_name="model", value_name="score")
    )
    ref = (
        AnovaRM(long, "score", "fold", within=["model"]).fit().anova_table.loc["model"]
    )
    ours = anova_repeated_measures(table)
    assert ours.statistic == pytest.approx(ref["F Value"])
    assert ours.pvalue == pytest.approx(ref["Pr > F"])
    assert ours.df == (2, 14)
    # Removing the shared fold effect makes the paired analysis far more powerful.
    assert ours.pvalue < anova_oneway(table).pvalue


def test_repeated_measures_by_hand(table):
    x = table.to_numpy()
    n, k = x.shape
    grand = x.mean()
    ss_model = n * ((x.mean(0) - grand) ** 2).sum()
    ss_fold = k * ((x.mean(1) - grand) ** 2).sum()
    ss_error = ((x - grand) ** 2).sum() - ss_model - ss_fold
    f = (ss_model / (k - 1)) / (ss_error / ((n - 1) * (k - 1)))
    ours = anova_repeated_measures(table)
    assert ours.statistic == pytest.approx(f)
    assert ours.effect_size == pytest.approx(ss_model / (ss_model + ss_error))


def test_friedman_matches_scipy(table):
    ours = friedman_test(table)
    ref = stats.friedmanchisquare(*table.to_numpy().T)
    assert ours.statistic == pytest.approx(ref.statistic)
    assert ours.pvalue == pytest.approx(ref.pvalue)
    assert ours.effect_size == pytest.approx(ref.statistic / (8 * 2))  # Kendall's W
    ranks = ours.details["mean_ranks"]
    assert ranks["unfrozen"] > ranks["cnn"]


def test_validation():
    with pytest.raises(ValueError, match="at least 3 models"):
        friedman_test(np.ones((5, 2)))
    with pytest.raises(ValueError, match="2-D"):
        anova_oneway([0.8, 0.9])
    with pytest.raises(ValueError, match="Non-finite score for 'b'"):
        anova_oneway(pd.DataFrame({"a": [0.8, 0.9], "b": [0.7, np.nan]}))


def test_rm_anova_without_residual_variation_is_undefined():
    """Identical models: F = 0/0, reported as NaN rather than a rounding artefact."""
    scores = pd.DataFrame({"a": [0.5, 0.6], "b": [0.5, 0.6], "c": [0.5, 0.6]})
    with pytest.warns(RuntimeWarning, match="undefined"):
        result = anova_repeated_measures(scores)
    assert np.isnan(result.statistic) and np.isnan(result.pvalue)
