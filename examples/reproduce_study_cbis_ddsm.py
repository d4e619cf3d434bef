"""Reproduce the study on CBIS-DDSM, the honest way (documented; not run in CI).
=============================================================================

The same experiment as ``mammoclf compare --cbis-ddsm ROOT``, written with the
Python API so every step can be changed:

1. labels from the official description tables (an image is malignant if any
   of its abnormalities is), patients as groups;
2. DICOM decoded and resized to 224 px once per file (cached on disk);
3. the three models of the study, each behind the study's augmentation
   inside the training folds only;
4. 5-fold stratified, patient-grouped cross-validation, the same folds for
   every model;
5. Table 1 with corrected confidence intervals and corrected pairwise tests.

Needs the CBIS-DDSM DICOM download from TCIA (about 160 GB) and the ImageNet
weights of DenseNet121 (downloaded by Keras, or pre-placed in
``$KERAS_HOME/models/``). On 2 CPU cores this takes days; on one GPU, hours::

    python examples/reproduce_study_cbis_ddsm.py /data/CBIS-DDSM [mass|calc|both]
"""

# %%
import sys
from pathlib import Path

from sklearn.model_selection import StratifiedGroupKFold

from mammoclf import (
    Augmenter,
    DenseNetTransferClassifier,
    DicomLoader,
    Resizer,
    ScratchCNNClassifier,
    compare_models,
    make_pipeline,
)
from mammoclf.datasets import load_cbis_ddsm, scan
from mammoclf.evaluation import SummaryOptions, summarize

if len(sys.argv) < 2 or not Path(sys.argv[1]).is_dir():
    sys.exit(__doc__)
root = Path(sys.argv[1])
subset = sys.argv[2] if len(sys.argv) > 2 else "mass"
abnormality = ("mass", "calc") if subset == "both" else subset

data = load_cbis_ddsm(root, abnormality=abnormality, split="all", image="full")
print(data.DESCR.splitlines()[0])
print(f"{len(data.paths)} images of {len(set(data.groups))} patients")

# %%
# Check every file once before hours of training: all unreadable files are
# reported together.
scan(data.paths, n_jobs=-1).raise_if_problems()

# %%
# Decode and resize once; the cache makes reruns (and other image sizes of
# the same settings) skip decoding. Per-image and learning nothing, this step
# cannot leak information between folds.
images = Resizer(size=224).fit_transform(
    DicomLoader(n_jobs=-1, cache_dir=root / ".mammoclf-cache").fit_transform(data.paths)
)


def study_augmentation():
    return Augmenter(
        n_copies=1, max_rotation=10.0, horizontal_flip=True, random_state=0
    )


models = {
    "CNN from scratch": make_pipeline(
        study_augmentation(), ScratchCNNClassifier(epochs=50, random_state=0)
    ),
    "DenseNet121 frozen": make_pipeline(
        study_augmentation(),
        DenseNetTransferClassifier(freeze_schedule="frozen", epochs=30, random_state=0),
    ),
    "DenseNet121 partially unfrozen": make_pipeline(
        study_augmentation(),
        DenseNetTransferClassifier(
            freeze_schedule="partial", epochs=15, random_state=0
        ),
    ),
}

# %%
result = compare_models(
    models,
    images,
    data.labels,
    groups=data.groups,
    cv=StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0),
    random_state=0,
    verbose=1,
)
options = SummaryOptions(tests=("corrected_t", "delong", "mcnemar"))
print(summarize(result, options))
