"""Comparisons for the plotting tests, drawn on the non-interactive Agg backend."""

import matplotlib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from mammoclf.model_selection import compare_models

matplotlib.use("Agg")


class StagedHistoryClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression that reports a made-up two-stage Keras-style history."""

    def __init__(self, *, epochs=(2, 3)):
        self.epochs = epochs

    def fit(self, X, y):
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        n = sum(self.epochs)
        loss = list(np.linspace(0.7, 0.3, n))
        self.history_ = {
            "loss": loss,
            "val_loss": [v + 0.05 for v in loss],
            "auc": list(np.linspace(0.6, 0.9, n)),
        }
        self.stages_ = [
            {"unfreeze": "head", "first_epoch": 0, "epochs_run": self.epochs[0]},
            {
                "unfreeze": "conv5",
                "first_epoch": self.epochs[0],
                "epochs_run": self.epochs[1],
            },
        ]
        self.n_epochs_ = n
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.model_.predict(X)


@pytest.fixture(scope="session")
def comparison():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = np.where(X[:, 0] + rng.normal(size=120) > 0, "MALIGNANT", "BENIGN")
    models = {
        "logreg": LogisticRegression(),
        "nb": GaussianNB(),
        "staged": StagedHistoryClassifier(),
    }
    return compare_models(
        models, X, y, groups=np.arange(120) // 2, cv=4, n_repeats=2, random_state=0
    )


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
