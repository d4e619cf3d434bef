"""Frozen-prefix caching: transfer fits with ``frozen_cache="auto"`` vs ``"off"``.

DenseNet121 by default; ``--backbones resnet50,efficientnetb0`` measures
:class:`~mammoclf.TransferClassifier` on other backbones, one row each.

Two comparisons, each fitting the same estimator on the same seeded random
images twice, once with caching and once without, in one process:

- the ``"frozen"`` preset (head only) over ``--epochs`` epochs, end to end:
  the wall time of ``fit`` (building, the cache pass, tracing, all epochs).
  Target: >= 5x faster with caching (>= 4x for ResNet50 and EfficientNetB0).
- the ``"partial"`` preset (head, then ``conv5`` and above), its ``conv5``
  stage: without caching, that stage's ``fit_time`` from ``stages_``; with
  caching, that stage's ``fit_time`` plus the whole cache pass of the head
  stage, because that one pass through the frozen network computes the
  activations entering ``conv5`` (and, from them, the cheap pooled features
  the head stage trains on). Target: >= 3x. The ratio with the cache pass
  charged to the head stage instead (as ``stages_`` records it) and the
  end-to-end ratio of the whole preset are reported too.

``weights=None`` (random initialisation): the arithmetic, and so the time,
does not depend on the weight values, and this machine cannot download the
ImageNet weights. Every stage lasts ``--epochs`` epochs (the estimator's
default is 10). Both sides of a comparison run ``--repeats`` times in the
interleaved order A B B A ...; medians are reported. One fit of each side is
a sample of its own tracing cost as well, which is part of "end to end".

Run (one command, appends a row to benchmarks/RESULTS.md)::

    python benchmarks/bench_frozen_cache.py
    python benchmarks/bench_frozen_cache.py --backbones resnet50,efficientnetb0 \
        --presets frozen --n-images 128 --image-size 64 --epochs 5
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved, median

PRESETS = ("frozen", "partial")


def make_data(n_images, image_size, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n_images, image_size, image_size, 1), dtype=np.float32)
    y = np.array(["BENIGN", "MALIGNANT"])[np.arange(n_images) % 2]
    return X, y


def fit_once(preset, frozen_cache, X, y, *, epochs, batch_size, backbone):
    """Fit once; return the wall time and the ``stages_`` records."""
    from mammoclf import TransferClassifier

    estimator = TransferClassifier(
        backbone=backbone,
        weights=None,
        freeze_schedule=preset,
        frozen_cache=frozen_cache,
        epochs=epochs,
        batch_size=batch_size,
        random_state=0,
    )
    started = time.perf_counter()
    estimator.fit(X, y)
    total = time.perf_counter() - started
    stages = [dict(stage) for stage in estimator.stages_]
    expected_storage = None if frozen_cache == "off" else "memory"
    if any(stage["frozen_cache"] != expected_storage for stage in stages):
        raise RuntimeError(
            f"frozen_cache={frozen_cache!r} was expected to give "
            f"{expected_storage!r} stages; stages_ says "
            f"{[stage['frozen_cache'] for stage in stages]}"
        )
    return {"total_s": total, "stages": stages}


def conv5_stage_seconds(run):
    """Seconds charged to the ``conv5`` stage of a ``"partial"`` fit.

    With caching, the activations entering ``conv5`` are computed during the
    head stage's cache pass, so that pass is charged to ``conv5`` in full.
    """
    head, conv5 = run["stages"][:2]
    return conv5["fit_time"] + head["cache_time"]


def measure(preset, *, n_images, image_size, batch_size, epochs, repeats, backbone):
    """Fit ``preset`` with and without caching; return medians and ratios."""
    X, y = make_data(n_images, image_size)
    runs = {"auto": [], "off": []}
    for frozen_cache in interleaved(repeats, ["off", "auto"]):
        runs[frozen_cache].append(
            fit_once(
                preset,
                frozen_cache,
                X,
                y,
                epochs=epochs,
                batch_size=batch_size,
                backbone=backbone,
            )
        )
    result = {
        "preset": preset,
        "n_images": n_images,
        "image_size": image_size,
        "batch_size": batch_size,
        "epochs": epochs,
        "repeats": repeats,
        "cached_total_s": median([r["total_s"] for r in runs["auto"]]),
        "uncached_total_s": median([r["total_s"] for r in runs["off"]]),
        "cache_pass_s": median([r["stages"][0]["cache_time"] for r in runs["auto"]]),
        "runs": runs,
    }
    result["ratio_total"] = result["uncached_total_s"] / result["cached_total_s"]
    if preset == "partial":
        result["cached_conv5_s"] = median(
            [conv5_stage_seconds(r) for r in runs["auto"]]
        )
        result["uncached_conv5_s"] = median(
            [r["stages"][1]["fit_time"] for r in runs["off"]]
        )
        result["ratio_conv5"] = result["uncached_conv5_s"] / result["cached_conv5_s"]
        # The other accounting, that of ``stages_``: the cache pass belongs to
        # the head stage, which ran it.
        result["cached_conv5_fit_s"] = median(
            [r["stages"][1]["fit_time"] for r in runs["auto"]]
        )
        result["ratio_conv5_fit"] = (
            result["uncached_conv5_s"] / result["cached_conv5_fit_s"]
        )
    return result


def describe(result):
    sizes = (
        f"{result['image_size']} px, {result['n_images']} images, batch "
        f"{result['batch_size']}, {result['epochs']} epochs per stage, median of "
        f"{result['repeats']}"
    )
    if result["preset"] == "frozen":
        return (
            f'"frozen" preset ({sizes}): end to end without cache '
            f"{result['uncached_total_s']:.1f} s, with cache "
            f"{result['cached_total_s']:.1f} s (cache pass "
            f"{result['cache_pass_s']:.1f} s), x{result['ratio_total']:.2f}"
        )
    return (
        f'"partial" preset ({sizes}): conv5 stage without cache '
        f"{result['uncached_conv5_s']:.1f} s, with cache "
        f"{result['cached_conv5_s']:.1f} s (incl. the {result['cache_pass_s']:.1f} s "
        f"cache pass), x{result['ratio_conv5']:.2f} (x{result['ratio_conv5_fit']:.2f} "
        f"with the cache pass charged to the head stage, as stages_ does: "
        f"{result['cached_conv5_fit_s']:.1f} s); whole preset end to end "
        f"{result['uncached_total_s']:.1f} s vs {result['cached_total_s']:.1f} s, "
        f"x{result['ratio_total']:.2f}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="frozen,partial")
    parser.add_argument(
        "--backbones",
        default="densenet121",
        help="comma-separated TransferClassifier backbones, one row each",
    )
    parser.add_argument("--n-images", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="print the results without appending to RESULTS.md",
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    for backbone in args.backbones.split(","):
        sentences = []
        for preset in args.presets.split(","):
            if preset not in PRESETS:
                parser.error(f"unknown preset {preset!r}; choose from {PRESETS}")
            result = measure(
                preset,
                n_images=args.n_images,
                image_size=args.image_size,
                batch_size=args.batch_size,
                epochs=args.epochs,
                repeats=args.repeats,
                backbone=backbone,
            )
            sentences.append(describe(result))
            print(f"{backbone}: {sentences[-1]}", flush=True)
        if not args.no_record:
            from _results import append_row

            append_row(
                "frozen cache", f"{backbone}, weights=None; " + "; ".join(sentences)
            )


if __name__ == "__main__":
    main()
