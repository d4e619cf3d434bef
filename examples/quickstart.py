"""Quickstart: from DICOM files to a patient-grouped cross-validated score.
========================================================================

The study's pipeline written the leak-free way: DICOM files are decoded and
resized image by image, augmentation happens inside each training fold only
(``mammoclf.make_pipeline`` applies the ``Augmenter`` while fitting and skips
it when predicting), and the folds keep every patient's CC and MLO views on
the same side.

Runs in about a minute on 2 CPU cores. Run it as a script
(``python examples/quickstart.py``) or cell by cell (``# %%`` markers).
"""

# %%
# Real DICOM files: synthetic mammograms (16-bit, Modality MG, a CC and an
# MLO view per patient) with benign round/oval or malignant spiculated masses.
import tempfile

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, cross_validate

from mammoclf import (
    Augmenter,
    DenseNetTransferClassifier,
    DicomLoader,
    Resizer,
    make_pipeline,
)
from mammoclf.datasets import make_synthetic_mammograms
from mammoclf.exceptions import WeightsUnavailableError
from mammoclf.metrics import clinical_scorers

# The files go to a temporary folder that is deleted when the script ends.
workspace = tempfile.TemporaryDirectory(prefix="mammoclf-quickstart-")
data = make_synthetic_mammograms(
    60, image_size=96, random_state=0, directory=workspace.name
)
classes, counts = np.unique(data.labels, return_counts=True)
print(
    f"{len(data.paths)} DICOM files of {len(set(data.groups))} patients:",
    ", ".join(f"{c} {n}" for c, n in zip(classes, counts)),
)

# %%
# The pipeline. X is a list of file paths: DicomLoader returns a lazy image
# sequence, Resizer decodes and resizes it image by image (memory stays at a
# few full-resolution images), Augmenter adds rotated/flipped copies of the
# training images only, and the DenseNet trains its new head on a frozen,
# ImageNet-pretrained backbone.
pipeline = make_pipeline(
    DicomLoader(),
    Resizer(size=48),
    Augmenter(n_copies=1, max_rotation=10.0, horizontal_flip=True, random_state=0),
    DenseNetTransferClassifier(
        weights="imagenet",
        freeze_schedule="frozen",
        dense_units=32,
        epochs=5,
        random_state=0,
    ),
)

# %%
# Patient-grouped, stratified folds and the clinical metrics. Offline, the
# ImageNet weights cannot be downloaded: mammoclf raises instead of silently
# training from random weights; this example then says so and goes on
# without them, which shows the mechanics but not the benefit of pretraining.
cv = StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=0)
scoring = clinical_scorers(metrics=["roc_auc", "sensitivity", "specificity"])


def evaluate(model):
    return cross_validate(
        model,
        data.paths,
        data.labels,
        groups=data.groups,
        cv=cv,
        scoring=scoring,
        error_score="raise",
    )


try:
    scores = evaluate(pipeline)
except WeightsUnavailableError as error:
    print(f"\n{error}\n\n>>> Continuing WITHOUT pretrained weights (weights=None).\n")
    pipeline.set_params(densenettransferclassifier__weights=None)
    scores = evaluate(pipeline)

for metric in ("roc_auc", "sensitivity", "specificity"):
    values = scores[f"test_{metric}"]
    print(
        f"{metric:>12}: {values.mean():.3f} ± {values.std():.3f} over {len(values)} folds"
    )

workspace.cleanup()  # the synthetic DICOM files are no longer needed
