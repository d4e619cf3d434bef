"""Pairwise and omnibus tests over a ComparisonResult, checked against direct calls."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from statsmodels.stats.multitest import multipletests

from mammoclf.evaluation import omnibus_test, pairwise_tests
from mammoclf.model_selection import compare_models
from mammoclf.stats import (
    corrected_resampled_ttest,
    delong_test,
    f_test_5x2cv,
    friedman_test,
    mcnemar_test,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = np.where(X[:, 0] + 0.8 * rng.normal(size=120) > 0, "MALIGNANT", "BENIGN")
    return X, y, np.arange(120) // 2


MODELS = {
    "logreg": LogisticRegression(),
    "knn": KNeighborsClassifier(9),
    "nb": GaussianNB(),
}


@pytest.fixture(scope="module")
def comparison(data):
    X, y, groups = data
    return compare_models(
        MODELS, X, y, groups=groups, cv=5, n_repeats=2, random_state=0
    )


def test_corrected_t_rows_equal_direct_calls_and_holm(comparison):
    table = pairwise_tests(comparison, test="corrected_t", metric="balanced_accuracy")
    assert list(zip(table.model_a, table.model_b)) == [
        ("logreg", "knn"),
        ("logreg", "nb"),
        ("knn", "nb"),
    ]
    scores = comparison.fold_scores("balanced_accuracy")
    for _, row in table.iterrows():
        direct = corrected_resampled_ttest(
            scores[row.model_a],
            scores[row.model_b],
            n_train=comparison.n_train,
            n_test=comparison.n_test,
        )
        assert row.statistic == pytest.approx(direct.statistic)
        assert row.pvalue == pytest.approx(direct.pvalue)
        assert row.effect_size == pytest.approx(direct.effect_size)
    _, holm, _, _ = multipletests(table.pvalue, method="holm")
    np.testing.assert_allclose(table.pvalue_adjusted, holm)
    assert table.attrs["correction"] == "holm"
    # n_test / n_train of 5-fold CV is 1/4.
    assert table.result[0].details["test_train_ratio"] == pytest.approx(0.25, rel=0.05)


def test_prediction_tests_use_pooled_out_of_fold_predictions(comparison):
    delong = pairwise_tests(comparison, test="delong", reference="logreg")
    assert list(delong.model_b) == ["knn", "nb"] and set(delong.metric) == {"roc_auc"}
    a, b = (
        comparison.out_of_fold("logreg", repeat=1),
        comparison.out_of_fold("nb", repeat=1),
    )
    # The comparison has patient groups: the clustered test by default.
    direct = delong_test(a.y_true, a.y_score, b.y_score, groups=a.group)
    table = pairwise_tests(comparison, test="delong", repeat=1)
    row = table.iloc[1]
    assert row.statistic == pytest.approx(direct.statistic, rel=1e-12)
    assert row.test == direct.test and "Clustered" in row.test
    assert table.attrs["clustered"]
    # ... and the image-level one on request.
    image = delong_test(a.y_true, a.y_score, b.y_score)
    row = pairwise_tests(comparison, test="delong", repeat=1, clustered=False).iloc[1]
    assert row.statistic == pytest.approx(image.statistic, rel=1e-12)
    assert "Clustered" not in row.test
    mcnemar = pairwise_tests(comparison, test="mcnemar", correction="bonferroni")
    oof_logreg = comparison.out_of_fold("logreg")
    direct = mcnemar_test(
        oof_logreg.y_true,
        oof_logreg.y_pred,
        comparison.out_of_fold("knn").y_pred,
        groups=oof_logreg.group,
    )
    assert mcnemar.test[0] == "Clustered McNemar test (Obuchowski 1998)"
    assert mcnemar.pvalue[0] == pytest.approx(direct.pvalue, rel=1e-12)
    assert mcnemar.pvalue_adjusted[0] == pytest.approx(min(1.0, 3 * direct.pvalue))
    with pytest.raises(ValueError, match="compares accuracy"):
        pairwise_tests(comparison, test="mcnemar", metric="roc_auc")


def test_5x2cv_tests_need_five_by_two_splits(comparison, data):
    with pytest.raises(ValueError, match="cv=2, n_repeats=5"):
        pairwise_tests(comparison, test="5x2cv_f")
    X, y, groups = data
    five_by_two = compare_models(
        MODELS, X, y, groups=groups, cv=2, n_repeats=5, random_state=0
    )
    table = pairwise_tests(five_by_two, test="5x2cv_f", metric="accuracy")
    scores = five_by_two.fold_scores("accuracy")
    direct = f_test_5x2cv(
        scores["logreg"].to_numpy().reshape(5, 2),
        scores["knn"].to_numpy().reshape(5, 2),
    )
    assert table.statistic[0] == pytest.approx(direct.statistic)
    t_table = pairwise_tests(five_by_two, test="5x2cv_t")
    assert t_table.df[0] == 5


def test_omnibus_and_validation(comparison):
    result = omnibus_test(comparison, test="friedman")
    assert result.statistic == pytest.approx(
        friedman_test(comparison.fold_scores("roc_auc")).statistic
    )
    assert omnibus_test(comparison, test="rm_anova").df == (2, 18)
    with pytest.raises(ValueError, match="'test' parameter of pairwise_tests"):
        pairwise_tests(comparison, test="ttest")
    with pytest.raises(ValueError, match="was not scored"):
        pairwise_tests(comparison, metric="auc")
    with pytest.raises(ValueError, match="reference='svm'"):
        pairwise_tests(comparison, reference="svm")


@pytest.mark.filterwarnings("ignore::mammoclf.exceptions.GroupLeakageWarning")
def test_clustered_option_validation(comparison, data):
    X, y, _ = data
    ungrouped = compare_models(
        {"logreg": LogisticRegression(), "nb": GaussianNB()}, X, y, cv=3
    )
    with pytest.raises(ValueError, match="clustered=True needs patient groups"):
        pairwise_tests(ungrouped, test="delong", clustered=True)
    auto = pairwise_tests(ungrouped, test="delong")
    assert auto.test[0] == "DeLong test for correlated ROC AUCs"
    assert not auto.attrs["clustered"]
    with pytest.raises(
        ValueError, match="'clustered' parameter of pairwise_tests must be"
    ):
        pairwise_tests(comparison, test="delong", clustered="yes")


class _FoldTable:
    """The parts of a ComparisonResult that fold-score tests read."""

    def __init__(self, table):
        self._table = table
        self.model_names = tuple(table.columns)
        self.metric_names = ("ppv",)
        self.n_train = np.full(len(table), 80)
        self.n_test = np.full(len(table), 20)
        self.n_repeats = 1

    def fold_scores(self, metric):
        return self._table


def test_undefined_fold_scores_are_left_out_of_fold_tests():
    import pandas as pd

    table = pd.DataFrame(
        {
            "a": [0.8, np.nan, 0.7, 0.9, 0.75],
            "b": [0.6, 0.5, np.nan, 0.7, 0.7],
            "c": [0.5, 0.55, 0.6, 0.65, 0.62],
        },
        index=pd.MultiIndex.from_product([[0], range(5)], names=["repeat", "fold"]),
    )
    result = _FoldTable(table)
    rows = pairwise_tests(result, test="corrected_t", metric="ppv")
    ab = rows.iloc[0].result
    reference = corrected_resampled_ttest(
        [0.8, 0.9, 0.75], [0.6, 0.7, 0.7], n_train=80, n_test=20
    )
    assert ab.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert ab.details["n_defined"] == 3 and ab.details["n_splits"] == 5
    assert "undefined in 2 of 5 splits" in ab.compared
    ac = rows.iloc[1].result
    assert ac.details["n_defined"] == 4
    with pytest.warns(
        RuntimeWarning, match="2 of 5 splits; the friedman test uses the other 3"
    ):
        friedman = omnibus_test(result, test="friedman", metric="ppv")
    assert friedman.statistic == pytest.approx(
        friedman_test(table.dropna()).statistic, rel=1e-12
    )
    table.loc[(0, 3), "a"] = np.nan
    table.loc[(0, 4), "a"] = np.nan
    with pytest.warns(RuntimeWarning, match="only 1 of 5 splits"):
        rows = pairwise_tests(result, test="wilcoxon", metric="ppv", reference="a")
    assert np.isnan(rows.pvalue[0])


class _Predictions:
    """The parts of a ComparisonResult that prediction tests read."""

    model_names = ("a", "b")
    metric_names = ("roc_auc", "accuracy")
    pos_label = 1

    def __init__(self, frame, groups):
        self._frame, self.groups = frame, groups

    def out_of_fold(self, model, *, repeat=0):
        columns = {"y_true": "y_true", "y_score": f"score_{model}"}
        columns["y_pred"] = f"pred_{model}"
        table = self._frame.rename(columns={v: k for k, v in columns.items()})
        return table.assign(group=self.groups)


def test_prediction_test_with_too_few_patients_is_a_nan_row():
    import pandas as pd

    from mammoclf.stats._numerics import TooFewCasesError

    # Two patients, four images each: one benign, one malignant patient.
    frame = pd.DataFrame(
        {
            "y_true": [0] * 4 + [1] * 4,
            "score_a": [0.1, 0.2, 0.3, 0.6, 0.5, 0.7, 0.8, 0.9],
            "score_b": [0.2, 0.1, 0.5, 0.3, 0.6, 0.4, 0.9, 0.8],
            "pred_a": [0, 0, 0, 1, 1, 1, 1, 1],
            "pred_b": [0, 0, 1, 0, 1, 0, 1, 1],
        }
    )
    result = _Predictions(frame, np.repeat(["P1", "P2"], 4))
    with pytest.raises(TooFewCasesError, match="2 patients with a positive image"):
        delong_test(frame.y_true, frame.score_a, frame.score_b, groups=result.groups)
    with pytest.warns(RuntimeWarning, match="delong test of 'a' vs 'b' is undefined"):
        table = pairwise_tests(result, test="delong")
    assert np.isnan(table.pvalue[0]) and "undefined" in table.test[0]
    # The image-level test runs (on images that are not independent).
    image = pairwise_tests(result, test="delong", clustered=False)
    assert np.isfinite(image.pvalue[0])
    mcnemar = pairwise_tests(result, test="mcnemar")
    assert mcnemar.test[0] == "Clustered McNemar test (Durkalski 2003)"


@pytest.mark.parametrize(
    ("n_patients", "method"), [(49, "durkalski"), (50, "obuchowski")]
)
def test_pairwise_mcnemar_is_durkalskis_below_50_patients(n_patients, method):
    import pandas as pd

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(n_patients), rng.integers(1, 4, n_patients))
    y = rng.integers(0, 2, groups.size)
    frame = pd.DataFrame(
        {
            "y_true": y,
            "score_a": rng.random(groups.size),
            "score_b": rng.random(groups.size),
            "pred_a": np.where(rng.random(groups.size) < 0.8, y, 1 - y),
            "pred_b": np.where(rng.random(groups.size) < 0.7, y, 1 - y),
        }
    )
    row = pairwise_tests(_Predictions(frame, groups), test="mcnemar").iloc[0]
    direct = mcnemar_test(y, frame.pred_a, frame.pred_b, groups=groups, method=method)
    assert row.result.details["method"] == method
    assert row.pvalue == pytest.approx(direct.pvalue, rel=1e-12)
    assert row.effect_size == pytest.approx(direct.effect_size, rel=1e-12)
