"""The whole study on one GPU: three models, ~3,000 synthetic mammograms, 5 folds.

Meant for one H100 with ``KERAS_BACKEND=jax`` (see benchmarks/README.md); it
also runs at toy sizes on a CPU. Steps:

1. ``make_synthetic_mammograms`` writes ``--n-images`` DICOM files of
   ``--image-size`` px, in ``--n-jobs`` parallel chunks of distinct patients
   (reported, not counted in the study time: the real study reads existing
   files);
2. *loading*: ``DicomLoader(n_jobs=--n-jobs)`` + ``Resizer(size)`` decode them;
3. *cross-validation*: ``compare_models`` on the study's three models as the
   command line builds them (``mammoclf.cli._models.build_models``: the
   study's augmentation, one extra copy of every training image, inside each
   pipeline, then the CNN from scratch, DenseNet121 frozen, DenseNet121
   partially unfrozen) with ``--cv`` patient-grouped folds, at
   ``--precision``.

The study time is steps 2 and 3 end to end. The baseline, in the same run:
the two DenseNet models again with ``frozen_cache="off"`` on the same folds.
The CNN from scratch has no frozen part and would do identical work, so it
is not run twice: the baseline total reuses its measured fit and predict
times (the row says so). DenseNets use ``weights=None`` (the device machine
cannot download ImageNet weights; the arithmetic and the time are the same).

Run (GPU machine)::

    KERAS_BACKEND=jax python benchmarks/bench_study_gpu.py
"""

import argparse
import os
import sys
import tempfile
import time
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

STUDY_MODELS = ("scratch", "frozen", "partial")


