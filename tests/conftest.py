"""Fixtures shared by the whole suite.

Heavy fitted models are session-scoped and live in the conftest of the
subpackage that needs them; this file only holds what every test may use.
"""

import os

import numpy as np
import pytest

# TensorFlow's C++ start-up chatter buries real test output; tests only.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def toy_images():
    """60 tiny (32x32) greyscale images whose label is a bright square.

    Returns ``(X, y, groups)``: float32 images in [0, 1], string labels
    ``"BENIGN"``/``"MALIGNANT"`` and patient ids (two images per patient).
    """
    rng = np.random.default_rng(0)
    X = rng.random((60, 32, 32), dtype=np.float32) * 0.5
    y = np.array(["BENIGN", "MALIGNANT"] * 30)
    X[y == "MALIGNANT", 12:20, 12:20] += 0.5
    groups = np.repeat(np.arange(30), 2)
    return X, y, groups
