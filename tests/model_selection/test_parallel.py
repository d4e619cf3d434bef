"""Tasks are picklable and parallel runs equal sequential ones."""

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from mammoclf.model_selection import compare_models


def test_loky_processes_give_the_sequential_result():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = np.where(X[:, 0] + rng.normal(size=80) > 0, "MALIGNANT", "BENIGN")
    groups = np.arange(80) // 2
    models = {"logreg": LogisticRegression(), "knn": KNeighborsClassifier(7)}
    kwargs = {"groups": groups, "cv": 4, "n_repeats": 2, "random_state": 0}
    sequential = compare_models(models, X, y, n_jobs=1, **kwargs)
    parallel = compare_models(models, X, y, n_jobs=2, **kwargs)
    pd.testing.assert_frame_equal(parallel.scores, sequential.scores)
    for model in models:
        np.testing.assert_array_equal(
            parallel.y_score[model], sequential.y_score[model]
        )
        np.testing.assert_array_equal(parallel.y_pred[model], sequential.y_pred[model])


def test_backend_that_cannot_stream_results_says_so_and_gives_the_same_result(capsys):
    """joblib's "multiprocessing" backend (like Ray's) returns results only at the end."""
    import joblib

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.where(X[:, 0] > 0, "MALIGNANT", "BENIGN")
    groups = np.arange(40) // 2
    models = {"logreg": LogisticRegression()}
    kwargs = {"groups": groups, "cv": 2, "random_state": 0}
    sequential = compare_models(models, X, y, **kwargs)
    with joblib.parallel_backend("multiprocessing", n_jobs=2):
        batched = compare_models(models, X, y, verbose=True, **kwargs)
    assert "returns results only when all fits are done" in capsys.readouterr().err
    pd.testing.assert_frame_equal(batched.scores, sequential.scores)
