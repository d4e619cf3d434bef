"""Same data and random_state in two separate Python processes: identical results on CPU.

Two fresh interpreters, started side by side with different hash seeds
(``PYTHONHASHSEED``, so nothing may depend on set or dict-of-str order),
each run the same script: fit both classifiers, augment, cross-validate with
``compare_models``. Every number must be bitwise equal between the two. The
same-process checks (fitting twice) live with each estimator's tests; GPU
determinism is discussed in ``docs/user_guide/reliability.md``.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

# Two subprocesses that each import TensorFlow and fit: one xdist worker.
pytestmark = pytest.mark.xdist_group(name="reproducibility")

SCRIPT = textwrap.dedent("""
    import sys

    import numpy as np

    from mammoclf import Augmenter, DenseNetTransferClassifier, ScratchCNNClassifier
    from mammoclf.model_selection import compare_models

    rng = np.random.default_rng(0)
    X = rng.random((24, 32, 32), dtype=np.float32) * 0.5
    y = np.array(["BENIGN", "MALIGNANT"] * 12)
    X[y == "MALIGNANT", 12:20, 12:20] += 0.5
    groups = np.repeat(np.arange(12), 2)
    X_new = rng.random((6, 32, 32), dtype=np.float32)

    results = {}
    cnn = ScratchCNNClassifier(filters=(4,), dense_units=8, epochs=2, batch_size=8,
                               validation_fraction=0.25, random_state=0)
    results["cnn_proba"] = cnn.fit(X, y).predict_proba(X_new)
    results["cnn_loss"] = np.array(cnn.history_["loss"])
    densenet = DenseNetTransferClassifier(weights=None, freeze_schedule="frozen",
                                          dense_units=4, epochs=1, batch_size=8,
                                          random_state=0)
    results["densenet_proba"] = densenet.fit(X, y).predict_proba(X_new)
    X_aug, y_aug = Augmenter(n_copies=2, zoom_range=0.1, shift_range=0.1,
                             brightness_range=0.1, random_state=0).fit_resample(X, y)
    results["augmented"], results["augmented_labels"] = X_aug, y_aug
    comparison = compare_models(
        {"cnn": ScratchCNNClassifier(filters=(2,), dense_units=4, epochs=1,
                                     random_state=0)},
        X, y, groups=groups, cv=3, n_repeats=2, random_state=0, measure_memory=False,
    )
    results["cv_scores"] = comparison.scores.to_numpy()
    results["cv_y_score"] = np.stack([np.asarray(comparison.y_score[name], float)
                                      for name in sorted(comparison.y_score)])
    results["cv_splits"] = np.concatenate([
        np.concatenate([split.train, [-1], split.test, [-2]])
        for split in comparison.splits
    ])
    np.savez(sys.argv[1], **results)
""")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reproducibility")
    processes = []
    for run, hash_seed in enumerate(("1", "2")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "TF_CPP_MIN_LOG_LEVEL": "2",
               "CUDA_VISIBLE_DEVICES": ""}  # CPU: what this test is about
        out = folder / f"run{run}.npz"
        processes.append((out, subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(out)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )))
    runs = []
    for out, process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        with np.load(out, allow_pickle=False) as saved:
            runs.append(dict(saved))
    return runs


@pytest.mark.parametrize("key", [
    "cnn_proba", "cnn_loss", "densenet_proba", "augmented", "augmented_labels",
    "cv_scores", "cv_y_score", "cv_splits",
])
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
    assert np.isfinite(first["cv_scores"]).all() and first["cv_scores"].shape[0] == 6
