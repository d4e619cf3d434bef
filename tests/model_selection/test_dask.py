"""Searches and comparisons on a real dask.distributed cluster through joblib.

The cluster runs in a subprocess whose client never imports Keras, so the
test can check that models are built and trained on the workers only; the
reference runs here, in this process, with the default (sequential) backend.
"""

import itertools
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mammoclf import DenseNetTransferClassifier, ScratchCNNClassifier
from mammoclf.model_selection import compare_models
from tests.shallow_densenet import ShallowDenseNetClassifier

distributed = pytest.importorskip("distributed")


REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_SIZE = 32


def make_data():
    """36 images of 18 patients, 32x32: big enough that shipping them per task shows."""
    rng = np.random.default_rng(0)
    X = rng.random((36, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32) * 0.5
    y = np.array(["BENIGN", "MALIGNANT"] * 18)
    X[y == "MALIGNANT", 12:20, 12:20] += 0.5
    groups = np.repeat(np.arange(18), 2)
    return X, y, groups


def run_comparison(X, y, groups):
    models = {
        "cnn": ScratchCNNClassifier(
            filters=(4,), dense_units=8, epochs=1, random_state=0
        ),
        "logreg": make_pipeline(
            FunctionTransformer(np.reshape, kw_args={"shape": (-1, IMAGE_SIZE**2)}),
            LogisticRegression(max_iter=200),
        ),
    }
    return compare_models(
        models, X, y, groups=groups, cv=2, random_state=0, measure_memory=False
    )


def run_depth_search(X, y, groups):
    # batch_size=32 > a fold's 18 images: one gradient step per epoch, and
    # predictions in one direct call, without tracing a predict function.
    # The shallow DenseNet (tests/shallow_densenet.py) runs the same code on
    # the workers as DenseNet121, in a seventh of the time.
    clf = ShallowDenseNetClassifier(
        weights=None, dense_units=8, epochs=1, batch_size=32, random_state=0
    )
    search = GridSearchCV(
        clf,
        {"freeze_schedule": ["frozen", "conv5"]},
        scoring="roc_auc",
        cv=GroupKFold(2),
        refit=False,
    )
    return search.fit(X, y, groups=groups)


CLIENT_SCRIPT = textwrap.dedent(
    """
    import json, sys, warnings
    import joblib
    from distributed import Client, LocalCluster, WorkerPlugin
    from tests.model_selection.test_dask import (
        make_data, run_comparison, run_depth_search)

    class DataReceived(WorkerPlugin):
        # Bytes of data a worker received: scattered to it, or fetched from
        # a peer (tasks whose result it computed itself do not count).
        name = "data-received"

        def setup(self, worker):
            self.worker, self.bytes = worker, 0

        def transition(self, key, start, finish, **kwargs):
            if finish == "memory" and start not in ("executing", "long-running"):
                self.bytes += self.worker.state.tasks[key].nbytes

    def scheduler_to_worker_bytes(dask_scheduler):
        # Every message of the scheduler's streams to the workers: the task
        # specifications with their inlined arguments, and control messages.
        return sum(s.byte_count for s in dask_scheduler.stream_comms.values())

    if __name__ == "__main__":
        warnings.simplefilter("ignore")
        X, y, groups = make_data()
        with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.register_plugin(DataReceived())
            before = client.run_on_scheduler(scheduler_to_worker_bytes)
            with joblib.parallel_backend("dask"):
                comparison = run_comparison(X, y, groups)
                search = run_depth_search(X, y, groups)
            report = {
                "scores": comparison.scores.reset_index().to_dict(orient="list"),
                "y_score": {k: v.tolist() for k, v in comparison.y_score.items()},
                "search": {k: search.cv_results_[k].tolist()
                           for k in ("split0_test_score", "split1_test_score")},
                "client_imported": [m for m in ("keras", "tensorflow")
                                    if m in sys.modules],
                "workers_imported_keras": list(client.run(
                    lambda: "keras" in sys.modules).values()),
                "task_message_bytes": client.run_on_scheduler(
                    scheduler_to_worker_bytes) - before,
                "data_bytes": list(client.run(
                    lambda dask_worker: dask_worker.plugins["data-received"].bytes
                ).values()),
                "x_bytes": int(X.nbytes),
            }
        print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def cluster_report():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def local_results():
    X, y, groups = make_data()
    with warnings.catch_warnings():
        # One-epoch models may call every image benign: NPV is then undefined.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return run_comparison(X, y, groups), run_depth_search(X, y, groups)


@pytest.mark.slow  # the module's LocalCluster run takes ~80 s
@pytest.mark.cluster
def test_compare_models_on_a_cluster_equals_the_local_run(
    cluster_report, local_results
):
    comparison, _ = local_results
    remote_scores = pd.DataFrame(cluster_report["scores"]).set_index(
        ["model", "repeat", "fold"]
    )
    pd.testing.assert_frame_equal(remote_scores, comparison.scores, check_exact=True)
    for model, y_score in comparison.y_score.items():
        np.testing.assert_array_equal(cluster_report["y_score"][model], y_score)


@pytest.mark.slow  # the LocalCluster run
@pytest.mark.cluster
def test_depth_search_on_a_cluster_equals_the_local_run(cluster_report, local_results):
    _, search = local_results
    for key, remote in cluster_report["search"].items():
        np.testing.assert_array_equal(remote, search.cv_results_[key])


@pytest.mark.slow  # starts a LocalCluster
@pytest.mark.cluster
def test_models_are_built_on_the_workers_only(cluster_report):
    assert cluster_report["client_imported"] == []
    assert cluster_report["workers_imported_keras"] == [True, True]


@pytest.mark.slow  # the LocalCluster run
@pytest.mark.cluster
def test_images_travel_once_per_worker_not_once_per_task(cluster_report):
    """8 tasks: 2 models x 2 folds compared, 2 depths x 2 folds searched."""
    x_bytes = cluster_report["x_bytes"]
    # Shipped inside the task messages, the images would weigh 8 x_bytes.
    assert cluster_report["task_message_bytes"] < x_bytes
    # Each worker got X (scattered, or from its peer) at most once per
    # joblib.Parallel call: the comparison's and the search's.
    for received in cluster_report["data_bytes"]:
        assert received <= 2.2 * x_bytes
    assert sum(cluster_report["data_bytes"]) >= x_bytes


@pytest.mark.slow  # starts a LocalCluster
@pytest.mark.cluster
def test_gpu_resource_runs_one_task_per_worker_at_a_time():
    """The documented GPU set-up: workers offer resources={"GPU": 1}, tasks ask for it.

    Dask resources are counters, not devices, so this checks the scheduling
    on CPU: with two threads per worker, tasks asking for the worker's only
    "GPU" never overlap on it, while unconstrained tasks do.
    """
    import joblib
    from distributed import Client, LocalCluster

    X, y, groups = make_data()
    models = {
        f"cnn{seed}": ScratchCNNClassifier(
            filters=(2,), dense_units=4, epochs=1, random_state=seed
        )
        for seed in range(2)
    }

    def overlaps(task_stream):
        spans = {}
        for task in task_stream:
            if "fit_and_predict" not in str(task["key"]):
                continue
            start = min(
                s["start"] for s in task["startstops"] if s["action"] == "compute"
            )
            stop = max(
                s["stop"] for s in task["startstops"] if s["action"] == "compute"
            )
            spans.setdefault(task["worker"], []).append((start, stop))
        n_overlaps = 0
        for intervals in spans.values():
            intervals.sort()
            # A task may start within a few ms of its predecessor's recorded
            # stop (clocks are read at different points); real overlaps last
            # as long as a fit, seconds.
            n_overlaps += sum(
                b[0] < a[1] - 0.1 for a, b in itertools.pairwise(intervals)
            )
        return n_overlaps, sum(len(v) for v in spans.values())

    with (
        LocalCluster(
            n_workers=2,
            processes=False,
            threads_per_worker=2,
            resources={"GPU": 1},
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        results = {}
        for label, backend_kwargs in (
            ("one per GPU", {"resources": {"GPU": 1}}),
            ("unconstrained", {}),
        ):
            client.get_task_stream()  # reset
            with (
                distributed.get_task_stream(client) as stream,
                joblib.parallel_backend("dask", **backend_kwargs),
            ):
                compare_models(
                    models,
                    X,
                    y,
                    groups=groups,
                    cv=2,
                    random_state=0,
                    measure_memory=False,
                )
            results[label] = overlaps(stream.data)
    assert results["one per GPU"] == (0, 4)
    n_overlaps, n_tasks = results["unconstrained"]
    assert n_tasks == 4 and n_overlaps > 0


def test_weights_none_backbone_ignores_python_random_state(monkeypatch):
    """A Dask worker's event loop draws from Python's ``random`` during fits.

    Keras seeds unseeded initializers from that generator, so a weights=None
    backbone must not depend on it, or a cluster fit differs from a local one.
    """
    import random

    from mammoclf.utils._keras import import_keras, keras_seed

    keras = import_keras()
    clf = DenseNetTransferClassifier(weights=None)

    def backbone_kernels():
        with keras_seed(keras, 7):
            model = clf._build_keras_model(keras, (32, 32, 1), 1, seed=7)
        return [
            layer.kernel.numpy()
            for layer in model.layers
            if type(layer).__name__ == "Conv2D"
        ]

    undisturbed = backbone_kernels()
    # As if another thread had drawn from the generator between our draws.
    monkeypatch.setattr(random, "randint", lambda low, high: 12345)
    disturbed = backbone_kernels()
    assert len(undisturbed) == 120  # DenseNet121's convolutions
    for a, b in zip(undisturbed, disturbed):
        np.testing.assert_array_equal(a, b)
