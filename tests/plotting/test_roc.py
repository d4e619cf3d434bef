import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score, roc_curve

from mammoclf.plotting import RocCurvesDisplay


def test_mean_curve_and_band_from_fold_curves(comparison):
    display = RocCurvesDisplay.from_comparison(comparison)
    assert set(display.lines_) == {"logreg", "nb", "staged"}
    grid = display.fpr
    curves = []
    for repeat in range(2):
        oof = comparison.out_of_fold("nb", repeat=repeat)
        for fold in range(4):
            part = oof[oof.fold == fold]
            fpr, tpr, _ = roc_curve(part.y_true == "MALIGNANT", part.y_score)
            curve = np.interp(grid, fpr, tpr)
            curve[0] = 0
            curves.append(curve)
    curves = np.array(curves)
    np.testing.assert_allclose(display.lines_["nb"].get_ydata(), curves.mean(axis=0))
    half = stats.t.ppf(0.975, 7) * curves.std(axis=0, ddof=1) / np.sqrt(8)
    np.testing.assert_allclose(display.tpr_high_["nb"], curves.mean(axis=0) + half)
    band = display.bands_["nb"].get_paths()[0].vertices
    assert band[:, 1].min() >= 0 and band[:, 1].max() <= 1
    # The legend reports the fold AUCs' mean, as in the scores table.
    mean_auc = comparison.fold_scores("roc_auc")["nb"].mean()
    assert f"nb (AUC {mean_auc:.3f}" in display.lines_["nb"].get_label()
    assert display.ax_.get_xlabel().startswith("False positive rate")
    assert display.chance_line_.get_xydata().tolist() == [[0, 0], [1, 1]]


def test_from_predictions_on_given_axes_and_fold_lines():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(1)
    y = np.tile([0, 1], 30)
    scores = {"a": y + rng.normal(size=60)}
    folds = np.repeat(np.arange(3), 20)
    _, ax = plt.subplots()
    display = RocCurvesDisplay.from_predictions(
        y, scores, fold_ids=folds, ax=ax, show_folds=True
    )
    assert display.ax_ is ax
    assert len(ax.lines) == 1 + 3 + 1  # mean, three folds, chance
    expected = [roc_auc_score(y[folds == f], scores["a"][folds == f]) for f in range(3)]
    np.testing.assert_allclose(display.fold_aucs["a"], expected)


def test_single_class_fold_is_an_error():
    with pytest.raises(ValueError, match="Fold 0 has a single class"):
        RocCurvesDisplay.from_predictions(
            [0, 0, 1, 1], {"a": [0.1, 0.2, 0.3, 0.4]}, fold_ids=[0, 0, 1, 1]
        )
