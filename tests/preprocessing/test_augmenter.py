"""Augmenter: counts, transformations, reproducibility, and fit-only pipelines."""

import subprocess
import sys

import numpy as np
import pytest
from imblearn.pipeline import Pipeline as ImblearnPipeline
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline as SklearnPipeline

from mammoclf import Augmenter, Resizer, make_pipeline
from mammoclf.exceptions import InvalidImageError
from mammoclf.pipeline import Pipeline


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Predicts the majority class and records the shapes it was given."""

    def fit(self, X, y):
        self.fit_shape_ = np.shape(X)
        self.classes_, counts = np.unique(y, return_counts=True)
        self.fit_counts_ = counts
        return self

    def predict(self, X):
        self.predict_shape_ = np.shape(X)
        self.predict_input_ = np.array(X, copy=True)
        return np.full(len(X), self.classes_[np.argmax(self.fit_counts_)])


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    X = rng.random((10, 24, 24)).astype(np.float32)
    y = np.array(["BENIGN"] * 7 + ["MALIGNANT"] * 3)
    return X, y


def counts(y):
    return np.unique(y, return_counts=True)[1].tolist()


@pytest.mark.parametrize(
    "params,expected",
    [
        ({}, [14, 6]),  # the study: one augmented copy of everything
        ({"n_copies": 3}, [28, 12]),
        ({"n_copies": 0, "sampling_strategy": "auto"}, [7, 7]),
        ({"n_copies": 1, "sampling_strategy": "auto"}, [14, 14]),
        ({"n_copies": 0, "sampling_strategy": 0.6}, [7, 4]),
        ({"n_copies": 0, "sampling_strategy": {"MALIGNANT": 5}}, [7, 5]),
        ({"n_copies": 0}, [7, 3]),
    ],
)
def test_class_counts(images, params, expected):
    X, y = images
    X_res, y_res = Augmenter(random_state=0, **params).fit_resample(X, y)
    assert counts(y_res) == expected and X_res.shape == (sum(expected), 24, 24)


def test_originals_come_first_unchanged_and_sources_are_recorded(images):
    X, y = images
    augmenter = Augmenter(n_copies=2, random_state=0)
    X_res, y_res = augmenter.fit_resample(X, y)
    np.testing.assert_array_equal(X_res[:10], X)
    sources = augmenter.sample_indices_
    assert sources.shape == (30,) and np.array_equal(sources[:10], np.arange(10))
    np.testing.assert_array_equal(y_res, y[sources])
    # Every image is used exactly twice for two copies.
    assert np.bincount(sources[10:], minlength=10).tolist() == [2] * 10
    assert augmenter.sampling_strategy_ == {"BENIGN": 14, "MALIGNANT": 6}


def test_copies_differ_from_their_sources_but_keep_the_value_range(images):
    X, y = images
    augmenter = Augmenter(
        random_state=0,
        zoom_range=0.1,
        shift_range=0.1,
        brightness_range=0.2,
        contrast_range=0.2,
        vertical_flip=True,
    )
    X_res, _ = augmenter.fit_resample(X, y)
    copies, sources = X_res[10:], X[augmenter.sample_indices_[10:]]
    assert all(not np.allclose(c, s) for c, s in zip(copies, sources))
    assert copies.min() >= X.min() and copies.max() <= X.max()


def test_without_rotation_a_copy_is_the_image_or_its_mirror(images):
    X, y = images
    augmenter = Augmenter(max_rotation=0.0, random_state=3)
    X_res, _ = augmenter.fit_resample(X, y)
    mirrored = 0
    for copy, source in zip(X_res[10:], X[augmenter.sample_indices_[10:]]):
        if np.array_equal(copy, source[:, ::-1]):
            mirrored += 1
        else:
            np.testing.assert_array_equal(copy, source)
    assert 0 < mirrored < 10


def test_rotation_turns_an_off_centre_spot_by_at_most_max_rotation():
    spot = np.zeros((1, 41, 41), np.float32)
    spot[0, 20, 35] = 1.0  # 15 px right of the centre
    rotated, _ = Augmenter(
        n_copies=8, horizontal_flip=False, random_state=0
    ).fit_resample(np.repeat(spot, 2, 0), np.array([0, 1]))
    rows, columns = np.indices((41, 41))
    angles = []
    for copy in rotated[2:]:
        weight = copy / copy.sum()
        angles.append(
            np.degrees(
                np.arctan2(
                    -(weight * (rows - 20)).sum(), (weight * (columns - 20)).sum()
                )
            )
        )
    angles = np.abs(angles)
    assert angles.max() <= 10.0 + 0.5 and angles.max() > 3.0, angles


def test_same_seed_same_output_other_seed_other_output(images):
    X, y = images
    first = Augmenter(random_state=42).fit_resample(X, y)[0]
    np.testing.assert_array_equal(
        Augmenter(random_state=42).fit_resample(X, y)[0], first
    )
    assert not np.array_equal(Augmenter(random_state=43).fit_resample(X, y)[0], first)


def test_reproducible_across_processes(images):
    X, y = images
    expected = Augmenter(random_state=7, zoom_range=0.1).fit_resample(X, y)[0]
    script = (
        "import numpy as np, sys\n"
        "from mammoclf import Augmenter\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.random((10, 24, 24)).astype(np.float32)\n"
        "y = np.array(['BENIGN'] * 7 + ['MALIGNANT'] * 3)\n"
        "out = Augmenter(random_state=7, zoom_range=0.1).fit_resample(X, y)[0]\n"
        "sys.stdout.buffer.write(out.tobytes())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    np.testing.assert_array_equal(
        np.frombuffer(result.stdout, np.float32).reshape(expected.shape), expected
    )


def test_channels_are_kept(images):
    X, y = images
    rgbish = np.repeat(X[..., None], 3, axis=3)
    X_res, _ = Augmenter(random_state=0).fit_resample(rgbish, y)
    assert X_res.shape == (20, 24, 24, 3)


@pytest.mark.parametrize(
    "X,y,error,message",
    [
        (np.zeros((4, 10)), [0, 1, 0, 1], InvalidImageError, "2 dimensions"),
        (np.full((4, 5, 5), np.nan), [0, 1, 0, 1], InvalidImageError, "NaN"),
        (np.zeros((4, 5, 5)), [0, 1, 0], ValueError, "3 labels for 4 images"),
        (np.zeros((4, 5, 5)), [0.5, 1.5, 0.1, 2.2], ValueError, "Unknown label type"),
    ],
)
def test_invalid_input(X, y, error, message):
    with pytest.raises(error, match=message):
        Augmenter().fit_resample(X, y)


def test_invalid_parameters(images):
    X, y = images
    for params in (
        {"n_copies": -1},
        {"max_rotation": 400},
        {"zoom_range": 1.0},
        {"sampling_strategy": "everything"},
    ):
        with pytest.raises(ValueError):
            Augmenter(**params).fit_resample(X, y)


def test_imblearn_pipeline_augments_fit_only(images):
    X, y = images
    pipe = make_pipeline(Augmenter(n_copies=2, random_state=0), RecordingClassifier())
    pipe.fit(X, y)
    model = pipe[-1]
    assert model.fit_shape_ == (30, 24, 24)  # training set tripled
    pipe.predict(X)
    assert model.predict_shape_ == (10, 24, 24)  # predict input untouched
    np.testing.assert_array_equal(model.predict_input_, X)


def test_augmentation_stays_inside_training_folds(images):
    X, y = images
    pipe = make_pipeline(
        Resizer(size=12), Augmenter(random_state=0), RecordingClassifier()
    )
    scores = cross_val_score(pipe, X, y, cv=GroupKFold(2), groups=np.arange(10) % 5)
    assert scores.shape == (2,)
    fitted = clone(pipe).fit(X[4:], y[4:])  # 3 benign and 3 malignant images
    assert fitted[-1].fit_shape_[0] == 12
    fitted.predict(X[:4])
    assert fitted[-1].predict_shape_ == (4, 12, 12, 1)


def test_a_single_class_is_refused_as_by_every_imblearn_sampler(images):
    X, y = images
    with pytest.raises(ValueError, match="more than 1 class"):
        Augmenter(random_state=0).fit_resample(X[:6], y[:6])
    with pytest.raises(ValueError, match="more than 1 class"):
        Augmenter(random_state=0).fit(X[:6], y[:6])


def test_outputs_keep_the_container_of_the_inputs(images):
    """imbalanced-learn's fit_resample returns lists for lists, Series for Series."""
    import pandas as pd

    X, y = images
    X_list, y_list = Augmenter(random_state=0).fit_resample(list(X), list(y))
    assert isinstance(X_list, list) and isinstance(y_list, list)
    X_array, y_series = Augmenter(random_state=0).fit_resample(
        X, pd.Series(y, name="pathology")
    )
    np.testing.assert_array_equal(np.asarray(X_list, dtype=np.float32), X_array)
    assert isinstance(y_series, pd.Series) and y_series.name == "pathology"
    assert y_series.tolist() == y_list


def test_plain_sklearn_pipeline_says_to_use_make_pipeline(images):
    X, y = images
    pipe = SklearnPipeline([("augment", Augmenter()), ("model", RecordingClassifier())])
    with pytest.raises(TypeError, match=r"mammoclf\.make_pipeline"):
        pipe.fit(X, y)
    with pytest.raises(TypeError, match="training data only"):
        Augmenter().fit(X, y).transform(X)


def test_plain_imblearn_pipeline_refuses_it_as_documented(images):
    X, y = images
    pipe = ImblearnPipeline(
        [("augment", Augmenter()), ("model", RecordingClassifier())]
    )
    with pytest.raises(TypeError, match="implements both"):
        pipe.fit(X, y)
    mammoclf_pipe = Pipeline(
        [("augment", Augmenter()), ("model", RecordingClassifier())]
    )
    assert mammoclf_pipe.fit(X, y)[-1].fit_shape_[0] == 20
    assert hasattr(Augmenter(), "transform")  # outside our Pipeline the guard is there
