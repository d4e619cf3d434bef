"""An unfreeze-depth search and a model comparison on a Dask cluster.
==================================================================

The same ``GridSearchCV`` and ``compare_models`` calls as on one machine,
inside ``joblib.parallel_backend("dask")``: every fit of the search (one
candidate on one fold) becomes one Dask task, the images are scattered to
the workers once, and Keras is imported and the models built on the workers.

By default this starts a ``LocalCluster`` of 2 worker processes on this
machine (about 2 minutes on 2 CPU cores at 48x48 pixels). To use a real
cluster, pass its scheduler's address::

    python examples/dask_search.py tcp://scheduler:8786

On GPU workers, start one worker per GPU with ``--resources GPU=1`` (e.g.
``CUDA_VISIBLE_DEVICES=0 dask worker tcp://scheduler:8786 --nthreads 1
--resources GPU=1``) and run with ``MAMMOCLF_DASK_GPU=1``: each task then
asks for one GPU, so two fits never share one.

The toy data are too small for the scores to mean much (expect AUCs near
chance); the point is the mechanics, and that the numbers equal those of the
same calls without the ``parallel_backend`` block.
"""

# %%
import multiprocessing
import os
import shutil
import sys

import dask
import joblib
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

from mammoclf import (
    DenseNetTransferClassifier,
    DicomLoader,
    Resizer,
    ScratchCNNClassifier,
)
from mammoclf.datasets import make_synthetic_mammograms
from mammoclf.evaluation import summarize
from mammoclf.model_selection import compare_models


def main(address=None):
    # %%
    # Synthetic DICOM mammograms of 40 patients (CC and MLO views), decoded
    # and resized once, here on the client: the workers receive the small
    # resized array, not the files. (With CBIS-DDSM, load_cbis_ddsm gives the
    # paths, labels and patient groups; see reproduce_study_cbis_ddsm.py.)
    data = make_synthetic_mammograms(80, image_size=64, difficulty=0.2, random_state=0)
    X = Resizer(size=48).fit_transform(DicomLoader().fit_transform(data.paths))
    y, groups = data.labels, data.groups
    shutil.rmtree(data.directory)
    print(X.shape, dict(zip(*(a.tolist() for a in np.unique(y, return_counts=True)))))

    # %%
    # The cluster: an existing scheduler, or 2 local worker processes with
    # one thread each (one Keras fit per process at a time).
    if address is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            # Workers forked from a fork server skip the interpreter's shutdown,
            # which takes TensorFlow seconds: with Dask's default ("spawn"),
            # closing the cluster kills workers still shutting down after 4 s.
            dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    else:
        cluster, client = None, Client(address)
    print("workers:", len(client.scheduler_info()["workers"]))
    backend_options = (
        {"resources": {"GPU": 1}} if os.environ.get("MAMMOCLF_DASK_GPU") else {}
    )

    # %%
    # The search over unfreeze depth: 2 schedules x 2 folds = 4 tasks.
    # weights=None keeps the example offline; use "imagenet" on a cluster
    # whose workers have the weights file in $KERAS_HOME/models/.
    search = GridSearchCV(
        DenseNetTransferClassifier(
            weights=None, dense_units=16, epochs=2, batch_size=32, random_state=0
        ),
        {"freeze_schedule": ["frozen", "conv5"]},
        scoring="roc_auc",
        cv=StratifiedGroupKFold(n_splits=2),
        refit=False,
        error_score="raise",
    )
    with joblib.parallel_backend("dask", **backend_options):
        search.fit(X, y, groups=groups)
    print(
        pd.DataFrame(search.cv_results_)[
            [
                "param_freeze_schedule",
                "mean_test_score",
                "std_test_score",
                "mean_fit_time",
            ]
        ].to_string(index=False)
    )

    # %%
    # A comparison of two models on the same patient-grouped folds: scores
    # equal those of a local run with the same random_state.
    models = {
        "cnn": ScratchCNNClassifier(filters=(8, 16), epochs=15, random_state=0),
        "densenet-frozen": DenseNetTransferClassifier(
            weights=None,
            freeze_schedule="frozen",
            dense_units=16,
            epochs=5,
            batch_size=32,
            random_state=0,
        ),
    }
    with joblib.parallel_backend("dask", **backend_options):
        result = compare_models(
            models,
            X,
            y,
            groups=groups,
            cv=3,
            random_state=0,
            measure_memory=False,
            verbose=1,  # a line per finished fit, with the time left
        )
    print(summarize(result))

    client.close()
    if cluster is not None:
        cluster.close()


# Dask starts its worker processes by re-running this file's imports: the
# work happens only when the file is run as a script.
if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
