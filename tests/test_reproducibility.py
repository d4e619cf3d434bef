"""Same data and random_state in two separate Python processes: identical results on CPU.

The test process and a fresh interpreter (with another hash seed,
``PYTHONHASHSEED``, so nothing may depend on set or dict-of-str order) run
the same function side by side: fit both classifiers, augment,
cross-validate with ``compare_models``. Every number must be bitwise equal
between the two. The
same-process checks (fitting twice) live with each estimator's tests; GPU
determinism is discussed in ``docs/user_guide/reliability.md``.
"""

import os
import subprocess
import sys

import numpy as np
import pytest


def compute_results(path):
    """Fit, augment and cross-validate on fixed data; save every number to ``path``."""
    from mammoclf import Augmenter, ScratchCNNClassifier
    from mammoclf.model_selection import compare_models
    from tests.shallow_densenet import ShallowDenseNetClassifier

    rng = np.random.default_rng(0)
    X = rng.random((24, 32, 32), dtype=np.float32) * 0.5
    y = np.array(["BENIGN", "MALIGNANT"] * 12)
    X[y == "MALIGNANT", 12:20, 12:20] += 0.5
    groups = np.repeat(np.arange(12), 2)
    X_new = rng.random((6, 32, 32), dtype=np.float32)

    results = {}
    cnn = ScratchCNNClassifier(
        filters=(4,),
        dense_units=8,
        epochs=2,
        batch_size=8,
        validation_fraction=0.25,
        random_state=0,
    )
    results["cnn_proba"] = cnn.fit(X, y).predict_proba(X_new)
    results["cnn_loss"] = np.array(cnn.history_["loss"])
    # DenseNetTransferClassifier's code on a DenseNet with one convolution
    # per dense block: the same layer types, seeding and frozen-feature path
    # as DenseNet121, without building its 434 layers twice.
    densenet = ShallowDenseNetClassifier(
        weights=None,
        freeze_schedule="frozen",
        dense_units=4,
        epochs=1,
        batch_size=8,
        random_state=0,
    )
    results["densenet_proba"] = densenet.fit(X, y).predict_proba(X_new)
    X_aug, y_aug = Augmenter(
        n_copies=2,
        zoom_range=0.1,
        shift_range=0.1,
        brightness_range=0.1,
        random_state=0,
    ).fit_resample(X, y)
    results["augmented"], results["augmented_labels"] = X_aug, y_aug
    comparison = compare_models(
        {
            "cnn": ScratchCNNClassifier(
                filters=(2,), dense_units=4, epochs=1, random_state=0
            )
        },
        X,
        y,
        groups=groups,
        cv=2,
        n_repeats=2,
        random_state=0,
        measure_memory=False,
    )
    results["cv_scores"] = comparison.scores.to_numpy()
    results["cv_y_score"] = np.stack(
        [
            np.asarray(comparison.y_score[name], float)
            for name in sorted(comparison.y_score)
        ]
    )
    results["cv_splits"] = np.concatenate(
        [
            np.concatenate([split.train, [-1], split.test, [-2]])
            for split in comparison.splits
        ]
    )
    np.savez(path, **results)


CHILD = (
    "import sys; from tests.test_reproducibility import compute_results; "
    "compute_results(sys.argv[1])"
)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The results of this test process and of a fresh interpreter, run side by side.

    This process has already run other tests (other fits, other seeds): its
    results must not depend on that history either.
    """
    folder = tmp_path_factory.mktemp("reproducibility")
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {
        **os.environ,
        "PYTHONHASHSEED": "12345",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",  # CPU: what this test is about
        "PYTHONPATH": os.pathsep.join([repository, os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder / "child.npz")],
        env=env,
        cwd=repository,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    compute_results(folder / "parent.npz")
    _, stderr = child.communicate(timeout=600)
    assert child.returncode == 0, stderr[-3000:]
    runs = []
    for name in ("parent", "child"):
        with np.load(folder / f"{name}.npz", allow_pickle=False) as saved:
            runs.append(dict(saved))
    return runs


@pytest.mark.parametrize(
    "key",
    [
        "cnn_proba",
        "cnn_loss",
        "densenet_proba",
        "augmented",
        "augmented_labels",
        "cv_scores",
        "cv_y_score",
        "cv_splits",
    ],
)
def test_two_processes_give_identical_results(two_runs, key):
    first, second = two_runs
    assert first[key].shape == second[key].shape
    np.testing.assert_array_equal(first[key], second[key])


def test_the_results_are_not_trivially_equal(two_runs):
    """The comparison can fail: the runs hold real, varied numbers."""
    first, _ = two_runs
    assert np.unique(first["cnn_proba"]).size > 1
    assert np.unique(first["densenet_proba"]).size > 1
    assert first["augmented"].shape[0] == 3 * 24
    # Augmented copies differ from their sources (the originals come first).
    assert not np.array_equal(first["augmented"][24:48], first["augmented"][:24])
    # A metric may be undefined (NaN) in a fold, e.g. PPV without malignant
    # calls; most of the table is real numbers.
    assert first["cv_scores"].shape[0] == 4
    assert np.isfinite(first["cv_scores"]).mean() > 0.75