def make_study_data(n_images, image_size, *, n_jobs, directory, random_state=0):
    """Synthetic DICOMs written by parallel chunks; ``(paths, labels, groups)``.

    Each chunk is its own ``make_synthetic_mammograms`` call with its own
    seed and folder; patient ids are prefixed with the chunk, so patients
    stay distinct across chunks.
    """
    from joblib import Parallel, delayed

    from mammoclf.datasets import make_synthetic_mammograms

    # At least 2 patients (4 images) per chunk: each chunk needs both classes.
    n_chunks = max(1, min(n_jobs, n_images // 4))
    # Even chunk sizes keep every patient's CC and MLO views together.
    sizes = np.full(n_chunks, (n_images // 2) // n_chunks * 2)
    sizes[: (n_images - sizes.sum()) // 2] += 2
    sizes[-1] += n_images - sizes.sum()
    chunks = Parallel(n_jobs=n_chunks)(
        delayed(make_synthetic_mammograms)(
            int(size),
            image_size=image_size,
            random_state=random_state + chunk,
            directory=os.path.join(directory, f"chunk{chunk:02d}"),
        )
        for chunk, size in enumerate(sizes)
    )
    paths = np.concatenate([data.paths for data in chunks])
    labels = np.concatenate([data.labels for data in chunks])
    groups = np.concatenate(
        [
            np.char.add(f"C{chunk:02d}-", data.groups.astype(str))
            for chunk, data in enumerate(chunks)
        ]
    )
    return paths, labels, groups


def study_models(
    *,
    epochs_scratch,
    epochs_densenet,
    batch_size,
    precision,
    frozen_cache,
    models=STUDY_MODELS,
    random_state=0,
):
    """The command line's study pipelines, with ``precision`` and ``frozen_cache``."""
    from mammoclf.cli._models import STUDY_MODELS as SPECS
    from mammoclf.cli._models import build_models

    specs = [spec for spec in SPECS if spec.key in models]
    pipelines = build_models(
        specs,
        epochs={"scratch": epochs_scratch, "densenet": epochs_densenet},
        batch_size=batch_size,
        weights=None,
        random_state=random_state,
    )
    for pipeline in pipelines.values():
        classifier = pipeline.steps[-1][1]
        classifier.set_params(precision=precision)
        if "frozen_cache" in classifier.get_params():
            classifier.set_params(frozen_cache=frozen_cache)
    return pipelines


def run_study(X, labels, groups, *, cv, pipelines, verbose=0):
    """``compare_models`` over ``pipelines``, model by model; result and wall time.

    One ``compare_models`` call per model, all inside one shared activation
    store (so the DenseNets still share their frozen activations) and on
    the same folds (they depend on the labels, groups and ``random_state``
    only), so that the device's peak memory can be read after each model:
    ``peak_device_mb`` maps each model to the process's peak so far (JAX
    cannot reset it: a model that needs less than an earlier one shows the
    earlier peak).
    """
    import pandas as pd

    from mammoclf import compare_models
    from mammoclf.classifiers import shared_activation_store

    started = time.perf_counter()
    results, peaks = [], {}
    with shared_activation_store():
        for name, pipeline in pipelines.items():
            results.append(
                compare_models(
                    {name: pipeline},
                    X,
                    labels,
                    groups=groups,
                    cv=cv,
                    scoring=["roc_auc"],
                    random_state=0,
                    verbose=verbose,
                )
            )
            peaks[name] = peak_device_megabytes()
    seconds = time.perf_counter() - started
    merged = types.SimpleNamespace(
        compute=pd.concat([r.compute for r in results]),
        scores=pd.concat([r.scores for r in results]),
        splits=results[0].splits,
        peak_device_mb=peaks,
    )
    return merged, seconds


def peak_device_megabytes():
    """Peak memory of the first accelerator so far (MB), or None on a CPU."""
    from mammoclf.utils._keras import import_keras

    backend = import_keras().backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "cpu":
            return None
        stats = device.memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
        return None if peak is None else peak / 2**20
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        if not gpus:
            return None
        return tf.config.experimental.get_memory_info(gpus[0].name)["peak"] / 2**20
    return None


def time_per_epoch(result):
    """Mean seconds per epoch of each model (training time / epochs, per fold)."""
    grouped = result.compute["time_per_epoch"].groupby(level="model", sort=False)
    return {name: float(value) for name, value in grouped.mean().items()}


def model_seconds(result):
    """Fit + predict seconds of each model, summed over the folds."""
    compute = result.compute
    totals = (
        (compute["fit_time"] + compute["predict_time"])
        .groupby(level="model", sort=False)
        .sum()
    )
    return {name: float(seconds) for name, seconds in totals.items()}


def measure(
    *,
    n_images,
    image_size,
    cv,
    epochs_scratch,
    epochs_densenet,
    batch_size,
    precision,
    n_jobs,
    baseline=True,
    directory=None,
    verbose=0,
):
    """Generate, load and cross-validate; return timings (seconds) and AUCs."""
    from mammoclf import DicomLoader, Resizer

    owned = directory is None
    directory = directory or tempfile.mkdtemp(prefix="mammoclf-study-")
    timings = {}
    started = time.perf_counter()
    paths, labels, groups = make_study_data(
        n_images, image_size, n_jobs=n_jobs, directory=directory
    )
    timings["generate"] = time.perf_counter() - started

    started = time.perf_counter()
    X = Resizer(size=image_size).fit_transform(
        DicomLoader(n_jobs=n_jobs).transform(paths)
    )
    timings["load"] = time.perf_counter() - started

    common = {
        "epochs_scratch": epochs_scratch,
        "epochs_densenet": epochs_densenet,
        "batch_size": batch_size,
        "precision": precision,
    }
    cached, timings["study_cv"] = run_study(
        X,
        labels,
        groups,
        cv=cv,
        pipelines=study_models(frozen_cache="auto", **common),
        verbose=verbose,
    )
    result = {
        "n_images": n_images,
        "image_size": image_size,
        "cv": cv,
        "epochs_scratch": epochs_scratch,
        "epochs_densenet": epochs_densenet,
        "batch_size": batch_size,
        "precision": precision,
        "timings": timings,
        "model_seconds": model_seconds(cached),
        "time_per_epoch": time_per_epoch(cached),
        "peak_device_mb": cached.peak_device_mb,
        "roc_auc": cached.scores["roc_auc"]
        .groupby(level="model", sort=False)
        .mean()
        .to_dict(),
        "study_s": timings["load"] + timings["study_cv"],
    }
    if baseline:
        uncached, cv_seconds = run_study(
            X,
            labels,
            groups,
            cv=cv,
            pipelines=study_models(
                frozen_cache="off", models=("frozen", "partial"), **common
            ),
            verbose=verbose,
        )
        if [s.test.tolist() for s in uncached.splits] != [
            s.test.tolist() for s in cached.splits
        ]:
            raise RuntimeError("the baseline ran on other folds than the study")
        scratch_name = next(iter(result["model_seconds"]))
        scratch_seconds = result["model_seconds"][scratch_name]
        result["baseline_model_seconds"] = model_seconds(uncached)
        result["baseline_study_s"] = timings["load"] + cv_seconds + scratch_seconds
        result["ratio"] = result["baseline_study_s"] / result["study_s"]
    if owned:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)
    return result


def describe(result):
    seconds = ", ".join(
        f"{name} {s:.0f} s" for name, s in result["model_seconds"].items()
    )
    aucs = ", ".join(f"{auc:.2f}" for auc in result["roc_auc"].values())
    per_epoch = ", ".join(
        f"{name} {s:.2f} s" for name, s in result["time_per_epoch"].items()
    )
    peaks = ", ".join(
        f"{name} {'n/a' if mb is None else f'{mb:.0f} MB'}"
        for name, mb in result["peak_device_mb"].items()
    )
    timings = result["timings"]
    text = (
        f"{result['n_images']} synthetic mammograms at {result['image_size']} px, "
        f"{result['cv']} patient-grouped folds, CNN {result['epochs_scratch']} "
        f"epochs, DenseNet121 (weights=None) {result['epochs_densenet']} epochs per "
        f"stage, batch {result['batch_size']}, {result['precision']}, study "
        f"augmentation: generating the files {timings['generate']:.0f} s (not "
        f"counted); study end to end {result['study_s']:.0f} s (loading "
        f"{timings['load']:.0f} s; fits + predictions over the folds: {seconds}; "
        f"time per epoch: {per_epoch}; peak device memory after each model "
        f"(cumulative): {peaks}; mean ROC AUC {aucs})"
    )
    if "ratio" in result:
        baseline = ", ".join(
            f"{name} {s:.0f} s" for name, s in result["baseline_model_seconds"].items()
        )
        text += (
            f"; without frozen-prefix caching {result['baseline_study_s']:.0f} s "
            f"({baseline}; the CNN's time reused), x{result['ratio']:.2f}"
        )
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=3000)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument(
        "--epochs-scratch", type=int, default=30, help="the command line's default"
    )
    parser.add_argument(
        "--epochs-densenet",
        type=int,
        default=8,
        help="per stage; the command line's default",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--precision",
        default="mixed_bfloat16",
        choices=("float32", "mixed_bfloat16", "mixed_float16"),
    )
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count())
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the run without frozen-prefix caching",
    )
    parser.add_argument(
        "--results-file",
        help="append the row there, not to "
        "RESULTS.md (e.g. $OUT/RESULTS-gpu.md on the device)",
    )
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print a line per finished fit (a run cut short still shows its folds)",
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = measure(
        verbose=int(args.verbose),
        n_images=args.n_images,
        image_size=args.image_size,
        cv=args.cv,
        epochs_scratch=args.epochs_scratch,
        epochs_densenet=args.epochs_densenet,
        batch_size=args.batch_size,
        precision=args.precision,
        n_jobs=args.n_jobs,
        baseline=not args.no_baseline,
    )
    sentence = describe(result)
    print(sentence)
    if args.no_record:
        return
    from _results import append_row, machine_description
    from bench_gpu import accelerator_name

    from mammoclf.utils._keras import import_keras

    append_row(
        "gpu study",
        sentence,
        machine=f"{machine_description()}; {accelerator_name(import_keras())}",
        results_file=args.results_file,
    )


if __name__ == "__main__":
    main()
