"""``mammoclf compare``: the study's three-model comparison, evaluated honestly."""

import json
import platform
import sys
import time
import warnings
from pathlib import Path

from mammoclf._version import __version__
from mammoclf.cli._data import load_images, resolve_data
from mammoclf.cli._main import UsageError, import_keras_quietly
from mammoclf.cli._models import build_models, resolve_weights, selected_models
from mammoclf.cli._sections import write_report
from mammoclf.utils._io import atomic_write

__all__ = ["run_compare"]


class _Log:
    """Timestamped progress lines on standard error (silent with --quiet)."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.started = time.perf_counter()

    def __call__(self, message):
        if not self.quiet:
            elapsed = time.perf_counter() - self.started
            print(f"[{elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)


def run_compare(args):
    """Run the comparison the parsed command line describes and write the report.

    Warnings raised on the way are collected, shown once each at the end and
    listed in the report, instead of scrolling past between progress lines.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _run(args, caught)
    distinct = _distinct_warnings(caught)
    if distinct and not args.quiet:
        print("\nwarnings during the run:", file=sys.stderr)
        for line in distinct:
            print(f"  {line}", file=sys.stderr)


def _distinct_warnings(caught):
    """Each distinct warning once, with its count; library deprecation notices left out."""
    counts = {}
    for item in caught:
        if issubclass(item.category, (DeprecationWarning, PendingDeprecationWarning)):
            continue
        text = f"{item.category.__name__}: {' '.join(str(item.message).split())}"
        counts[text] = counts.get(text, 0) + 1
    return [f"{text} (x{n})" if n > 1 else text for text, n in counts.items()]


def _run(args, caught):
    log = _Log(args.quiet)
    out_dir = _prepare_output(Path(args.out), log)
    specs = selected_models(args.models)
    synthetic = not (args.cbis_ddsm or args.csv)
    image_size = args.image_size or (64 if synthetic else 224)
    # A CNN from scratch needs many more epochs than a pretrained head.
    epochs = {
        "scratch": args.epochs or (30 if synthetic else 50),
        "densenet": args.epochs or (8 if synthetic else 15),
    }
    n_folds = args.cv or (3 if synthetic else 5)

    source = resolve_data(args, out_dir, log)
    import_keras_quietly()
    weights, banner = resolve_weights(
        args.weights,
        synthetic=source.synthetic,
        log=log,
        needed=any(spec.key != "scratch" for spec in specs),
    )
    images = load_images(
        source.paths,
        image_size,
        cache_dir=source.cache_dir,
        n_jobs=args.decode_jobs,
        memory_limit=args.memory_limit,
        log=log,
        quiet=args.quiet,
    )

    from sklearn.model_selection import StratifiedGroupKFold

    from mammoclf.model_selection import compare_models

    models = build_models(
        specs,
        epochs=epochs,
        batch_size=args.batch_size,
        weights=weights,
        random_state=args.random_state,
    )
    log(
        f"cross-validating {len(models)} models on {n_folds} patient-grouped folds"
        f"{f' x {args.repeats} repeats' if args.repeats > 1 else ''} ..."
    )
    started = time.perf_counter()
    result = compare_models(
        models,
        images,
        source.labels,
        groups=source.groups,
        cv=StratifiedGroupKFold(
            n_splits=n_folds, shuffle=True, random_state=args.random_state
        ),
        n_repeats=args.repeats,
        random_state=args.random_state,
        return_estimators=True,
        n_jobs=args.n_jobs,
        verbose=0 if args.quiet else 1,
    )
    cv_seconds = time.perf_counter() - started
    log(f"cross-validation done in {cv_seconds:.0f} s")

    final_models = {}
    if not args.no_refit:
        final_models = _refit_and_save(
            models, specs, images, source, image_size, out_dir, log
        )

    log("writing report ...")
    run_info = {
        "command": " ".join(["mammoclf", *sys.argv[1:]])
        if sys.argv
        else "mammoclf compare",
        "mammoclf": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "random_state": args.random_state,
        "image_size": image_size,
        "epochs_cnn": epochs["scratch"],
        "epochs_per_densenet_stage": epochs["densenet"],
        "batch_size": args.batch_size,
        "folds": n_folds,
        "repeats": args.repeats,
        "weights": "imagenet"
        if weights == "imagenet"
        else ("random" if weights is None else "file"),
        "cross_validation_seconds": round(cv_seconds, 1),
        "identifiers": "revealed" if args.reveal_identifiers else "pseudonymised",
        **_environment(),
    }
    summary = write_report(
        out_dir,
        result=result,
        source=source,
        specs=specs,
        banner=banner,
        run_info=run_info,
        final_models=final_models,
        images=images,
        log=log,
        warnings_so_far=_distinct_warnings(caught),
    )
    with atomic_write(out_dir / "run.json", "w") as handle:
        json.dump(run_info, handle, indent=1)
    if not args.quiet:
        print(summary.to_text())
        if banner:
            print(f"\nNOTE: {banner.split('. ')[0]}.")
        print(f"\nreport: {out_dir / 'report.md'} (and report.html)")


