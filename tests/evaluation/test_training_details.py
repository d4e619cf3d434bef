"""The training details are read off the fitted estimators, step by step.

The estimators here carry the fitted records a fit writes (``stages_``,
``image_shape_``) without training, so each sentence can be checked against
the record it comes from; the doctest and the ``compare``/``evaluate``
reports of tests/cli read real fits.
"""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from mammoclf import (
    Augmenter,
    DenseNetTransferClassifier,
    DicomLoader,
    Resizer,
    ScratchCNNClassifier,
    TransferClassifier,
)
from mammoclf.evaluation import training_details, training_table
from mammoclf.evaluation._report import REPORT_HEADINGS
from mammoclf.evaluation._training_details import ASPECTS
from mammoclf.pipeline import Pipeline


def _fitted(classifier, stages, shape=(32, 32, 1)):
    """``classifier`` with the fitted attributes a fit sets (records as it writes them)."""
    classifier.classes_ = np.array(["BENIGN", "MALIGNANT"])
    classifier.image_shape_ = shape
    classifier.stages_ = stages
    classifier.n_epochs_ = sum(stage["epochs_run"] for stage in stages)
    classifier.model_ = None
    return classifier


def _stage(learning_rate, planned, run, blocks=None, n_params=100):
    stage = {
        "learning_rate": learning_rate,
        "epochs": planned,
        "epochs_run": run,
        "first_epoch": 0,
        "n_trainable_params": n_params,
    }
    if blocks is not None:
        stage["trainable_blocks"] = blocks
    return stage


def _partial_resnet():
    return _fitted(
        TransferClassifier(
            backbone="resnet50",
            weights="imagenet",
            freeze_schedule="partial",
            epochs=5,
            learning_rate=1e-3,
            optimizer="sgd",
            validation_fraction=0.2,
            patience=2,
            class_weight="balanced",
            batch_size=8,
            random_state=0,
        ),
        [
            _stage(1e-3, 5, 3, ("head",), 2_049),
            _stage(1e-4, 5, 5, ("conv5", "head"), 14_000_000),
        ],
        shape=(64, 64, 1),
    )


def test_staged_transfer_model_states_each_stage_from_its_record():
    details = training_details({"resnet": _partial_resnet()})["resnet"]
    assert list(details.index) == list(ASPECTS)
    assert details["architecture"].startswith("ResNet50 backbone")
    assert details["initial weights"] == (
        "backbone: ImageNet; new head: random (random_state=0)"
    )
    assert details["trainable layers per stage"] == (
        "stage 1: head (2,049 trainable parameters); "
        "stage 2: conv5, head (14,000,000 trainable parameters)"
    )
    assert details["learning rate per stage"] == "stage 1: 0.001; stage 2: 0.0001"
    # Early stopping ended stage 1 after 3 of its 5 epochs: the record says so.
    assert details["epochs run per stage"] == (
        "stage 1: 3 of 5 planned; stage 2: 5 of 5 planned"
    )
    assert details["optimiser"] == "SGD, a fresh one per stage"
    assert details["batch size"] == "8"
    assert details["early stopping"].startswith(
        "on the validation loss, patience 2 epochs, best weights restored, in "
        "each stage; validation set: 20% of the training images"
    )
    assert details["class weighting and resampling"].startswith(
        "class_weight='balanced'"
    )
    assert "grey repeated to 3 channels" in details["input size and channels"]
    assert "keras.applications.resnet" in details["input size and channels"]
    assert details["augmentation"] == "none"


def test_pipeline_steps_give_decoding_resizing_and_augmentation():
    cnn = _fitted(
        ScratchCNNClassifier(filters=(8, 16), pooling="max", epochs=4),
        [_stage(1e-3, 4, 4)],
        shape=(64, 48, 1),
    )
    pipeline = Pipeline(
        [
            ("load", DicomLoader(clip_percentiles=(0.5, 99.5), crop_breast=True)),
            ("resize", Resizer(size=(64, 48), aspect="stretch")),
            (
                "augment",
                Augmenter(n_copies=2, zoom_range=0.1, sampling_strategy="auto"),
            ),
            ("classify", cnn),
        ]
    )
    details = training_details({"cnn": pipeline})["cnn"]
    assert details["architecture"].startswith(
        "CNN trained from scratch: 2 convolution block(s) of 8, 16 filters"
    )
    assert "global max pooling" in details["architecture"]
    assert details["input size and channels"] == "64 x 48 px, 1 channel"
    assert "0.5th and 99.5th percentiles" in details["intensity preprocessing"]
    assert "cropped to the breast" in details["intensity preprocessing"]
    assert details["resizing"].startswith("Resizer to 64 x 48 px (stretched")
    assert details["augmentation"].startswith("Augmenter: 2 extra copies")
    assert "zoom ±0.1" in details["augmentation"]
    assert "horizontal flip" in details["augmentation"]
    assert details["class weighting and resampling"] == (
        "Augmenter balances the classes (sampling_strategy='auto')"
    )
    assert details["early stopping"].startswith("none: every planned epoch ran")
    assert (
        details["trainable layers per stage"] == "all layers (100 trainable parameters)"
    )


