"""Study-wide activation store: whole studies with and without sharing frozen activations.

Three studies on the same 256 seeded synthetic images at 128 px (two images
per patient, 5 patient-grouped stratified folds), each run end to end twice
in one process: once with today's per-fit frozen-prefix caching, once inside
one :func:`mammoclf.classifiers.shared_activation_store` (``compare_models``
opens it itself; ``share_activations=False`` is the per-fit baseline):

A. ``GridSearchCV`` of the ``"frozen"`` preset over ``dropout`` x
   ``dense_units`` (6 candidates x 5 folds + the refit). Target: >= 4x.
B. ``compare_models`` of the ``"frozen"`` and ``"partial"`` presets
   (10 fits). Target: >= 1.4x.
C. ``GridSearchCV`` over ``freeze_schedule=["frozen", "conv5", "conv4"]``
   (15 fits + the refit). The ratio is reported.

For each run it counts the forward passes from the images through the
frozen backbone, per image and per cut (the activation cache's passes, the
store's passes, and predictions through the whole network): with the store
at most one per distinct cut. It also checks that both runs give the same
scores. ``weights=None``: the arithmetic, and so the time, does not depend
on the weight values, and this machine cannot download ImageNet weights.

``--processes`` adds the comparison of the two ways fits in other processes
(joblib ``loky``, 2 workers) can share: a disk store that the workers fill
as they go (what ``compare_models`` does), against a precompute of every
image's activations in the parent, written to the same kind of store for
the workers to read (the "scatter" is the shared directory), on the
``"frozen"`` preset over 5 folds.

Run (one command, appends one row per case to benchmarks/RESULTS.md)::

    python benchmarks/bench_study_cache.py
"""

import argparse
import collections
import contextlib
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CASES = ("A", "B", "C")


