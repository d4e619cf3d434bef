"""Dask benchmark: a small model comparison locally vs on a 2-worker LocalCluster.

The same ``compare_models`` call (two ScratchCNNClassifier configurations,
patient-grouped 3-fold cross-validation, so 6 fits) runs three ways, each
in a fresh client process so that neither inherits the other's warm Keras:

- ``local``: joblib's default sequential backend, in one process;
- ``loky``: ``n_jobs=2`` with joblib's process pool on this machine;
- ``dask``: inside ``joblib.parallel_backend("dask")`` on a
  ``dask.distributed.LocalCluster`` of 2 single-threaded worker processes
  (cluster start-up reported apart from the comparison's wall time).

For the cluster it also reports the bytes that reached the workers: the
scheduler's messages to them (task specifications, arguments inlined in
them, control traffic) and the data each worker received as task inputs
(scattered by the client or fetched from its peer), next to the size of
``X``. Shipped inside every task, the images would weigh 6 x ``X``.

Run (one command, appends a row to benchmarks/RESULTS.md)::

    python benchmarks/bench_dask.py
"""

import argparse
import json
import os
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MODES = ("local", "loky", "dask")

CHILD = textwrap.dedent(
    """
    import json, sys, time, warnings
    import joblib
    import numpy as np

    def make_data(n_images, image_size):
        rng = np.random.default_rng(0)
        X = rng.random((n_images, image_size, image_size), dtype=np.float32) * 0.5
        y = np.array(["BENIGN", "MALIGNANT"] * (n_images // 2))
        X[y == "MALIGNANT", 8:24, 8:24] += 0.5
        groups = np.repeat(np.arange(n_images // 2), 2)
        return X, y, groups

    def compare(X, y, groups, n_jobs, epochs):
        from mammoclf import ScratchCNNClassifier
        from mammoclf.model_selection import compare_models

        models = {
            "small": ScratchCNNClassifier(filters=(8,), epochs=epochs, random_state=0),
            "deeper": ScratchCNNClassifier(filters=(8, 16), epochs=epochs,
                                           random_state=0),
        }
        return compare_models(models, X, y, groups=groups, cv=3, random_state=0,
                              n_jobs=n_jobs, measure_memory=False)

    if __name__ == "__main__":
        warnings.simplefilter("ignore")
        mode, n_images, image_size, epochs = sys.argv[1:]
        X, y, groups = make_data(int(n_images), int(image_size))
        report = {"x_bytes": int(X.nbytes)}
        if mode == "dask":
            from distributed import Client, LocalCluster, WorkerPlugin

            class DataReceived(WorkerPlugin):
                name = "data-received"

                def setup(self, worker):
                    self.worker, self.bytes = worker, 0

                def transition(self, key, start, finish, **kwargs):
                    if finish == "memory" and start not in ("executing",
                                                            "long-running"):
                        self.bytes += self.worker.state.tasks[key].nbytes

            def scheduler_bytes(dask_scheduler):
                return sum(s.byte_count for s in dask_scheduler.stream_comms.values())

            started = time.perf_counter()
            cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                   dashboard_address=None)
            client = Client(cluster)
            client.register_plugin(DataReceived())
            report["startup_s"] = time.perf_counter() - started
            before = client.run_on_scheduler(scheduler_bytes)
            started = time.perf_counter()
            with joblib.parallel_backend("dask"):
                result = compare(X, y, groups, None, int(epochs))
            report["wall_s"] = time.perf_counter() - started
            report["task_message_bytes"] = client.run_on_scheduler(
                scheduler_bytes) - before
            report["data_bytes"] = sorted(client.run(
                lambda dask_worker: dask_worker.plugins["data-received"].bytes
            ).values())
            client.close()
            cluster.close()
        else:
            started = time.perf_counter()
            result = compare(X, y, groups, 2 if mode == "loky" else None, int(epochs))
            report["wall_s"] = time.perf_counter() - started
        report["auc"] = result.scores["roc_auc"].round(12).tolist()
        print(json.dumps(report))
    """
)


def run_mode(mode, *, n_images, image_size, epochs):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            mode,
            str(n_images),
            str(image_size),
            str(epochs),
        ],
        cwd=os.path.dirname(HERE),
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def measure(*, n_images, image_size, epochs):
    results = {}
    for mode in MODES:
        print(f"running {mode} ...", flush=True)
        results[mode] = run_mode(
            mode, n_images=n_images, image_size=image_size, epochs=epochs
        )
    if results["dask"]["auc"] != results["local"]["auc"]:
        raise RuntimeError(
            "the cluster's scores differ from the local run's: "
            f"{results['dask']['auc']} vs {results['local']['auc']}"
        )
    return {"n_images": n_images, "image_size": image_size, "epochs": epochs, **results}


def describe(result):
    local, loky, dask = result["local"], result["loky"], result["dask"]
    mib = 2**20
    return (
        f"compare_models of 2 ScratchCNNClassifiers, {result['n_images']} images of "
        f"{result['image_size']} px, 3 grouped folds (6 fits of {result['epochs']} "
        f"epochs): sequential {local['wall_s']:.1f} s; joblib loky n_jobs=2 "
        f"{loky['wall_s']:.1f} s (x{local['wall_s'] / loky['wall_s']:.2f}); Dask "
        f"LocalCluster 2 workers x 1 thread {dask['wall_s']:.1f} s "
        f"(x{local['wall_s'] / dask['wall_s']:.2f}; cluster start-up "
        f"{dask['startup_s']:.1f} s more); scores identical to the sequential run; "
        f"X {result['dask']['x_bytes'] / mib:.2f} MiB, scheduler-to-worker messages "
        f"{dask['task_message_bytes'] / mib:.2f} MiB, data received by the workers "
        + " and ".join(f"{b / mib:.2f}" for b in dask["data_bytes"])
        + " MiB (in every task it would be 6 x X)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=240)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="print the numbers without appending a row",
    )
    args = parser.parse_args()
    result = measure(
        n_images=args.n_images, image_size=args.image_size, epochs=args.epochs
    )
    sentence = describe(result)
    print(sentence)
    if args.no_record:
        return
    from _results import append_row

    append_row("dask", sentence, backend="tensorflow")


if __name__ == "__main__":
    main()
