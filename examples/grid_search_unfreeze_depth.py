"""How deep to unfreeze a pretrained DenseNet: one GridSearchCV parameter.
=======================================================================

The study compared a frozen DenseNet121 (only a new head trains) with a
partially unfrozen one (the head first, then the top dense block ``conv5``
at a lower learning rate). Here that choice, and one block deeper, is a grid
over ``freeze_schedule``, searched on patient-grouped folds. Each fit trains
the head on cached backbone activations, so frozen stages cost one pass of
the backbone per fit instead of one per epoch.

Runs in about 90 seconds on 2 CPU cores at 32x32 pixels. Run it as a
script (``python examples/grid_search_unfreeze_depth.py``) or cell by cell
(``# %%`` markers).
"""

# %%
# Toy mammograms: 60 patients with two views each, 32x32 pixels (DenseNet's
# minimum). A malignant case has a faint bright blob; the two views of a
# patient share its breast texture, so folds must keep patients together.

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

from mammoclf import DenseNetTransferClassifier
from mammoclf.exceptions import WeightsUnavailableError

rng = np.random.default_rng(0)
n_patients, size = 60, 32
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
X = np.asarray(images, dtype="float32")  # (n, H, W) in [0, 1], as loaders give
y = np.asarray(labels)
groups = np.asarray(patients)
print(X.shape, dict(zip(*(a.tolist() for a in np.unique(y, return_counts=True)))))

# %%
# The search. "frozen" trains the head only; a block name means "the head
# first, then that block and everything above it at a tenth of the learning
# rate": "conv5" is the study's partially unfrozen model ("partial" is the
# same preset), "conv4" goes one dense block deeper. ``epochs`` is per stage.
# error_score="raise" makes a failed fit stop the search instead of quietly
# scoring NaN, so missing pretrained weights cannot go unnoticed. Each search
# gets its own estimator, so that nothing set on one search changes another.


def unfreeze_search(param_grid, weights):
    """A patient-grouped search over ``param_grid`` of a DenseNet121 classifier."""
    return GridSearchCV(
        DenseNetTransferClassifier(
            weights=weights, dense_units=32, epochs=3, batch_size=64, random_state=0
        ),
        param_grid=param_grid,
        scoring="roc_auc",
        cv=StratifiedGroupKFold(n_splits=2),
        error_score="raise",
        verbose=2,  # a line per finished fit: the search takes a minute or two
    )


depth_grid = {"freeze_schedule": ["frozen", "conv5", "conv4"]}
weights = "imagenet"
search = unfreeze_search(depth_grid, weights)

# %%
# ImageNet weights come from Keras's cache ($KERAS_HOME/models/, default
# ~/.keras/models/) or a one-time download. Offline, mammoclf raises
# WeightsUnavailableError naming the file to put there; it never falls back
# to random weights by itself. This example then says so and continues with
# weights=None, which shows the mechanics but not the benefit of pretraining.
try:
    search.fit(X, y, groups=groups)
except WeightsUnavailableError as error:
    print(f"\n{error}\n")
    print(">>> Continuing WITHOUT pretrained weights (weights=None).\n")
    weights = None
    search = unfreeze_search(depth_grid, weights)
    search.fit(X, y, groups=groups)

# %%
# Scores per unfreeze depth (patient-grouped, 2 folds) and the chosen one.
results = pd.DataFrame(search.cv_results_)
print(
    results[
        ["param_freeze_schedule", "mean_test_score", "std_test_score", "mean_fit_time"]
    ].to_string(index=False)
)
print("best:", search.best_params_, f"AUC {search.best_score_:.3f}")

# %%
# What each stage of the refitted best model did: which blocks trained, with
# how many parameters, at what learning rate, for which epochs of ``history_``,
# and whether it trained on cached activations of the frozen part.
stages = pd.DataFrame(search.best_estimator_.stages_)
print(stages.drop(columns=["unfreeze"]).to_string(index=False))

# %%
# Learning rates and epochs per stage are searchable too, with custom
# schedules: plain lists of dicts, validated in fit and never modified. The
# same grouped search, ready to run with ``custom_search.fit(X, y,
# groups=groups)``:
custom_grid = {
    "freeze_schedule": [
        "frozen",
        [{"epochs": 3}, {"unfreeze": "conv5", "epochs": 2, "learning_rate": 3e-5}],
        [{"epochs": 3}, {"unfreeze": "conv5", "epochs": 2, "learning_rate": 1e-4}],
    ]
}
custom_search = unfreeze_search(custom_grid, weights)
print(custom_search)
