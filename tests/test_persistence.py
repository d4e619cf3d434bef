"""Safe persistence: code-free archives, version checks and atomic writes."""

import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import mammoclf
from mammoclf import ScratchCNNClassifier
from mammoclf.exceptions import IncompatibleModelError, InconsistentVersionWarning
from mammoclf.persistence import load, save
from mammoclf.storage import TEMPORARY_SUFFIX


@pytest.fixture(scope="module")
def fitted(toy_images):
    X, y, _ = toy_images
    return ScratchCNNClassifier(
        filters=(4, 4), dense_units=8, epochs=2, random_state=0
    ).fit(X, y)


def test_round_trip_keeps_predictions_params_and_fitted_state(
    fitted, toy_images, tmp_path
):
    X, _, _ = toy_images
    path = tmp_path / "model.mammoclf"
    save(fitted, path)
    restored = load(path)
    assert type(restored) is ScratchCNNClassifier
    assert restored.get_params() == fitted.get_params()
    assert restored.filters == (4, 4)  # a tuple stays a tuple
    np.testing.assert_array_equal(restored.classes_, fitted.classes_)
    assert restored.classes_.dtype == fitted.classes_.dtype
    assert restored.history_ == fitted.history_
    assert restored.image_shape_ == fitted.image_shape_
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))


@pytest.mark.parametrize("labels", [np.array([3, 9]), np.array([False, True])])
def test_non_string_labels_round_trip(toy_images, tmp_path, labels):
    X, y, _ = toy_images
    typed = np.where(y == "MALIGNANT", labels[1], labels[0])
    clf = ScratchCNNClassifier(
        filters=(4,),
        epochs=1,
        random_state=0,
        class_weight={labels[0].item(): 1.0, labels[1].item(): 2.0},
    ).fit(X, typed)
    save(clf, tmp_path / "m.mammoclf")
    restored = load(tmp_path / "m.mammoclf")
    np.testing.assert_array_equal(restored.classes_, labels)
    assert restored.class_weight == clf.class_weight
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))


def test_top_level_save_and_load(fitted, tmp_path):
    mammoclf.save(fitted, tmp_path / "m.mammoclf")
    assert type(mammoclf.load(tmp_path / "m.mammoclf")) is ScratchCNNClassifier


