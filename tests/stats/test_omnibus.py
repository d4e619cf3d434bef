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
    with pytest.warns(RuntimeWarning, match="vary only between folds"):
        result = anova_repeated_measures(scores)
    assert np.isnan(result.statistic) and np.isnan(result.pvalue)


def _only_our_warning(func, values, match):
    """Run func; exactly one RuntimeWarning, ours, and no numpy 'invalid value'."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = func(values)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert "invalid value" not in messages[0] and match in messages[0], messages
    return result


def test_all_equal_and_model_only_scores_give_clear_messages():
    all_equal = np.full((5, 3), 0.8)
    # Only the models differ: each model scores the same in every fold.
    models_only = np.tile([0.8, 0.7, 0.6], (5, 1))
    # With round-off in the table (0.1 * 3 != 0.3), the same holds.
    models_round_off = np.array([[0.1 * 3, 0.7, 0.6], [0.3, 0.7, 0.6]] * 3)
    for values, match in (
        (all_equal, "all 15 scores are equal (0.8)"),
        (models_only, "every model has the same score in every fold"),
        (models_round_off, "every model has the same score in every fold"),
    ):
        r = _only_our_warning(anova_repeated_measures, values, match)
        assert np.isnan(r.statistic) and np.isnan(r.effect_size)
        assert match in r.details["undefined"]
    # Reference: statsmodels' AnovaRM itself fails on such data (0/0).
    long = pd.DataFrame(
        {
            "score": models_only.ravel(),
            "fold": np.repeat(np.arange(5), 3),
            "model": np.tile(np.arange(3), 5),
        }
    )
    with np.errstate(all="ignore"):
        f = AnovaRM(long, "score", "fold", within=["model"]).fit().anova_table
    assert (
        not np.isfinite(f.loc["model", "F Value"])
        or abs(f.loc["model", "F Value"]) > 1e12
    )

    r = _only_our_warning(friedman_test, all_equal, "all 15 scores are equal")
    assert np.isnan(r.statistic) and np.isnan(r.pvalue) and np.isnan(r.effect_size)
    # Reference: scipy divides 0 by 0 here.
    with np.errstate(all="ignore"):
        assert np.isnan(stats.friedmanchisquare(*all_equal.T).statistic)
    ties = np.array([[0.7, 0.7, 0.7], [0.6, 0.6, 0.6]])
    _only_our_warning(friedman_test, ties, "every fold gives all models the same")


def test_friedman_ranks_tie_despite_round_off():
    # 0.1 * 3 and 0.3 tie on paper; ranked raw they would not.
    values = np.array([[0.1 * 3, 0.3, 0.5], [0.2, 0.4, 0.6], [0.3, 0.3, 0.9]])
    r = friedman_test(values)
    reference = stats.friedmanchisquare(*np.round(values, 10).T)
    assert r.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert r.pvalue == pytest.approx(reference.pvalue, rel=1e-12)


def test_eta_squared_of_all_equal_scores_is_nan():
    # ss_total of five-by-three 0.8s is about 1e-32, not 0: eta^2 was 1.0.
    with pytest.warns(RuntimeWarning, match="all 15 scores are equal"):
        r = anova_oneway(np.full((5, 3), 0.8))
    assert np.isnan(r.effect_size) and np.isnan(r.statistic)
    # Reference: scipy's F is undefined on such data as well.
    assert np.isnan(stats.f_oneway(*np.full((5, 3), 0.8).T).statistic)
    # Distinct scores: eta^2 = SS_between / SS_total computed by hand.
    values = np.array([[0.8, 0.9], [0.7, 0.95], [0.75, 0.85]])
    grand = values.mean()
    eta = 3 * ((values.mean(axis=0) - grand) ** 2).sum() / ((values - grand) ** 2).sum()
    assert anova_oneway(values).effect_size == pytest.approx(eta, rel=1e-12)
