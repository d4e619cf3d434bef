"""checkpoint_dir: an interrupted fit resumes after its last completed epoch."""

import json
import math
import os

import numpy as np
import pytest

from mammoclf import DenseNetTransferClassifier, ScratchCNNClassifier
from mammoclf.classifiers._checkpoint import (
    STATE_FILE,
    ResumedStage,
    TrainingCheckpoint,
)
from mammoclf.exceptions import IncompatibleModelError
from mammoclf.utils._keras import import_keras

EPOCHS, BATCH = 4, 16


def tiny_cnn(**params):
    defaults = {
        "filters": (4,),
        "dense_units": 8,
        "epochs": EPOCHS,
        "batch_size": BATCH,
        "learning_rate": 0.01,
        "random_state": 0,
    }
    return ScratchCNNClassifier(**{**defaults, **params})


def interrupt_after(epoch):
    """A callback raising KeyboardInterrupt at the end of ``epoch`` (0-based).

    User callbacks run before the checkpoint's, so that epoch is not saved:
    the checkpoint holds epochs ``0 ... epoch - 1``.
    """
    keras = import_keras()

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, index, logs=None):
            if index == epoch:
                raise KeyboardInterrupt

    return Interrupt()


def epoch_counter():
    keras = import_keras()

    class Count(keras.callbacks.Callback):
        epochs = 0

        def on_epoch_end(self, index, logs=None):
            Count.epochs += 1

    return Count()


def saved_state(directory):
    with open(os.path.join(directory, STATE_FILE)) as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def reference(toy_images):
    """The same fit, uninterrupted and without checkpoints."""
    X, y, _ = toy_images
    return tiny_cnn().fit(X, y)


@pytest.fixture(scope="module")
def resumed(toy_images, tmp_path_factory):
    """A fit interrupted after 2 of 4 epochs, then resumed; and its directory."""
    X, y, _ = toy_images
    directory = str(tmp_path_factory.mktemp("checkpoint"))
    clf = tiny_cnn(checkpoint_dir=directory, callbacks=[interrupt_after(2)])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    at_interruption = saved_state(directory)
    assert not hasattr(clf, "model_")  # the interrupted fit left nothing half-fitted
    clf.set_params(callbacks=None)  # callbacks do not identify a fit
    return clf.fit(X, y), directory, at_interruption


def test_interrupted_fit_resumes_after_the_last_completed_epoch(resumed, reference):
    clf, _, at_interruption = resumed
    partial = at_interruption["partial"]
    assert (partial["stage"], partial["epochs"]) == (0, 2)
    assert not at_interruption["complete"]
    # The resumed fit ran only the 2 missing epochs; its history is complete.
    assert clf.n_epochs_ == EPOCHS
    assert {len(values) for values in clf.history_.values()} == {EPOCHS}
    # The epochs before the interruption are those of the uninterrupted fit,
    # exactly: same seed, same data, CPU.
    assert clf.history_["loss"][:2] == reference.history_["loss"][:2]
    assert all(math.isfinite(v) for v in clf.history_["loss"])


def test_optimizer_state_is_restored_not_restarted(resumed, toy_images):
    clf, _, _ = resumed
    steps_per_epoch = math.ceil(len(toy_images[1]) / BATCH)
    # A fresh optimizer would count only the steps since the resumption.
    assert int(clf.model_.optimizer.iterations.numpy()) == EPOCHS * steps_per_epoch


def test_a_finished_checkpoint_returns_the_model_without_training(resumed, toy_images):
    clf, directory, _ = resumed
    X, y, _ = toy_images
    state = saved_state(directory)
    assert state["complete"] and state["partial"] is None
    # Only the files the state names remain: no older epochs, no temporaries.
    assert sorted(os.listdir(directory)) == sorted(
        [STATE_FILE, *state["files"].values()]
    )
    counter = epoch_counter()
    again = tiny_cnn(checkpoint_dir=directory, callbacks=[counter]).fit(X, y)
    assert counter.epochs == 0
    assert again.history_ == clf.history_
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    # A single-stage fit records its stage like any other: no special case.
    (record,) = state["records"]
    assert record["epochs_run"] == EPOCHS and again.stages_ == clf.stages_


