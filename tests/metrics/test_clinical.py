"""Clinical metrics against hand counts and scikit-learn."""

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from mammoclf.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_counts,
    f1_weighted_score,
    npv_score,
    ppv_score,
    roc_auc_score,
    sensitivity_score,
    specificity_score,
)

# Hand-built case: TP=3, FN=1, TN=4, FP=2 (10 images).
Y_TRUE = np.array(["MALIGNANT"] * 4 + ["BENIGN"] * 6)
Y_PRED = np.array(["MALIGNANT"] * 3 + ["BENIGN"] + ["BENIGN"] * 4 + ["MALIGNANT"] * 2)


def test_counts_and_formulas_by_hand():
    assert confusion_counts(Y_TRUE, Y_PRED) == (3.0, 2.0, 4.0, 1.0)
    assert sensitivity_score(Y_TRUE, Y_PRED) == pytest.approx(3 / 4)
    assert specificity_score(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    assert ppv_score(Y_TRUE, Y_PRED) == pytest.approx(3 / 5)
    assert npv_score(Y_TRUE, Y_PRED) == pytest.approx(4 / 5)
    assert balanced_accuracy_score(Y_TRUE, Y_PRED) == pytest.approx((3 / 4 + 4 / 6) / 2)


def test_accuracy_is_tp_plus_tn_over_n_not_the_studys_formula():
    tp, fp, tn, _fn = confusion_counts(Y_TRUE, Y_PRED)
    accuracy = accuracy_score(Y_TRUE, Y_PRED)
    assert accuracy == pytest.approx((tp + tn) / 10) == pytest.approx(0.7)
    # The study's printed formula gives the fraction called malignant instead.
    assert (tp + fp) / 10 == pytest.approx(0.5) != pytest.approx(accuracy)
    assert accuracy == pytest.approx(skm.accuracy_score(Y_TRUE, Y_PRED))


def test_pos_label_switches_roles():
    # With BENIGN as positive, sensitivity and specificity swap, PPV and NPV swap.
    kw = {"pos_label": "BENIGN"}
    assert sensitivity_score(Y_TRUE, Y_PRED, **kw) == specificity_score(Y_TRUE, Y_PRED)
    assert ppv_score(Y_TRUE, Y_PRED, **kw) == npv_score(Y_TRUE, Y_PRED)


@pytest.mark.parametrize("seed", range(5))
def test_against_sklearn_on_random_weighted_data(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, 50)
    y_pred = rng.integers(0, 2, 50)
    w = rng.random(50)
    kw = {"sample_weight": w}
    assert sensitivity_score(y_true, y_pred, **kw) == pytest.approx(
        skm.recall_score(y_true, y_pred, **kw)
    )
    assert specificity_score(y_true, y_pred, **kw) == pytest.approx(
        skm.recall_score(y_true, y_pred, pos_label=0, **kw)
    )
    assert ppv_score(y_true, y_pred, **kw) == pytest.approx(
        skm.precision_score(y_true, y_pred, **kw)
    )
    assert npv_score(y_true, y_pred, **kw) == pytest.approx(
        skm.precision_score(y_true, y_pred, pos_label=0, **kw)
    )
    assert balanced_accuracy_score(y_true, y_pred, **kw) == pytest.approx(
        skm.balanced_accuracy_score(y_true, y_pred, **kw)
    )
    assert accuracy_score(y_true, y_pred, **kw) == pytest.approx(
        skm.accuracy_score(y_true, y_pred, **kw)
    )
    assert f1_weighted_score(y_true, y_pred, **kw) == pytest.approx(
        skm.f1_score(y_true, y_pred, average="weighted", **kw)
    )
    scores = rng.random(50)
    assert roc_auc_score(y_true, scores, **kw) == pytest.approx(
        skm.roc_auc_score(y_true, scores, **kw)
    )


def test_weighted_f1_by_hand():
    # Class M: P=3/5, R=3/4; class B: P=4/5, R=4/6; supports 4 and 6.
    f1_m = 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4)
    f1_b = 2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6)
    assert f1_weighted_score(Y_TRUE, Y_PRED) == pytest.approx(
        (4 * f1_m + 6 * f1_b) / 10
    )


def test_roc_auc_uses_the_malignant_class_with_string_labels():
    y = np.array(["MALIGNANT", "BENIGN", "MALIGNANT", "BENIGN"])
    s = np.array([0.9, 0.2, 0.4, 0.6])  # 3 of 4 (M, B) pairs ordered right
    assert roc_auc_score(y, s) == pytest.approx(0.75)
    assert roc_auc_score(y, s, pos_label="BENIGN") == pytest.approx(0.25)
    with pytest.raises(ValueError, match="1-D scores"):
        roc_auc_score(y, np.column_stack([1 - s, s]))
    with pytest.raises(ValueError, match="sample index 2"):
        roc_auc_score(y, [0.1, 0.2, np.nan, 0.3])


def test_zero_division():
    y_true = ["BENIGN", "BENIGN"]
    y_pred = ["BENIGN", "BENIGN"]
    with pytest.warns(UndefinedMetricWarning, match="without positive cases"):
        assert sensitivity_score(y_true, y_pred, pos_label="MALIGNANT") == 0.0
    assert np.isnan(
        ppv_score(y_true, y_pred, pos_label="MALIGNANT", zero_division=np.nan)
    )
    assert npv_score(y_true, y_pred, pos_label="MALIGNANT", zero_division=1.0) == 1.0
    with pytest.raises(ValueError, match="zero_division"):
        ppv_score(y_true, y_pred, pos_label="MALIGNANT", zero_division="zero")


def test_input_validation():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        sensitivity_score(["MALIGNANT", "BENIGN"], ["MALIGNANT"])
    with pytest.raises(ValueError, match="empty"):
        accuracy_score([], [])
    with pytest.raises(ValueError, match="non-negative"):
        specificity_score(Y_TRUE, Y_PRED, sample_weight=-np.ones(10))
    with pytest.raises(ValueError, match="3 classes"):
        sensitivity_score(["MALIGNANT", "BENIGN", "OTHER"], ["MALIGNANT"] * 3)


def test_mixed_label_types_are_an_error_as_in_scikit_learn():
    # Issue 22: accuracy of string truth against 0/1 predictions was 0.0.
    y = ["MALIGNANT", "BENIGN"] * 5
    with pytest.raises(ValueError, match="accuracy_score: mix of label input types"):
        accuracy_score(y, [1, 0] * 5)
    with pytest.raises(ValueError, match="Mix of label input types"):
        skm.accuracy_score(y, [1, 0] * 5)  # the reference behaviour
    assert accuracy_score([True, False], [1, 0]) == 1.0  # booleans are numbers