def test_archive_holds_json_and_keras_files_only(fitted, tmp_path):
    path = tmp_path / "model.mammoclf"
    save(fitted, path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["metadata.json", "models/estimator.keras"]
        metadata = json.loads(archive.read("metadata.json"))
    assert metadata["versions"]["mammoclf"] == mammoclf.__version__
    assert metadata["estimator"]["class"] == "mammoclf.classifiers.ScratchCNNClassifier"


def test_loading_never_unpickles(fitted, toy_images, tmp_path, monkeypatch):
    X, _, _ = toy_images
    path = tmp_path / "model.mammoclf"
    save(fitted, path)

    def refuse(*args, **kwargs):
        raise AssertionError("load() must not unpickle anything")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    np.testing.assert_array_equal(load(path).predict(X), fitted.predict(X))


def _rewrite_metadata(path, change):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(members["metadata.json"])
    change(metadata)
    members["metadata.json"] = json.dumps(metadata).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_classes_outside_the_allow_list_are_refused(fitted, tmp_path):
    path = tmp_path / "model.mammoclf"
    save(fitted, path)
    _rewrite_metadata(path, lambda m: m["estimator"].update({"class": "os.system"}))
    with pytest.raises(IncompatibleModelError, match="os.system"):
        load(path)


def test_newer_format_is_refused(fitted, tmp_path):
    path = tmp_path / "model.mammoclf"
    save(fitted, path)
    _rewrite_metadata(path, lambda m: m.update({"format_version": 99}))
    with pytest.raises(IncompatibleModelError, match="upgrade mammoclf"):
        load(path)


def test_other_keras_major_version_is_refused(fitted, tmp_path):
    path = tmp_path / "model.mammoclf"
    save(fitted, path)
    _rewrite_metadata(path, lambda m: m["versions"].update({"keras": "2.15.0"}))
    with pytest.raises(IncompatibleModelError, match="Keras 2.15.0"):
        load(path)


def test_other_mammoclf_version_warns(fitted, tmp_path):
    path = tmp_path / "model.mammoclf"
    save(fitted, path)
    _rewrite_metadata(path, lambda m: m["versions"].update({"mammoclf": "0.0.1"}))
    with pytest.warns(InconsistentVersionWarning, match="0.0.1"):
        load(path)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04truncated"])
def test_corrupt_files_are_a_clear_error(tmp_path, content):
    path = tmp_path / "broken.mammoclf"
    path.write_bytes(content)
    with pytest.raises(IncompatibleModelError, match="not a mammoclf model archive"):
        load(path)


def test_truncated_archive_is_a_clear_error(fitted, tmp_path):
    path = tmp_path / "model.mammoclf"
    save(fitted, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(IncompatibleModelError):
        load(path)


def test_code_bearing_steps_are_refused(toy_images, tmp_path):
    X, y, _ = toy_images
    pipeline = make_pipeline(
        FunctionTransformer(np.asarray), ScratchCNNClassifier(filters=(4,), epochs=1)
    ).fit(X, y)
    with pytest.raises(TypeError, match="FunctionTransformer.*joblib"):
        save(pipeline, tmp_path / "p.mammoclf")
    assert not (tmp_path / "p.mammoclf").exists()


def test_callbacks_are_dropped_with_a_warning(toy_images, tmp_path):
    import keras

    X, y, _ = toy_images
    clf = ScratchCNNClassifier(
        filters=(4,), epochs=1, random_state=0, callbacks=[keras.callbacks.History()]
    ).fit(X, y)
    with pytest.warns(UserWarning, match="callbacks=None"):
        save(clf, tmp_path / "m.mammoclf")
    assert load(tmp_path / "m.mammoclf").callbacks is None


def test_failed_save_keeps_the_previous_file(fitted, tmp_path, monkeypatch):
    from mammoclf import persistence

    path = tmp_path / "model.mammoclf"
    save(fitted, path)
    before = path.read_bytes()

    def explode(model):
        raise KeyboardInterrupt

    monkeypatch.setattr(persistence, "model_to_bytes", explode)
    with pytest.raises(KeyboardInterrupt):
        save(fitted, path)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(f"*{TEMPORARY_SUFFIX}"))


def test_write_interrupted_mid_file_keeps_the_previous_file(
    fitted, tmp_path, monkeypatch
):
    """An exception after half the bytes are on disk leaves no half-file behind."""
    import mammoclf.storage._atomic as io_module

    path = tmp_path / "model.mammoclf"
    save(fitted, path)
    before = path.read_bytes()
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            raise OSError("disk full")

    monkeypatch.setattr(
        io_module.os, "fdopen", lambda *a, **k: HalfWriter(real_fdopen(*a, **k))
    )
    with pytest.raises(OSError, match="disk full"):
        save(fitted, path)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(f"*{TEMPORARY_SUFFIX}"))


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from mammoclf.storage import atomic_write
    path, size = sys.argv[1], int(sys.argv[2])
    generation = 0
    while True:
        generation += 1
        payload = bytes([generation % 251]) * size
        with atomic_write(path) as handle:
            for start in range(0, size, 65536):
                handle.write(payload[start:start + 65536])
        print(generation, flush=True)
    """
)


def test_kill_9_during_writes_never_leaves_a_torn_file(tmp_path):
    """A writer killed at an arbitrary moment leaves one complete generation."""
    path = tmp_path / "model.bin"
    size = 8 * 2**20
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path), str(size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    for _ in range(3):  # let a few generations complete
        assert process.stdout.readline()
    time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    data = path.read_bytes()
    assert len(data) == size
    assert len(set(data[::4096])) == 1  # a single generation, not two mixed


# ------------------------------------------------------ what a new user hits
@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_saved_files_get_the_mode_of_the_users_umask(fitted, tmp_path, umask_022):
    # Until 0.1: 0o600, the private mode of the atomic write's temporary file.
    path = tmp_path / "model.mammoclf"
    save(fitted, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    os.umask(0o077)
    save(fitted, path)  # a replaced file too, under a stricter umask
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_refuses_an_unfitted_estimator(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="ScratchCNNClassifier is not fitted"):
        save(ScratchCNNClassifier(), tmp_path / "m.mammoclf")
    assert not (tmp_path / "m.mammoclf").exists()


def test_save_refuses_a_pipeline_with_an_unfitted_step(fitted, tmp_path):
    from sklearn.exceptions import NotFittedError

    from mammoclf import Augmenter, Resizer
    from mammoclf.pipeline import Pipeline

    unfitted = Pipeline(
        [("resize", Resizer(size=32)), ("augment", Augmenter()), ("cnn", fitted)]
    )
    with pytest.raises(NotFittedError, match="step 'augment'.*Augmenter"):
        save(unfitted, tmp_path / "p.mammoclf")


def test_development_record_round_trips_and_is_optional(tmp_path):
    import numpy as np

    from mammoclf import ScratchCNNClassifier
    from mammoclf.persistence import read_development, save

    X = np.random.default_rng(0).random((12, 16, 16)).astype("float32")
    y = np.array(["BENIGN", "MALIGNANT"] * 6)
    clf = ScratchCNNClassifier(filters=(2,), dense_units=2, epochs=1, random_state=0)
    clf.fit(X, y)
    record = {
        "threshold": {"value": 0.5, "response": "predict_proba"},
        "n_images": 12,
        "image_size": 16,
    }
    save(clf, tmp_path / "with.mammoclf", development=record)
    assert read_development(tmp_path / "with.mammoclf") == record
    save(clf, tmp_path / "without.mammoclf")
    assert read_development(tmp_path / "without.mammoclf") is None
    with pytest.raises(TypeError, match="JSON values"):
        save(clf, tmp_path / "bad.mammoclf", development={"shape": np.int64})
