"""Comparisons and held-out evaluations built from arrays, for the table tests.

No training: known out-of-fold scores, thresholds and metadata, so each
table can be checked against the function that owns its numbers.
"""

import warnings

import numpy as np
import pandas as pd

from mammoclf.evaluation import SummaryOptions, summarize
from mammoclf.model_selection import (
    ComparisonResult,
    DecisionThreshold,
    HoldoutResult,
    Split,
)

N_RESAMPLES = 30
MALIGNANT, BENIGN = "MALIGNANT", "BENIGN"


def stated_threshold(value, source="fixed by FixedThresholdClassifier"):
    return DecisionThreshold(value, "predict_proba", MALIGNANT, source)


def fake_comparison(seed=0, n_patients=40, thresholds=(0.5, 0.4), metadata=True):
    """Two models' out-of-fold probabilities on 2 folds, 2 images per patient."""
    rng = np.random.default_rng(seed)
    n = 2 * n_patients
    groups = np.repeat(np.arange(n_patients), 2)
    y = np.where(rng.random(n) < 0.5, MALIGNANT, BENIGN)
    positive = y == MALIGNANT
    scores = {
        "good": np.clip(0.5 + 0.3 * (positive - 0.5) + 0.2 * rng.normal(size=n), 0, 1),
        "weak": np.clip(0.5 + 0.1 * (positive - 0.5) + 0.2 * rng.normal(size=n), 0, 1),
    }
    fold = (groups % 2).astype(int)
    splits = tuple(
        Split(0, k, np.flatnonzero(fold != k), np.flatnonzero(fold == k))
        for k in (0, 1)
    )
    per_image = np.where(fold == 0, thresholds[0], thresholds[1])
    y_pred = {
        m: np.where(s >= per_image, MALIGNANT, BENIGN).astype(object)[None, :]
        for m, s in scores.items()
    }
    index = pd.MultiIndex.from_tuples(
        [(m, 0, k) for m in scores for k in (0, 1)], names=["model", "repeat", "fold"]
    )
    frame = pd.DataFrame({"roc_auc": 0.5}, index=index)
    meta = pd.DataFrame(
        {
            "laterality": np.tile(["L", "R"], n_patients),
            "density": np.repeat(rng.integers(1, 3, n_patients), 2),
        },
        index=np.arange(100, 100 + n),  # the index is dropped, only the order counts
    )
    return ComparisonResult(
        model_names=("good", "weak"),
        metric_names=("roc_auc",),
        classes=np.array([BENIGN, MALIGNANT]),
        pos_label=MALIGNANT,
        y_true=y,
        groups=groups,
        splits=splits,
        cv_description="2 grouped folds",
        scores=frame,
        compute=pd.DataFrame(
            dict.fromkeys(
                [
                    "fit_time",
                    "train_time",
                    "predict_time",
                    "n_epochs",
                    "time_per_epoch",
                    "peak_memory_mb",
                    "memory_increase_mb",
                ],
                0.0,
            ),
            index=index,
        ),
        y_pred=y_pred,
        y_score={m: s[None, :] for m, s in scores.items()},
        score_method=dict.fromkeys(scores, "predict_proba"),
        histories={m: (None, None) for m in scores},
        stages={m: (None, None) for m in scores},
        estimators=None,
        thresholds={m: tuple(stated_threshold(t) for t in thresholds) for m in scores},
        metadata=meta.reset_index(drop=True) if metadata else None,
    )


def fake_holdout(seed=1, first_patient=1000, n_patients=20):
    rng = np.random.default_rng(seed)
    n = 2 * n_patients
    y = np.where(rng.random(n) < 0.4, MALIGNANT, BENIGN)
    score = np.clip(
        0.5 + 0.3 * ((y == MALIGNANT) - 0.5) + 0.2 * rng.normal(size=n), 0, 1
    )
    return HoldoutResult(
        model_names=("good",),
        classes=np.array([BENIGN, MALIGNANT]),
        pos_label=MALIGNANT,
        y_true=y,
        groups=np.repeat(np.arange(first_patient, first_patient + n_patients), 2),
        y_pred={"good": np.where(score >= 0.45, MALIGNANT, BENIGN)},
        y_score={"good": score},
        score_method={"good": "predict_proba"},
        thresholds={"good": stated_threshold(0.45)},
        fit_time={"good": 0.0},
        estimators={"good": None},
        training={
            "n_images": 80,
            "n_patients": 40,
            "n_positive": 40,
            "prevalence": 0.5,
            "image_shape": (64, 64),
        },
        metadata=pd.DataFrame(
            {
                "laterality": np.tile(["L", "R"], n_patients),
                "density": np.repeat(rng.integers(1, 3, n_patients), 2),
            }
        ),
    )


def summary_of(result, n_resamples=N_RESAMPLES, **options):
    """``summarize(result)`` without tests, warnings silenced, seeded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return summarize(
            result,
            SummaryOptions(
                n_resamples=n_resamples, random_state=0, tests=(), **options
            ),
        )