# Everything a report consists of: a rerun replaces exactly these.
_REPORT_ENTRIES = (
    "report.md",
    "report.html",
    "run.json",
    "figures",
    "tables",
    "models",
    "synthetic-data",
)


def _prepare_output(out_dir, log):
    """Create the report folder, or replace a previous report in it.

    A folder holding anything but a previous mammoclf report is refused
    rather than mixed into or overwritten.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out: {out_dir} exists and is not a directory.")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        foreign = sorted(
            p.name for p in out_dir.iterdir() if p.name not in _REPORT_ENTRIES
        )
        if not (out_dir / "run.json").is_file() or foreign:
            raise UsageError(
                f"--out: {out_dir} is not empty and is not a previous mammoclf report "
                f"({', '.join(foreign[:3]) or 'no run.json'}); choose a new --out folder."
            )
        log(f"replacing the previous report in {out_dir}")
        import shutil

        for name in _REPORT_ENTRIES:
            entry = out_dir / name
            if entry.is_dir():
                shutil.rmtree(entry)
            elif entry.exists():
                entry.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _refit_and_save(models, specs, images, source, image_size, out_dir, log):
    """Refit each model on all images and save it as a file-to-prediction pipeline."""
    from sklearn.base import clone

    from mammoclf import DicomLoader, Resizer
    from mammoclf.persistence import save
    from mammoclf.pipeline import Pipeline

    saved = {}
    for spec in specs:
        name = spec.name
        log(f"refitting {name} on all {len(images)} images ...")
        fitted = clone(models[name]).fit(images, source.labels)
        classifier = fitted.steps[-1][1]
        pipeline = Pipeline(
            [
                ("load", DicomLoader().fit(source.paths[:1])),
                ("resize", Resizer(size=image_size).fit(images[:1])),
                ("classify", classifier),
            ]
        )
        path = out_dir / "models" / f"{spec.key}.mammoclf"
        save(pipeline, path)
        saved[name] = path.relative_to(out_dir)
    return saved


def _environment():
    """Keras backend and accelerator, with GPU peak memory when there is one."""
    import keras

    info = {"keras": keras.__version__, "keras_backend": keras.backend.backend()}
    gpu_peak = None
    if info["keras_backend"] == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            gpu_peak = tf.config.experimental.get_memory_info(gpus[0].name)["peak"]
    elif info["keras_backend"] == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "gpu":
            gpu_peak = (device.memory_stats() or {}).get("peak_bytes_in_use")
    info["accelerator"] = "GPU" if gpu_peak is not None else "CPU only"
    info["gpu_peak_memory_mb"] = None if gpu_peak is None else round(gpu_peak / 2**20)
    return info
