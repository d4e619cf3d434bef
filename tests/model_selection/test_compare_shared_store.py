"""compare_models shares frozen activations across its fits, with the same results."""

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from mammoclf import DenseNetTransferClassifier
from mammoclf.model_selection import compare_models


def _models():
    params = {"weights": None, "dense_units": 8, "epochs": 1, "random_state": 0}
    return {
        "frozen": DenseNetTransferClassifier(freeze_schedule="frozen", **params),
        "partial": DenseNetTransferClassifier(freeze_schedule="partial", **params),
    }


def _separate_fits(models, X, y, result):
    """Out-of-fold scores of each model fitted alone on each split: no store."""
    scores = {name: np.full(y.shape[0], np.nan) for name in models}
    for split in result.splits:
        for name, model in models.items():
            fitted = clone(model).fit(X[split.train], y[split.train])
            scores[name][split.test] = fitted.decision_function(X[split.test])
    return scores


def _logit(p):
    return np.log(p) - np.log1p(-p)


@pytest.mark.slow  # about 40 s: eight DenseNet fits, four fine-tune conv5
def test_shared_store_gives_the_scores_of_separate_fits(toy_images):
    X, y, groups = toy_images
    models = _models()
    result = compare_models(
        models, X, y, groups=groups, cv=2, random_state=0, measure_memory=False
    )
    alone = _separate_fits(models, X, y, result)
    for name in models:
        # y_score holds probabilities of the positive class; compare logits.
        np.testing.assert_allclose(
            _logit(result.y_score[name][0]), alone[name], rtol=1e-4, atol=1e-4
        )
    shared = result.compute["activations_shared"]
    # The first frozen fit computes everything; every later fit reads some.
    assert shared[("frozen", 0, 0)] == 0.0
    assert (shared.drop(("frozen", 0, 0)) > 0).all()
    partial_stages = result.stages["partial"][0]
    assert [s["activations_from"] for s in partial_stages] == ["store", "store"]


@pytest.mark.slow  # about 60 s: two loky workers import Keras
def test_worker_processes_share_one_disk_store(toy_images):
    X, y, groups = toy_images
    models = {"frozen": _models()["frozen"]}
    # Three folds: each image is in two training sets, fitted concurrently.
    kwargs = {"groups": groups, "cv": 3, "random_state": 0, "measure_memory": False}
    sequential = compare_models(models, X, y, **kwargs)
    with joblib.parallel_backend("loky", n_jobs=2):
        parallel = compare_models(models, X, y, **kwargs)
    pd.testing.assert_frame_equal(parallel.scores, sequential.scores, atol=1e-6)
    np.testing.assert_allclose(
        parallel.y_score["frozen"], sequential.y_score["frozen"], rtol=1e-5
    )
    # Each image's activations were computed at most once, in one worker;
    # the other training sets holding it read them.
    stages = [s[0] for s in parallel.stages["frozen"]]
    computed = sum(s["store_rows_computed"] for s in stages)
    read = sum(s["store_rows_read"] for s in stages)
    assert computed + read == 2 * X.shape[0]
    assert computed <= X.shape[0]
