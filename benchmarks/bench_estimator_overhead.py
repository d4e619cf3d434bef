"""Estimator overhead: mammoclf's ``fit`` vs ``model.fit`` on the identical Keras model.

What it compares, in one process, on the same seeded random images:

- ``ScratchCNNClassifier(...).fit(X, y)`` vs a hand-written baseline that
  builds the very same network with the estimator's own builder
  (``_build_keras_model``, same seed), compiles it with the same optimizer,
  loss and metrics, and calls ``model.fit(X, y01, batch_size, epochs,
  shuffle=True)``;
- ``DenseNetTransferClassifier(weights=None, freeze_schedule="full",
  frozen_cache="off").fit(X, y)`` (head stage, then everything) vs the
  baseline doing the same two stages by hand: head layers trainable, compile,
  fit; then every layer but BatchNormalization trainable, compile with a
  tenth of the learning rate, fit. Caching is off so both sides do the same
  work; the benchmark checks that both train the same number of weights.

The baseline passes no sample weights (a hand-written fit would not); the
estimator always passes them, so their cost counts as overhead.

A third comparison isolates how cached activations are fed: the
``"frozen"`` preset's head stage with ``frozen_cache="disk"`` (activations in
memory-mapped files, streamed batch by batch through a
``keras.utils.PyDataset``) vs ``frozen_cache="memory"`` (the same
activations as NumPy arrays handed to ``model.fit``), same estimator
otherwise.

Both sides are timed by the same epoch-timing callback (given to the
estimator through ``callbacks``). The first epoch of every ``model.fit`` call
traces and compiles the train step, so it is excluded from the steady-state
throughput (images per second over the median of the remaining epochs); the
end-to-end time (building, compiling and all epochs, tracing included) is
reported as well, and the throughput ratio by the process's CPU time per
epoch (less sensitive to other processes on a shared machine than wall
time; the target is judged on wall time). Each side runs ``--repeats``
times in the interleaved order A B B A ..., after one untimed warm-up fit
of each; medians are reported. Target: steady-state throughput ratio
mammoclf / baseline >= 0.95.

Run (one command, appends a row to benchmarks/RESULTS.md)::

    python benchmarks/bench_estimator_overhead.py
"""

import argparse
import functools
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import epoch_timer, interleaved, median, steady_epochs

MODELS = ("scratch", "densenet", "stream")
# "stream": the same estimator both sides, only the feed differs.
_STREAM_STORAGE = {"mammoclf": "disk", "baseline": "memory"}
_HEAD_LAYERS = ("head_dense", "head_dropout", "logits")
_LEARNING_RATE = 1e-3