@pytest.mark.parametrize(
    "change, message",
    [
        ({"epochs": EPOCHS + 1}, "other parameters: epochs=4 there, 5 now"),
        ({"random_state": 1}, "another random_state"),
        ({"reverse": True}, "other training data"),
        ({"relabel": True}, "other training data"),
    ],
)
def test_a_checkpoint_of_another_fit_is_refused(resumed, toy_images, change, message):
    _, directory, _ = resumed
    X, y, _ = toy_images
    change = dict(change)
    if change.pop("reverse", False):
        X, y = X[::-1], y[::-1]
    if change.pop("relabel", False):
        y = np.where(y == "BENIGN", "B", "M")
    before = sorted(os.listdir(directory))
    with pytest.raises(IncompatibleModelError, match=message) as info:
        tiny_cnn(checkpoint_dir=directory, **change).fit(X, y)
    assert "use a new checkpoint_dir" in str(info.value)
    assert sorted(os.listdir(directory)) == before  # the refused fit wrote nothing


@pytest.mark.parametrize("random_state", [None, np.random.RandomState(0)])
def test_checkpoints_need_an_int_random_state(toy_images, tmp_path, random_state):
    X, y, _ = toy_images
    with pytest.raises(ValueError, match="checkpoint_dir needs an int random_state"):
        tiny_cnn(checkpoint_dir=tmp_path, random_state=random_state).fit(X, y)


def test_a_directory_of_other_files_is_refused(toy_images, tmp_path):
    X, y, _ = toy_images
    (tmp_path / "thesis.docx").write_text("precious")
    with pytest.raises(IncompatibleModelError, match="not a mammoclf checkpoint"):
        tiny_cnn(checkpoint_dir=tmp_path).fit(X, y)
    assert (tmp_path / "thesis.docx").read_text() == "precious"


def test_an_interruption_while_checkpointing_keeps_the_previous_epoch(
    toy_images, tmp_path, monkeypatch
):
    """Ctrl-C between writing the weights and the optimizer state of epoch 3."""
    X, y, _ = toy_images
    real_write = TrainingCheckpoint._write_arrays
    calls = []

    def interrupted_third_time(self, name, prefix, arrays):
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_write(self, name, prefix, arrays)

    monkeypatch.setattr(TrainingCheckpoint, "_write_arrays", interrupted_third_time)
    with pytest.raises(KeyboardInterrupt):
        tiny_cnn(checkpoint_dir=tmp_path).fit(X, y)
    state = saved_state(tmp_path)
    assert state["partial"]["epochs"] == 2
    # The newer weights file written before the interruption is not the one
    # the state names; the state's own files are all there.
    assert all((tmp_path / name).is_file() for name in state["files"].values())
    monkeypatch.undo()
    clf = tiny_cnn(checkpoint_dir=tmp_path).fit(X, y)
    assert clf.n_epochs_ == EPOCHS
    assert not [name for name in os.listdir(tmp_path) if "partial" in name]


def test_early_stopping_counters_carry_over(toy_images, tmp_path):
    X, y, _ = toy_images
    params = {"validation_fraction": 0.25, "patience": 3, "checkpoint_dir": tmp_path}
    with pytest.raises(KeyboardInterrupt):
        tiny_cnn(**params, callbacks=[interrupt_after(2)]).fit(X, y)
    saved = saved_state(tmp_path)["partial"]["early_stopping"]
    assert set(saved) == {"wait", "best", "best_epoch"} and saved["best"] is not None
    clf = tiny_cnn(**params).fit(X, y)
    assert len(clf.history_["val_loss"]) == clf.n_epochs_

    # What the resumed fit's EarlyStopping started from: the saved counters.
    keras = import_keras()
    best_weights = [np.ones(2)]
    callback = ResumedStage(
        epochs=2, early_stopping=saved, best_weights=best_weights
    ).early_stopping_callback(keras, patience=3)
    callback.on_train_begin()
    assert (callback.wait, callback.best, callback.best_epoch) == (
        saved["wait"],
        saved["best"],
        saved["best_epoch"],
    )
    assert callback.best_weights is best_weights