def make_data(n_images, image_size, seed=0):
    """Random images, a bright square on the malignant ones, two per patient."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_images, image_size, image_size, 1), dtype=np.float32) * 0.5
    y = np.array(["BENIGN", "MALIGNANT"])[np.arange(n_images) % 2]
    square = slice(image_size // 3, image_size // 3 + image_size // 8)
    X[y == "MALIGNANT", square, square] += 0.5
    groups = np.arange(n_images) // 2
    return X, y, groups


def make_folds(y, groups, n_folds=5):
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_folds, shuffle=True, random_state=0)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def estimator(freeze_schedule, *, epochs, batch_size):
    from mammoclf import DenseNetTransferClassifier

    return DenseNetTransferClassifier(
        weights=None,
        freeze_schedule=freeze_schedule,
        epochs=epochs,
        batch_size=batch_size,
        random_state=0,
    )


class PassCounter:
    """Images sent through the frozen backbone from the input, by cut.

    Patches the three places a DenseNet runs its backbone on images: the
    per-fit activation cache, the shared store, and predictions through the
    whole network (which run every cut). Counts rows whose input has the
    images' shape; passes from a stored cut to a deeper one are not counted.
    """

    def __init__(self, image_shape, cut_names):
        self.image_shape = tuple(image_shape)
        self.cut_names = cut_names  # activation shape -> cut name
        self.rows = collections.Counter()

    @contextlib.contextmanager
    def counting(self):
        from mammoclf.classifiers import (
            BACKBONES,
            DenseNetTransferClassifier,
            _activation_store,
            _frozen_features,
        )
        from mammoclf.classifiers._transfer_sharing import deepest_untrained_cut

        def wrap(original):
            def counted(keras, submodel, source, out, batch_size):
                if tuple(source.shape[1:]) == self.image_shape:
                    name = self.cut_names.get(tuple(out.shape[1:]), str(out.shape))
                    self.rows[name] += source.shape[0]
                return original(keras, submodel, source, out, batch_size)

            return counted

        forward = DenseNetTransferClassifier._forward

        def counted_forward(estimator, keras, model, X):
            store = estimator._activation_store()
            stages = getattr(estimator, "stages_", ())
            if (
                store is None
                or deepest_untrained_cut(stages, BACKBONES[estimator.backbone]) is None
            ):
                self.rows["whole network (predict)"] += X.shape[0]
            return forward(estimator, keras, model, X)

        patches = [
            (_frozen_features, "_forward_in_batches"),
            (_activation_store, "forward_in_batches"),
        ]
        saved = [getattr(module, name) for module, name in patches]
        try:
            for module, name in patches:
                setattr(module, name, wrap(getattr(module, name)))
            DenseNetTransferClassifier._forward = counted_forward
            yield self
        finally:
            for (module, name), original in zip(patches, saved):
                setattr(module, name, original)
            DenseNetTransferClassifier._forward = forward

    def per_image(self, n_images):
        return {name: rows / n_images for name, rows in sorted(self.rows.items())}


def cut_shapes(image_size):
    """Activation shape -> cut name, for DenseNet121 at ``image_size``."""
    return {
        (1024,): "head",
        (image_size // 16, image_size // 16, 512): "conv5",
        (image_size // 8, image_size // 8, 256): "conv4",
    }


def run_search(grid, X, y, groups, folds, *, shared, epochs, batch_size):
    from sklearn.model_selection import GridSearchCV

    from mammoclf.classifiers import shared_activation_store

    search = GridSearchCV(
        estimator("frozen", epochs=epochs, batch_size=batch_size),
        grid,
        scoring="roc_auc",
        cv=folds,
    )
    with shared_activation_store() if shared else contextlib.nullcontext():
        search.fit(X, y, groups=groups)
    return {
        "scores": np.asarray(search.cv_results_["mean_test_score"]),
        "mean_fit_time": float(np.mean(search.cv_results_["mean_fit_time"])),
        "mean_score_time": float(np.mean(search.cv_results_["mean_score_time"])),
    }


def run_compare(X, y, groups, folds, *, shared, epochs, batch_size):
    from mammoclf.model_selection import compare_models

    models = {
        name: estimator(name, epochs=epochs, batch_size=batch_size)
        for name in ("frozen", "partial")
    }
    result = compare_models(
        models,
        X,
        y,
        groups=groups,
        cv=folds,
        measure_memory=False,
        share_activations=shared,
    )
    return {
        "scores": np.concatenate([result.y_score[name][0] for name in models]),
        "mean_fit_time": float(result.compute["fit_time"].mean()),
        "mean_score_time": float(result.compute["predict_time"].mean()),
    }


def measure(case, X, y, groups, folds, *, epochs, batch_size):
    """Run ``case`` without, then with the store; times, passes, equality."""
    runs = {}
    for shared in (False, True):
        counter = PassCounter(X.shape[1:], cut_shapes(X.shape[1]))
        started = time.perf_counter()
        with counter.counting():
            if case == "A":
                grid = {"dropout": [0.0, 0.2, 0.5], "dense_units": [64, 256]}
                out = run_search(
                    grid, X, y, groups, folds, shared=shared, epochs=epochs,
                    batch_size=batch_size,
                )  # fmt: skip
            elif case == "B":
                out = run_compare(
                    X, y, groups, folds, shared=shared, epochs=epochs,
                    batch_size=batch_size,
                )  # fmt: skip
            else:
                grid = {"freeze_schedule": ["frozen", "conv5", "conv4"]}
                out = run_search(
                    grid, X, y, groups, folds, shared=shared, epochs=epochs,
                    batch_size=batch_size,
                )  # fmt: skip
        out["seconds"] = time.perf_counter() - started
        out["passes"] = counter.per_image(X.shape[0])
        runs["store" if shared else "per-fit"] = out
        print(f"case {case} {'store' if shared else 'per-fit'}: {out}", flush=True)
    runs["ratio"] = runs["per-fit"]["seconds"] / runs["store"]["seconds"]
    runs["max_score_difference"] = float(
        np.max(np.abs(runs["store"]["scores"] - runs["per-fit"]["scores"]))
    )
    return runs


DESCRIPTIONS = {
    "A": 'GridSearchCV of the "frozen" preset over dropout x dense_units '
    "(6 candidates x 5 folds + refit; target >= 4x)",
    "B": 'compare_models of the "frozen" and "partial" presets (10 fits; '
    "target >= 1.4x)",
    "C": 'GridSearchCV over freeze_schedule ["frozen", "conv5", "conv4"] '
    "(3 candidates x 5 folds + refit)",
}


def describe(case, runs, *, n_images, image_size, epochs, batch_size):
    def passes(run):
        return ", ".join(f"{k} {v:.2f}" for k, v in run["passes"].items())

    base, store = runs["per-fit"], runs["store"]
    time_label = "mean fit / predict" if case == "B" else "mean fit / score"
    return (
        f"{DESCRIPTIONS[case]}; DenseNet121 weights=None, {n_images} images at "
        f"{image_size} px, 2 per patient, 5 patient-grouped folds, "
        f"{epochs} epochs per stage, batch {batch_size}: per-fit caching "
        f"{base['seconds']:.0f} s, shared store {store['seconds']:.0f} s, "
        f"x{runs['ratio']:.2f}; {time_label} time per fit "
        f"{base['mean_fit_time']:.1f} / {base['mean_score_time']:.1f} s vs "
        f"{store['mean_fit_time']:.1f} / {store['mean_score_time']:.1f} s; "
        f"backbone passes from the images per image, per-fit: {passes(base)}; "
        f"store: {passes(store)}; largest score difference "
        f"{runs['max_score_difference']:.1e}"
    )


def measure_processes(X, y, groups, folds, *, epochs, batch_size):
    """Lazy shared disk store vs a precompute in the parent, loky, 2 workers."""
    import tempfile

    import joblib
    from sklearn.base import clone

    from mammoclf.classifiers import shared_activation_store
    from mammoclf.model_selection import compare_models

    model = estimator("frozen", epochs=epochs, batch_size=batch_size)
    seconds = {}
    for mode in ("lazy", "precompute"):
        started = time.perf_counter()
        with (
            tempfile.TemporaryDirectory(prefix="bench-store-") as directory,
            shared_activation_store(directory),
            joblib.parallel_backend("loky", n_jobs=2),
        ):
            if mode == "precompute":
                # One fit on every image (1 epoch) computes each activation once.
                clone(model).set_params(epochs=1).fit(X, y)
            compare_models(
                {"frozen": model}, X, y, groups=groups, cv=folds, measure_memory=False
            )
        seconds[mode] = time.perf_counter() - started
        print(f"processes {mode}: {seconds[mode]:.1f} s", flush=True)
    return (
        f'compare_models of the "frozen" preset, 5 folds, joblib loky with 2 '
        f"workers, {X.shape[0]} images at {X.shape[1]} px, {epochs} epochs: a "
        f"shared disk store the workers fill as they go {seconds['lazy']:.0f} s; "
        f"precomputing every activation in the parent first, then the workers "
        f"read {seconds['precompute']:.0f} s (x{seconds['precompute'] / seconds['lazy']:.2f})"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="A,B,C", help='"" for none')
    parser.add_argument("--n-images", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--processes", action="store_true")
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="print the results without appending to RESULTS.md",
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    X, y, groups = make_data(args.n_images, args.image_size)
    folds = make_folds(y, groups)
    sizes = {"epochs": args.epochs, "batch_size": args.batch_size}
    from _results import append_row

    for case in filter(None, args.cases.split(",")):
        if case not in CASES:
            parser.error(f"unknown case {case!r}; choose from {CASES}")
        runs = measure(case, X, y, groups, folds, **sizes)
        sentence = describe(
            case, runs, n_images=args.n_images, image_size=args.image_size, **sizes
        )
        print(sentence, flush=True)
        if not args.no_record:
            append_row("study cache", sentence)
    if args.processes:
        sentence = measure_processes(X, y, groups, folds, **sizes)
        print(sentence, flush=True)
        if not args.no_record:
            append_row("study cache", sentence)


if __name__ == "__main__":
    main()
