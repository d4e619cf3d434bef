"""Comparing models honestly: patient-grouped folds, Table 1 and corrected tests.
==============================================================================

Two small CNNs trained from scratch (one with global max pooling, one with
the conventional flatten head) and a logistic regression on the pixels are
evaluated on the same patient-grouped folds, then compared with the tests a
reviewer should ask for. Runs in about a minute on 2 CPU cores.

Run it as a script (``python examples/compare_models.py``) or cell by cell
(``# %%`` markers) in an editor that supports them.
"""

# %%
# Toy mammograms: 80 patients with two views each (CC and MLO), 32x32 pixels.
# A malignant case has a faint bright blob whose position varies; the two
# views of a patient share the patient's breast texture, which is exactly
# what leaks when views are split between training and test folds.

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mammoclf import ScratchCNNClassifier
from mammoclf.evaluation import pairwise_tests, summarize
from mammoclf.model_selection import compare_models
from mammoclf.stats import bootstrap_ci

rng = np.random.default_rng(0)
n_patients, size = 80, 32
patient_malignant = rng.random(n_patients) < 0.5
texture = rng.normal(0.4, 0.08, size=(n_patients, size, size))
images, labels, patients = [], [], []
for patient in range(n_patients):
    for _view in ("CC", "MLO"):
        image = texture[patient] + rng.normal(0, 0.05, size=(size, size))
        if patient_malignant[patient]:
            row, col = rng.integers(6, size - 6, size=2)
            image[row - 3 : row + 3, col - 3 : col + 3] += 0.35
        images.append(np.clip(image, 0, 1))
        labels.append("MALIGNANT" if patient_malignant[patient] else "BENIGN")
        patients.append(patient)
X = np.asarray(images, dtype="float32")
y = np.asarray(labels)
groups = np.asarray(patients)
print(X.shape, dict(zip(*(a.tolist() for a in np.unique(y, return_counts=True)))))

# %%
# Three models. Everything a model does to its training data (here only
# flattening; in practice augmentation or resampling) lives inside the
# estimator or pipeline, so it only ever sees the training fold.
flatten = FunctionTransformer(np.reshape, kw_args={"shape": (-1, size * size)})
models = {
    "cnn_maxpool": ScratchCNNClassifier(
        filters=(8,),
        pooling="max",
        dense_units=16,
        epochs=10,
        batch_size=16,
        learning_rate=3e-3,
        random_state=0,
    ),
    "cnn_flatten": ScratchCNNClassifier(
        filters=(8, 16),
        dense_units=16,
        epochs=10,
        batch_size=16,
        learning_rate=3e-3,
        random_state=0,
    ),
    "logreg_pixels": make_pipeline(flatten, LogisticRegression(C=0.1, max_iter=500)),
}

# %%
# Identical patient-grouped, stratified 5-fold splits for every model.
result = compare_models(models, X, y, groups=groups, cv=5, random_state=0, verbose=1)
for split in result.splits:  # no patient on both sides of any split
    assert not set(groups[split.train]) & set(groups[split.test])

# %%
# Table 1 (mean ± sd over folds with Nadeau-Bengio corrected 95% CIs), the
# pairwise corrected t-tests and DeLong tests with Holm-adjusted p-values, an
# omnibus Friedman test and the compute costs.
summary = summarize(result)
print(summary)

# %%
# Why the corrected test: the naive paired t-test treats the 5 folds as
# independent, but their training sets overlap by 75%, so its p-values are
# too small.
for test in ("paired_t", "corrected_t"):
    table = pairwise_tests(result, test=test, metric="roc_auc")
    print(test, table[["model_a", "model_b", "statistic", "pvalue"]].round(4), sep="\n")

# %%
# McNemar's test compares the models' errors on the same images.
print(pairwise_tests(result, test="mcnemar")[["model_a", "model_b", "pvalue_adjusted"]])

# %%
# A patient-level bootstrap CI of the pooled out-of-fold AUC: resampling
# patients, not images, because the two views of a patient are correlated.
oof = result.out_of_fold("cnn_flatten")
print(
    bootstrap_ci(
        "roc_auc",
        oof["y_true"],
        oof["y_score"],
        groups=oof["group"],
        n_resamples=1000,
        random_state=0,
    )
)

# %%
# Plots (needs matplotlib): ROC curves with fold CI bands, confusion matrices,
# fold-score distributions and training curves, written as PNG files.
try:
    import matplotlib
except ImportError:
    print("matplotlib is not installed: `pip install mammoclf[plot]` for the plots.")
else:
    matplotlib.use("Agg")
    from mammoclf.plotting import (
        ConfusionMatricesDisplay,
        FoldScoresDisplay,
        RocCurvesDisplay,
        TrainingHistoryDisplay,
    )

    RocCurvesDisplay.from_comparison(result).figure_.savefig("compare_roc.png")
    ConfusionMatricesDisplay.from_comparison(result).figure_.savefig(
        "compare_confusion.png"
    )
    FoldScoresDisplay.from_comparison(
        result, metrics=["roc_auc", "sensitivity", "specificity"]
    ).figure_.savefig("compare_fold_scores.png")
    TrainingHistoryDisplay.from_comparison(result, "cnn_flatten").figure_.savefig(
        "compare_training.png"
    )
    print(
        "wrote compare_roc.png, compare_confusion.png, compare_fold_scores.png, "
        "compare_training.png"
    )