@pytest.mark.slow  # DenseNet121 fits twice; the CNN resume tests cover the checkpoint logic
def test_densenet_resumes_inside_its_freeze_schedule(toy_images, tmp_path):
    """Stage 1 finished, stage 2 interrupted after 1 of its 2 epochs, then resumed.

    Two head-only stages keep this fast; crossing an unfreezing stage is the
    slow test below.
    """
    X, y = toy_images[0][:24], toy_images[1][:24]
    params = {
        "weights": None,
        "dense_units": 8,
        "batch_size": 24,
        "random_state": 0,
        "freeze_schedule": [{"epochs": 1}, {"epochs": 2, "learning_rate": 1e-4}],
        "frozen_cache": "memory",
        "checkpoint_dir": tmp_path,
    }
    with pytest.raises(KeyboardInterrupt):
        DenseNetTransferClassifier(**params, callbacks=[interrupt_after(2)]).fit(X, y)
    at_interruption = saved_state(tmp_path)
    assert len(at_interruption["records"]) == 1
    assert (
        at_interruption["partial"]["stage"],
        at_interruption["partial"]["epochs"],
    ) == (1, 1)

    clf = DenseNetTransferClassifier(**params).fit(X, y)
    first, second = clf.stages_
    # The finished stage is not retrained: its record is the saved one.
    assert first["fit_time"] == at_interruption["records"][0]["fit_time"]
    assert first["trainable_blocks"] == ("head",)  # tuples survive the JSON
    assert (second["first_epoch"], second["epochs_run"]) == (1, 2)
    assert clf.n_epochs_ == 3
    saved_losses = at_interruption["partial"]["history"]["loss"]
    assert clf.history_["loss"][:2] == [
        *at_interruption["stage_histories"][0]["loss"],
        *saved_losses,
    ]

    counter = epoch_counter()
    again = DenseNetTransferClassifier(**{**params, "callbacks": [counter]}).fit(X, y)
    assert counter.epochs == 0 and again.stages_ == clf.stages_
    np.testing.assert_array_equal(again.predict_proba(X[:4]), clf.predict_proba(X[:4]))


@pytest.mark.slow
def test_densenet_resumes_an_unfreezing_stage_with_early_stopping(toy_images, tmp_path):
    """The partial preset, interrupted in its conv5 stage, against an uninterrupted fit."""
    X, y, _ = toy_images
    # frozen_cache explicit: with "auto", the interrupting callback alone
    # would switch caching off in one of the fits.
    params = {
        "weights": None,
        "dense_units": 8,
        "batch_size": 32,
        "random_state": 0,
        "freeze_schedule": "partial",
        "epochs": 3,
        "validation_fraction": 0.25,
        "patience": 5,
        "frozen_cache": "memory",
    }
    reference = DenseNetTransferClassifier(**params).fit(X, y)
    with pytest.raises(KeyboardInterrupt):
        DenseNetTransferClassifier(
            **params, checkpoint_dir=tmp_path, callbacks=[interrupt_after(4)]
        ).fit(X, y)
    clf = DenseNetTransferClassifier(**params, checkpoint_dir=tmp_path).fit(X, y)
    assert clf.n_epochs_ == reference.n_epochs_ == 6
    assert [s["trainable_blocks"] for s in clf.stages_] == [
        s["trainable_blocks"] for s in reference.stages_
    ]
    # Up to the interruption the fits are the same.
    assert clf.history_["val_loss"][:4] == pytest.approx(
        reference.history_["val_loss"][:4], rel=1e-5
    )
