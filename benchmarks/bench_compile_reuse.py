"""JAX compilation across fits: what the second fit of a configuration compiles.

Every mammoclf fit builds a new Keras model, and on JAX a new model means new
jitted train, predict and initialisation functions: without more, each fit
of a grid search or of a cross-validation compiles its programs again, which
for a DenseNet on a GPU can cost more than the training. JAX's persistent
compilation cache (``JAX_COMPILATION_CACHE_DIR``) keys a compiled program by
the program itself, so a later fit of the same configuration (same layers,
shapes and dtypes, any random seed) loads it instead of compiling it.

This script fits one configuration several times in one process, on the
training-set sizes of ``--fold-sizes`` (a new ``random_state`` each time),
and reports per fit: compile requests, persistent-cache hits and misses (JAX
monitoring events) and the seconds spent in XLA compilation. Run it with and
without ``--cache-dir``; it runs in a fresh process per setting (the cache is
configured before JAX compiles anything).

Run (CPU or GPU; appends a row to benchmarks/RESULTS.md)::

    KERAS_BACKEND=jax python benchmarks/bench_compile_reuse.py
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

_EVENTS = {
    "/jax/compilation_cache/compile_requests_use_cache": "requests",
    "/jax/compilation_cache/cache_hits": "hits",
    "/jax/compilation_cache/cache_misses": "misses",
}
_COMPILE_SECONDS = "/jax/core/compile/backend_compile_duration"


def fit_repeatedly(model, fold_sizes, *, image_size, epochs, batch_size, cache_dir):
    """In this process: fit ``model`` once per fold size; per-fit compile counts."""
    import jax
    from jax import monitoring

    if cache_dir:
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    counts, seconds = collections.Counter(), collections.Counter()
    monitoring.register_event_listener(
        lambda name, **kwargs: (
            counts.update([_EVENTS[name]]) if name in _EVENTS else None
        )
    )
    monitoring.register_event_duration_secs_listener(
        lambda name, duration, **kwargs: (
            seconds.update({"compile": duration}) if name == _COMPILE_SECONDS else None
        )
    )
    from mammoclf import DenseNetTransferClassifier, ScratchCNNClassifier

    rng = np.random.default_rng(0)
    n_max = max(fold_sizes)
    X = rng.random((n_max, image_size, image_size, 1), dtype=np.float32)
    y = np.arange(n_max) % 2
    fits = []
    for index, n in enumerate(fold_sizes):
        if model == "scratch":
            estimator = ScratchCNNClassifier(
                filters=(4, 8), dense_units=8, epochs=epochs, batch_size=batch_size
            )
        else:
            estimator = DenseNetTransferClassifier(
                weights=None,
                freeze_schedule="frozen",
                dense_units=8,
                epochs=epochs,
                batch_size=batch_size,
            )
        estimator.set_params(random_state=index)
        before_counts, before_seconds = counts.copy(), seconds.copy()
        started = time.perf_counter()
        estimator.fit(X[:n], y[:n]).decision_function(X[:n])
        fits.append(
            {
                "n_images": n,
                "wall_s": time.perf_counter() - started,
                "compile_s": seconds["compile"] - before_seconds["compile"],
                **{k: counts[k] - before_counts[k] for k in _EVENTS.values()},
            }
        )
    return fits


def run_child(arguments, cache_dir):
    command = [sys.executable, __file__, "--child", *arguments]
    if cache_dir:
        command += ["--cache-dir", cache_dir]
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-3000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def describe(results, *, model, fold_sizes, image_size, epochs, batch_size):
    def fits(runs):
        return "; ".join(
            f"fit {i + 1} (n={r['n_images']}): {r['misses']} compiled, {r['hits']} "
            f"loaded, XLA compile {r['compile_s']:.1f} s, wall {r['wall_s']:.1f} s"
            for i, r in enumerate(runs)
        )

    return (
        f"{model} model at {image_size} px, {epochs} epochs, batch {batch_size}, "
        f"fits on {fold_sizes} images in one process, KERAS_BACKEND=jax: with "
        f"JAX's persistent compilation cache: {fits(results['cache'])}. Without: "
        + "; ".join(
            f"fit {i + 1}: XLA compile {r['compile_s']:.1f} s, wall {r['wall_s']:.1f} s"
            for i, r in enumerate(results["no cache"])
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("scratch", "densenet"), default="scratch")
    parser.add_argument("--fold-sizes", default="96,80,96")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--cache-dir")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write the raw results there")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    fold_sizes = [int(n) for n in args.fold_sizes.split(",")]
    sizes = {
        "image_size": args.image_size,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
    }
    if args.child:
        fits = fit_repeatedly(args.model, fold_sizes, cache_dir=args.cache_dir, **sizes)
        print(json.dumps(fits))
        return
    arguments = [
        "--model",
        args.model,
        "--fold-sizes",
        args.fold_sizes,
        *(f"--{k.replace('_', '-')}={v}" for k, v in sizes.items()),
    ]
    with tempfile.TemporaryDirectory(prefix="jax-cache-") as cache_dir:
        results = {
            "no cache": run_child(arguments, None),
            "cache": run_child(arguments, cache_dir),
        }
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    sentence = describe(results, model=args.model, fold_sizes=fold_sizes, **sizes)
    print(sentence)
    if not args.no_record:
        from _results import append_row

        append_row("compile reuse", sentence, backend="jax")


if __name__ == "__main__":
    main()