def make_data(n_images, image_size, seed=0):
    """Seeded random grey images in [0, 1] and alternating string labels."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_images, image_size, image_size, 1), dtype=np.float32)
    y = np.array(["BENIGN", "MALIGNANT"])[np.arange(n_images) % 2]
    return X, y


def make_estimator(
    model,
    *,
    epochs,
    batch_size,
    precision,
    callbacks,
    head_epochs=None,
    frozen_cache=None,
):
    """The estimator of ``model``.

    For "densenet", the "full" preset with caching off, its head stage
    ``head_epochs`` long (default ``epochs``); for "stream", the "frozen"
    preset cached in ``frozen_cache`` storage.
    """
    from mammoclf import DenseNetTransferClassifier, ScratchCNNClassifier

    common = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": _LEARNING_RATE,
        "precision": precision,
        "callbacks": callbacks,
        "random_state": 0,
    }
    if model == "scratch":
        return ScratchCNNClassifier(**common)
    if model == "stream":
        return DenseNetTransferClassifier(
            weights=None, freeze_schedule="frozen", frozen_cache=frozen_cache, **common
        )
    schedule = (
        "full"
        if head_epochs is None
        else [{"unfreeze": None, "epochs": head_epochs}, {"unfreeze": "all"}]
    )
    return DenseNetTransferClassifier(
        weights=None, freeze_schedule=schedule, frozen_cache="off", **common
    )


def baseline_stages(keras, model, epochs, head_epochs=None):
    """``(which layers train, epochs, learning rate)`` of each hand-written stage.

    For DenseNet, ``head_epochs=0`` skips the head stage.
    """
    if model == "scratch":
        return [(lambda layer: True, epochs, _LEARNING_RATE)]
    head_epochs = epochs if head_epochs is None else head_epochs
    stages = [
        (lambda layer: layer.name in _HEAD_LAYERS, head_epochs, _LEARNING_RATE),
        (
            lambda layer: not isinstance(layer, keras.layers.BatchNormalization),
            epochs,
            _LEARNING_RATE / 10,
        ),
    ]
    return stages if head_epochs else stages[1:]


def fit_mammoclf(
    keras,
    model,
    X,
    y,
    *,
    epochs,
    batch_size,
    precision,
    head_epochs=None,
    frozen_cache=None,
):
    timer = epoch_timer(keras)
    estimator = make_estimator(
        model,
        epochs=epochs,
        batch_size=batch_size,
        precision=precision,
        callbacks=[timer],
        head_epochs=head_epochs,
        frozen_cache=frozen_cache,
    )
    started = time.perf_counter()
    estimator.fit(X, y)
    total = time.perf_counter() - started
    stages = getattr(estimator, "stages_", None)
    trainable = (
        [stage["n_trainable_params"] for stage in stages]
        if stages
        else [int(sum(np.prod(w.shape) for w in estimator.model_.trainable_weights))]
    )
    storage = [stage.get("frozen_cache") for stage in stages] if stages else [None]
    if frozen_cache is not None and storage != [frozen_cache]:
        raise RuntimeError(f"expected a {frozen_cache!r} cache, stages_ says {storage}")
    return {
        "total_s": total,
        "epoch_s": timer.fits,
        "cpu_epoch_s": timer.cpu_fits,
        "n_trainable": trainable,
        "storage": storage,
    }


def fit_baseline(
    keras, model, X, y, *, epochs, batch_size, precision, head_epochs=None
):
    """The hand-written Keras training of the same network."""
    from sklearn.utils import check_random_state

    from mammoclf.classifiers._base import _MAX_SEED

    timer = epoch_timer(keras)
    template = make_estimator(
        model, epochs=epochs, batch_size=batch_size, precision=precision, callbacks=None
    )
    seed = int(check_random_state(template.random_state).randint(_MAX_SEED))
    y01 = (y == "MALIGNANT").astype(np.float32)[:, np.newaxis]
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        network = template._build_keras_model(keras, X.shape[1:], 1, seed)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    trainable = []
    for is_trainable, stage_epochs, learning_rate in baseline_stages(
        keras, model, epochs, head_epochs
    ):
        for layer in network.layers:
            layer.trainable = is_trainable(layer)
        trainable.append(int(sum(np.prod(w.shape) for w in network.trainable_weights)))
        network.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            metrics=[
                keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0),
                keras.metrics.AUC(name="auc", from_logits=True),
            ],
        )
        network.fit(
            X,
            y01,
            batch_size=batch_size,
            epochs=stage_epochs,
            shuffle=True,
            verbose=0,
            callbacks=[timer],
        )
    total = time.perf_counter() - started
    return {
        "total_s": total,
        "epoch_s": timer.fits,
        "cpu_epoch_s": timer.cpu_fits,
        "n_trainable": trainable,
    }


def measure(
    model,
    *,
    n_images,
    image_size,
    batch_size,
    epochs,
    repeats,
    precision="float32",
    warm_up=True,
):
    """Time ``model`` ("scratch" or "densenet") both ways; return the medians.

    Returns a dict with, per side (``"mammoclf"``, ``"baseline"``), the
    steady-state images/s of each stage (``stage_img_s``: images over the
    median of its epochs after the first) and over one such epoch of every
    stage (``img_s``), the median end-to-end seconds (``total_s``) and the
    raw runs; and the ratios mammoclf / baseline of steady throughput
    (``ratio_stages``, ``ratio``) and of end-to-end speed (``ratio_total``).
    """
    from mammoclf.utils._keras import import_keras

    keras = import_keras()
    X, y = make_data(n_images, image_size)
    if model == "stream":
        fits = {
            side: functools.partial(fit_mammoclf, frozen_cache=storage)
            for side, storage in _STREAM_STORAGE.items()
        }
    else:
        fits = {"mammoclf": fit_mammoclf, "baseline": fit_baseline}
    if warm_up:  # loads kernels and libraries; first-use costs hit neither side
        for fit in fits.values():
            fit(
                keras,
                model,
                X[: 2 * batch_size],
                y[: 2 * batch_size],
                epochs=2,
                batch_size=batch_size,
                precision=precision,
            )
    runs = {name: [] for name in fits}
    for name in interleaved(repeats, list(fits)):
        runs[name].append(
            fits[name](
                keras,
                model,
                X,
                y,
                epochs=epochs,
                batch_size=batch_size,
                precision=precision,
            )
        )
    if runs["mammoclf"][0]["n_trainable"] != runs["baseline"][0]["n_trainable"]:
        raise RuntimeError(
            "the baseline does not train the same weights as the estimator: "
            f"{runs['baseline'][0]['n_trainable']} vs "
            f"{runs['mammoclf'][0]['n_trainable']} trainable values per stage"
        )
    result = {
        "model": model,
        "n_images": n_images,
        "image_size": image_size,
        "batch_size": batch_size,
        "epochs": epochs,
        "repeats": repeats,
        "precision": precision,
    }
    for name, side_runs in runs.items():
        n_stages = len(side_runs[0]["epoch_s"])
        stage_seconds = [
            median([s for run in side_runs for s in steady_epochs(run["epoch_s"][k])])
            for k in range(n_stages)
        ]
        stage_cpu_seconds = [
            median(
                [s for run in side_runs for s in steady_epochs(run["cpu_epoch_s"][k])]
            )
            for k in range(n_stages)
        ]
        result[name] = {
            "stage_img_s": [n_images / s for s in stage_seconds],
            "cpu_img_s": n_stages * n_images / sum(stage_cpu_seconds),
            # One steady epoch of every stage: stages differ in speed, so
            # their epochs are not pooled into one median.
            "img_s": n_stages * n_images / sum(stage_seconds),
            "total_s": median([run["total_s"] for run in side_runs]),
            "runs": side_runs,
            "n_trainable": side_runs[0]["n_trainable"],
        }
    ours, base = result["mammoclf"], result["baseline"]
    result["ratio"] = ours["img_s"] / base["img_s"]
    result["ratio_cpu"] = ours["cpu_img_s"] / base["cpu_img_s"]
    result["ratio_stages"] = [
        a / b for a, b in zip(ours["stage_img_s"], base["stage_img_s"])
    ]
    result["ratio_total"] = base["total_s"] / ours["total_s"]
    return result


def describe(result):
    """One human-readable sentence of a :func:`measure` result."""
    ours, base = result["mammoclf"], result["baseline"]
    if result["model"] == "stream":
        return (
            f'disk-cache streaming: DenseNetTransferClassifier("frozen") head stage '
            f"at {result['image_size']} px, {result['n_images']} images, batch "
            f"{result['batch_size']}, {result['epochs']} epochs, median of "
            f"{result['repeats']}, epochs after the first: fed from in-memory "
            f'activations (frozen_cache="memory", NumPy arrays to model.fit) '
            f"{base['img_s']:.0f} img/s vs streamed from memory-mapped files "
            f'(frozen_cache="disk", a keras.utils.PyDataset) {ours["img_s"]:.0f} '
            f"img/s, ratio x{result['ratio']:.3f} (by process CPU time "
            f"x{result['ratio_cpu']:.3f})"
        )
    if result["model"] == "scratch":
        what = "ScratchCNNClassifier (default architecture)"
        stages = ""
    else:
        what = 'DenseNetTransferClassifier(densenet121, "full", frozen_cache="off")'
        stages = (
            " (model.fit vs mammoclf per stage: "
            + ", ".join(
                f"{stage} {b:.1f} vs {a:.1f} img/s x{r:.2f}"
                for stage, a, b, r in zip(
                    ("head", "all layers"),
                    ours["stage_img_s"],
                    base["stage_img_s"],
                    result["ratio_stages"],
                )
            )
            + ")"
        )
    return (
        f"{what} at {result['image_size']} px, {result['n_images']} images, batch "
        f"{result['batch_size']}, {result['epochs']} epochs per stage, "
        f"{result['precision']}, median of {result['repeats']}: steady state (first "
        f"epoch of each fit excluded) model.fit {base['img_s']:.1f} img/s vs mammoclf "
        f"{ours['img_s']:.1f} img/s, ratio x{result['ratio']:.3f}{stages}; by process "
        f"CPU time x{result['ratio_cpu']:.3f}; end to end "
        f"(build + tracing + all epochs) {base['total_s']:.1f} s vs "
        f"{ours['total_s']:.1f} s, ratio x{result['ratio_total']:.3f}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default="scratch,densenet,stream",
        help="comma-separated, from: " + ", ".join(MODELS),
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--epochs",
        type=int,
        default=4,
        help="epochs per stage; the first of each is excluded",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--scratch-images", type=int, default=512)
    parser.add_argument("--scratch-size", type=int, default=64)
    parser.add_argument("--densenet-images", type=int, default=128)
    parser.add_argument("--densenet-size", type=int, default=64)
    parser.add_argument("--stream-images", type=int, default=1024)
    parser.add_argument("--stream-size", type=int, default=32)
    parser.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "mixed_bfloat16", "mixed_float16"),
    )
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="print the results without appending to RESULTS.md",
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    sentences = []
    for model in args.models.split(","):
        if model not in MODELS:
            parser.error(f"unknown model {model!r}; choose from {MODELS}")
        result = measure(
            model,
            n_images=getattr(args, f"{model}_images"),
            image_size=getattr(args, f"{model}_size"),
            batch_size=args.batch_size,
            epochs=args.epochs,
            repeats=args.repeats,
            precision=args.precision,
        )
        sentences.append(describe(result))
        print(sentences[-1], flush=True)
    if args.no_record:
        return
    from _results import append_row

    append_row("estimator overhead", "; ".join(sentences))


if __name__ == "__main__":
    main()
