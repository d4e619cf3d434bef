"""A fitted three-model comparison shared by the model_selection tests."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mammoclf import ScratchCNNClassifier
from mammoclf.model_selection import compare_models


def flattened_logreg(image_size=32):
    """LogisticRegression on flattened images, as a picklable pipeline."""
    flatten = FunctionTransformer(np.reshape, kw_args={"shape": (-1, image_size**2)})
    return make_pipeline(flatten, LogisticRegression(max_iter=200))


@pytest.fixture(scope="session")
def make_flat_logreg():
    """The factory above, for test modules (test folders are not packages)."""
    return flattened_logreg


@pytest.fixture(scope="session")
def three_models():
    return {
        "cnn": ScratchCNNClassifier(
            filters=(4,), dense_units=8, epochs=1, random_state=0
        ),
        "cnn_avg": ScratchCNNClassifier(
            filters=(4,), dense_units=8, epochs=2, pooling="avg", random_state=0
        ),
        "logreg": flattened_logreg(),
    }


@pytest.fixture(scope="session")
def cnn_comparison(toy_images, three_models):
    """compare_models on 60 toy images of 30 patients, 3 grouped folds."""
    X, y, groups = toy_images
    with warnings.catch_warnings():
        # One-epoch CNNs may call every image benign: PPV is then undefined.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return compare_models(
            three_models,
            X,
            y,
            groups=groups,
            cv=3,
            random_state=0,
            return_estimators=True,
        )
