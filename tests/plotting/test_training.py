import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mammoclf import ScratchCNNClassifier
from mammoclf.plotting import TrainingHistoryDisplay, stage_starts


def test_from_comparison_draws_every_split_and_stage_boundaries(comparison):
    display = TrainingHistoryDisplay.from_comparison(comparison, "staged")
    assert [ax.get_title() for ax in display.axes_] == ["loss", "auc"]
    for index, history in enumerate(comparison.histories["staged"]):
        np.testing.assert_allclose(
            display.lines_["loss", index].get_ydata(), history["loss"]
        )
        np.testing.assert_allclose(
            display.lines_["val_loss", index].get_xdata(), np.arange(1, 6)
        )
    assert len(display.lines_) == 3 * comparison.n_splits  # loss, val_loss, auc
    # Stage 2 starts after epoch 2, once per panel.
    assert [line.get_xdata()[0] for line in display.stage_lines_] == [2.5, 2.5]
    with pytest.raises(ValueError, match="No training history"):
        TrainingHistoryDisplay.from_comparison(comparison, "logreg")
    with pytest.raises(ValueError, match="were not recorded"):
        TrainingHistoryDisplay.from_comparison(
            comparison, "staged", metrics=["accuracy"]
        )


def test_from_estimator_reads_the_final_pipeline_step(toy_images):
    X, y, _ = toy_images
    pipeline = make_pipeline(
        FunctionTransformer(),
        ScratchCNNClassifier(filters=(4,), dense_units=8, epochs=2, random_state=0),
    ).fit(X, y)
    display = TrainingHistoryDisplay.from_estimator(pipeline)
    history = pipeline[-1].history_
    np.testing.assert_allclose(display.lines_["loss", 0].get_ydata(), history["loss"])
    np.testing.assert_allclose(display.lines_["auc", 0].get_ydata(), history["auc"])
    assert display.stage_lines_ == []
    with pytest.raises(ValueError, match="no history_"):
        TrainingHistoryDisplay.from_estimator(FunctionTransformer())


def test_stage_starts_formats():
    assert stage_starts([3, 2]) == [(0, "stage 1"), (3, "stage 2")]
    records = [
        {"unfreeze": "head", "epochs": 4, "epochs_run": 2},
        {"unfreeze": "conv5", "epochs": 4, "epochs_run": 4},
    ]
    assert stage_starts(records) == [
        (0, "stage 1: unfreeze head"),
        (2, "stage 2: unfreeze conv5"),
    ]
    with pytest.raises(ValueError, match="Stage 1"):
        stage_starts([{"lr": 0.1}])
