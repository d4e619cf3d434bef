"""DenseNetTransferClassifier against the reference written by the code before TransferClassifier.

tests/fixtures/densenet_reference/make_reference.py wrote a small saved
model (the shallow DenseNet, weights=None, a fixed seed) and its
probabilities with the DenseNet-only estimator. Today's code must load that
model and predict the same, and a fit on the same seed must give the same
probabilities, to float32 tolerance (other CPUs round differently; on the
machine that wrote the fixture they agreed bitwise).
"""

from pathlib import Path

import numpy as np

import mammoclf
from mammoclf import DenseNetTransferClassifier
from tests.fixtures.densenet_reference.make_reference import fit_reference

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "densenet_reference"


def _reference():
    return np.load(FIXTURE / "reference.npz")


def test_a_model_saved_before_transfer_classifier_loads_and_predicts_the_same():
    reference = _reference()
    clf = mammoclf.load(FIXTURE / "model.mammoclf")
    assert type(clf) is DenseNetTransferClassifier
    assert clf.feature_map_layer_ == "relu"
    np.testing.assert_allclose(
        clf.predict_proba(reference["X"][:4]),
        reference["saved_proba"],
        rtol=1e-5,
        atol=1e-6,
    )


def test_a_fit_on_the_reference_seed_gives_the_reference_probabilities():
    reference = _reference()
    clf = fit_reference()
    np.testing.assert_allclose(
        clf.predict_proba(reference["X"]), reference["fit_proba"], rtol=1e-5, atol=1e-6
    )
    assert [stage["trainable_blocks"] for stage in clf.stages_] == [
        ("head",),
        ("conv5", "head"),
    ]
