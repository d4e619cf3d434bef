"""Pairwise and omnibus tests over a ComparisonResult, checked against direct calls."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from statsmodels.stats.multitest import multipletests

from mammoclf.model_selection import compare_models
from mammoclf.stats import (
    corrected_resampled_ttest,
    delong_test,
    f_test_5x2cv,
    friedman_test,
    mcnemar_test,
    omnibus_test,
    pairwise_tests,
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
    direct = delong_test(a.y_true, a.y_score, b.y_score)
    row = pairwise_tests(comparison, test="delong", repeat=1).iloc[1]
    assert row.statistic == pytest.approx(direct.statistic)
    mcnemar = pairwise_tests(comparison, test="mcnemar", correction="bonferroni")
    direct = mcnemar_test(
        a.y_true,
        comparison.out_of_fold("logreg").y_pred,
        comparison.out_of_fold("knn").y_pred,
    )
    assert mcnemar.pvalue[0] == pytest.approx(direct.pvalue)
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
