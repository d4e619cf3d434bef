import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from mammoclf.plotting import ConfusionMatricesDisplay, FoldScoresDisplay


def test_confusion_matrices_count_pooled_out_of_fold_predictions(comparison):
    display = ConfusionMatricesDisplay.from_comparison(comparison, repeat=1)
    assert display.display_labels == ["BENIGN", "MALIGNANT"]
    assert len(display.axes_) == 3
    for name in comparison.model_names:
        oof = comparison.out_of_fold(name, repeat=1)
        expected = confusion_matrix(
            oof.y_true, oof.y_pred.astype(str), labels=["BENIGN", "MALIGNANT"]
        )
        np.testing.assert_array_equal(display.confusion_matrices[name], expected)
        texts = [t.get_text() for t in display.displays_[name].text_.ravel()]
        assert texts == [str(v) for v in expected.ravel()]
    assert display.axes_[0].get_title() == "logreg"


def test_normalised_rows_are_specificity_and_sensitivity(comparison):
    display = ConfusionMatricesDisplay.from_comparison(
        comparison, models=["nb"], normalize="true"
    )
    oof = comparison.out_of_fold("nb")
    matrix = display.confusion_matrices["nb"]
    malignant = oof.y_true == "MALIGNANT"
    assert matrix[1, 1] == pytest.approx(np.mean(oof.y_pred[malignant] == "MALIGNANT"))
    assert matrix[0, 0] == pytest.approx(np.mean(oof.y_pred[~malignant] == "BENIGN"))
    assert "normalised over true" in display.axes_[0].get_title()
    with pytest.raises(ValueError, match="normalize"):
        ConfusionMatricesDisplay.from_comparison(comparison, normalize="rows")
    with pytest.raises(ValueError, match="Unknown model"):
        ConfusionMatricesDisplay.from_comparison(comparison, models=["svm"])


def test_fold_scores_points_boxes_and_pairing(comparison):
    display = FoldScoresDisplay.from_comparison(
        comparison, metrics=["roc_auc", "sensitivity"]
    )
    assert [ax.get_title() for ax in display.axes_] == ["roc_auc", "sensitivity"]
    table = comparison.fold_scores("sensitivity")
    for j, name in enumerate(comparison.model_names):
        points = display.points_[("sensitivity", name)].get_offsets()
        np.testing.assert_allclose(points[:, 1], table[name])
        assert np.all(np.abs(points[:, 0] - (j + 1)) <= 0.04)
        median = display.boxplots_["sensitivity"]["medians"][j].get_ydata()[0]
        assert median == pytest.approx(np.median(table[name]))
    lines = display.pair_lines_["roc_auc"]
    assert len(lines) == comparison.n_splits
    np.testing.assert_allclose(
        lines[0].get_ydata(), comparison.fold_scores("roc_auc").iloc[0]
    )