def test_preprocessing_given_apart_and_fold_models_that_differ():
    """compare decodes once up front; its fold models may stop at different epochs."""
    folds = tuple(
        _fitted(
            DenseNetTransferClassifier(
                weights=None,
                freeze_schedule="frozen",
                epochs=3,
                validation_fraction=0.25,
            ),
            [_stage(1e-3, 3, run, ("head",))],
        )
        for run in (3, 2)
    )
    table = training_table(
        {"DenseNet121 frozen": folds},
        preprocessing=[DicomLoader(window="header"), Resizer(size=32)],
    )
    details = table.data["DenseNet121 frozen"]
    assert details["epochs run per stage"] == (
        "fit 1: 3 of 3 planned; fit 2: 2 of 3 planned"
    )
    assert details["learning rate per stage"] == "0.001"  # the same in both
    assert "NOT ImageNet-pretrained" in details["initial weights"]
    assert "VOI LUT or window" in details["intensity preprocessing"]
    assert details["resizing"].startswith("Resizer to 32 x 32 px (aspect ratio kept")
    assert table.key == "training" and table.title == "Training and preprocessing"
    # The reports' checklist links the section by the heading the table gets.
    assert REPORT_HEADINGS[table.key] == table.title
    assert any("before the models saw them" in note for note in table.notes)
    assert table.display.columns.tolist() == ["aspect", "DenseNet121 frozen"]


def test_a_saved_model_takes_its_training_only_steps_from_its_record():
    """compare saves loader, resizer and network: the Augmenter is in the record."""
    training = Pipeline(
        [
            ("augmenter", Augmenter(random_state=0)),
            ("classify", _fitted(ScratchCNNClassifier(), [_stage(1e-3, 1, 1)])),
        ]
    )
    recorded = training_details({"cnn": training})["cnn"].to_dict()
    saved = Pipeline(
        [
            ("load", DicomLoader()),
            ("resize", Resizer(size=32)),
            ("classify", training.steps[-1][1]),
        ]
    )
    with_record = training_details({"cnn": saved}, recorded={"cnn": recorded})["cnn"]
    assert with_record["augmentation"] == recorded["augmentation"]
    assert with_record["augmentation"].startswith("Augmenter: 1 extra copy")
    assert with_record["resizing"].startswith("Resizer to 32 x 32 px")
    without = training_details({"cnn": saved}, recorded={"cnn": None})["cnn"]
    assert without["augmentation"] == "not recorded with the saved model"
    # Without a record the pipeline is described as it is: no Augmenter step.
    assert training_details({"cnn": saved})["cnn"]["augmentation"] == "none"


def test_steps_mammoclf_does_not_know_are_named_where_they_act():
    from imblearn.over_sampling import RandomOverSampler
    from sklearn.preprocessing import FunctionTransformer

    pipeline = Pipeline(
        [
            ("flip", FunctionTransformer()),
            ("oversample", RandomOverSampler()),
            ("classify", _fitted(ScratchCNNClassifier(), [_stage(1e-3, 1, 1)])),
        ]
    )
    details = training_details({"cnn": pipeline})["cnn"]
    assert details["intensity preprocessing"].endswith("; then FunctionTransformer")
    assert details["class weighting and resampling"] == (
        "resampled by RandomOverSampler (training data only)"
    )


def test_every_sentence_is_plain_text():
    details = training_details({"resnet": _partial_resnet()})
    for value in details["resnet"]:
        assert isinstance(value, str) and "np." not in value


def test_unfitted_or_empty_models_are_refused():
    with pytest.raises(NotFittedError):
        training_details({"cnn": ScratchCNNClassifier()})
    with pytest.raises(ValueError, match="No fitted estimator for model 'cnn'"):
        training_details({"cnn": ()})
