"""``mammoclf compare``: the study's three-model comparison, evaluated honestly."""

import contextlib
import platform
import re
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mammoclf._version import __version__
from mammoclf.cli._common import UsageError, import_keras_quietly, read_salt
from mammoclf.cli._data import load_images, resolve_data
from mammoclf.cli._evaluation_data import official_split, source_metadata
from mammoclf.cli._models import (
    build_models,
    check_image_size,
    check_weights_argument,
    resolve_weights,
    selected_models,
    transfer_backbones,
    weights_label,
)
from mammoclf.cli._resume import (
    FIT_CACHE,
    open_fit_cache,
    restore_fit_times,
    valid_fits,
)
from mammoclf.cli._sections import write_comparison_report
from mammoclf.storage import (
    LOCK_FILE,
    TEMPORARY_SUFFIX,
    RunFolderLock,
    RunFolderLockedError,
    recover_swap,
    swap_in,
)

__all__ = ["locked_run_folder", "report_staging", "run_compare", "swap_report"]


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
    """Each distinct warning once, in words, with its count.

    Library deprecation notices are left out. An undefined metric (PPV of a
    fold without positive predictions, ...) is said once per metric as what
    it means for the tables, not as scikit-learn's advice to set
    ``zero_division``, which a command-line user cannot; numpy's numerical
    warnings are summed up in one line.
    """
    counts = {}
    for item in caught:
        if issubclass(item.category, (DeprecationWarning, PendingDeprecationWarning)):
            continue
        text = _warning_in_words(item)
        counts[text] = counts.get(text, 0) + 1
    return [
        text.replace("{n}", str(n))
        if "{n}" in text
        else (f"{text} (x{n})" if n > 1 else text)
        for text, n in counts.items()
    ]


# numpy's floating-point and empty-input warnings (mammoclf's own
# RuntimeWarnings are sentences and are shown as they are).
_NUMPY_NUMERICAL = re.compile(
    r"encountered in|Degrees of freedom <= 0|Mean of empty slice|Precision loss"
)


def _warning_in_words(item):
    message = " ".join(str(item.message).split())
    if item.category.__name__ == "UndefinedMetricWarning":
        what, _, rest = message.partition("; returning ")
        value = rest.split(". ")[0] if rest else "0.0"
        return (
            f"{what} in {{n}} split score(s) of the cross-validation; those scores "
            f"count as {value} in Table 1."
        )
    if issubclass(item.category, RuntimeWarning) and _NUMPY_NUMERICAL.search(message):
        return (
            "{n} numerical warning(s) from numpy/scipy (such as a test of folds with "
            "identical scores): the statistics they concern are undefined on these "
            "data and shown as NaN or left empty."
        )
    return f"{item.category.__name__}: {message}"


@dataclass(frozen=True)
class _Settings:
    """The checked command line of one run: everything decided before writing."""

    specs: list
    synthetic: bool
    image_size: int
    epochs: dict
    n_folds: int
    out_dir: Path
    salt: str | None


def _check_arguments(args):
    """Check every argument, and the output folder, without writing anything."""
    specs = selected_models(args.models)
    synthetic = not (args.cbis_ddsm or args.csv)
    image_size = args.image_size or (64 if synthetic else 224)
    check_image_size(image_size, specs)
    check_weights_argument(args.weights, specs)
    out_dir = Path(args.out)
    _check_output_folder(out_dir)
    return _Settings(
        specs=specs,
        synthetic=synthetic,
        image_size=image_size,
        # A CNN from scratch needs many more epochs than a pretrained head.
        # The demo's: with one augmented copy of each image, 10 epochs are the
        # ~200 gradient steps after which the CNN tells the synthetic lesion
        # shapes apart (cross-validated AUC 0.99); the DenseNet rows, random
        # without ImageNet, get 2 per stage to keep the demo short.
        epochs={
            "scratch": args.epochs or (10 if synthetic else 50),
            "densenet": args.epochs or (2 if synthetic else 15),
        },
        n_folds=args.cv or (3 if synthetic else 5),
        out_dir=out_dir,
        salt=read_salt(args.salt_file),
    )


def _run(args, caught):
    log = _Log(args.quiet)
    settings = _check_arguments(args)
    # Real data are read and checked before anything is written; synthetic
    # data are generated into the report folder, so they come after it.
    source = None if settings.synthetic else resolve_data(args, settings, None, log)
    import_keras_quietly()
    weights, banner = resolve_weights(
        args.weights,
        synthetic=settings.synthetic,
        log=log,
        needed=transfer_backbones(settings.specs),
    )
    out_dir = settings.out_dir
    with locked_run_folder(out_dir, log):
        cache = _prepare_output(out_dir, log)
        try:
            if source is None:
                source = resolve_data(args, settings, out_dir, log)
            run = _Run(args, settings, source, weights, banner, out_dir, log)
            summary = _compare_and_report(run, cache, caught)
        except BaseException:
            saved = valid_fits(out_dir)
            if saved:
                log(
                    f"stopped; the same command resumes from the {saved} fit(s) "
                    f"saved in {out_dir / FIT_CACHE}"
                )
            raise
        shutil.rmtree(cache, ignore_errors=True)
    if not args.quiet:
        print(summary.to_text() if args.verbose else summary.to_brief_text())
        if banner:
            print(f"\n{_note(banner)}")
        print(f"\nreport: {out_dir / 'report.md'} (and report.html)")


@dataclass(frozen=True)
class _Run:
    """What the steps after the checks share: settings, data, weights, folder, log."""

    args: object
    settings: _Settings
    source: object
    weights: object
    banner: str | None
    out_dir: Path
    log: object

    @property
    def staging(self):
        """Where the new report is built before it replaces the previous one."""
        return report_staging(self.out_dir)


@contextlib.contextmanager
def locked_run_folder(out_dir, log):
    """Hold the lock of ``out_dir``; a live run's lock is a one-line UsageError."""
    lock = RunFolderLock(out_dir)
    try:
        lock.__enter__()
    except RunFolderLockedError as exc:
        raise UsageError(f"--out: {exc}") from None
    try:
        if lock.taken_over:
            log(
                f"note: took over the lock of an earlier run (process "
                f"{lock.taken_over.get('pid', '?')}) that no longer runs"
            )
        yield
    finally:
        lock.__exit__(None, None, None)


def _compare_and_report(run, cache, caught):
    """Cross-validate, refit, and write the report and ``run.json``; returns the summary.

    The report is built in a staging folder beside the previous one and
    swapped in only once it is complete (:func:`mammoclf.storage.swap_in`).
    """
    args, settings = run.args, run.settings
    images = load_images(
        run.source.paths,
        settings.image_size,
        cache_dir=run.source.cache_dir,
        n_jobs=args.decode_jobs,
        memory_limit=args.memory_limit,
        log=run.log,
        quiet=args.quiet,
    )
    models = build_models(
        settings.specs,
        epochs=settings.epochs,
        batch_size=args.batch_size,
        weights=run.weights,
        random_state=args.random_state,
        cache_dir=cache,
    )
    source = run.source
    metadata, subgroups = source_metadata(args, source)
    development, test = _development_and_test(args, source, metadata, run.log)
    result, cv_seconds = _cross_validate(
        args, settings, models, images, source, run.log, development, metadata
    )
    result, final_models, source, images = _final_models(
        run, models, images, result, development, test, metadata
    )
    run.log("writing report ...")
    run_info = _run_info(args, settings, run.weights, cv_seconds, result)
    summary = write_comparison_report(
        run.staging,
        result=result,
        source=source,
        specs=settings.specs,
        banner=run.banner,
        run_info=run_info,
        final_models=final_models,
        images=images,
        log=run.log,
        warnings_so_far=_distinct_warnings(caught),
        n_resamples=args.n_resamples,
        breast_level=None if args.breast_level == "none" else args.breast_level,
        subgroups=subgroups,
    )
    swap_report(run.out_dir)
    return summary


def report_staging(out_dir):
    """The folder the new report of ``out_dir`` is built in (see :func:`swap_report`)."""
    return Path(out_dir) / _STAGING


def swap_report(out_dir):
    """Replace the report in ``out_dir`` by the complete one built in its staging folder."""
    swap_in(out_dir, report_staging(out_dir), Path(out_dir) / _BACKUP, _REPORT_FILES)


def _final_models(run, models, images, result, development, test, metadata):
    """Refit and save the final models: on the development set, tested once on
    the official test split when there is one, else on all images (unless
    ``--no-refit``). Returns the result (with the test set's predictions),
    the saved models, and the images and source the report shows."""
    source, settings = run.source, run.settings
    if test is not None:
        holdout = _official_test(models, images, source, metadata, test, run.log)
        final_models = _save_models(
            holdout.estimators,
            settings.specs,
            images,
            source,
            development,
            settings.image_size,
            run.staging,
        )
        # The report's per-image tables and Grad-CAM show the cross-validated images.
        return (
            result.with_holdout(holdout),
            final_models,
            _subset(source, development),
            images[development],
        )
    final_models = {}
    if not run.args.no_refit:
        final_models = _refit_and_save(
            models,
            settings.specs,
            images,
            source,
            settings.image_size,
            run.staging,
            run.log,
        )
    return result, final_models, source, images


def _note(banner):
    """The banner's first sentence, for the end of the console output."""
    return f"NOTE: {banner.split('. ')[0].rstrip('.')}."


def _cross_validate(args, settings, models, images, source, log, development, metadata):
    """Run ``compare_models`` on the study's folds; returns the result and its seconds.

    Only the ``development`` images are cross-validated (all of them, or the
    official train split).
    """
    from sklearn.model_selection import StratifiedGroupKFold

    from mammoclf.model_selection import compare_models

    log(
        f"cross-validating {len(models)} models on {settings.n_folds} patient-grouped "
        f"folds{f' x {args.repeats} repeats' if args.repeats > 1 else ''}"
        f"{' of the official train split' if not development.all() else ''} ..."
    )
    started = time.perf_counter()
    result = compare_models(
        models,
        images[development],
        source.labels[development],
        groups=source.groups[development],
        cv=StratifiedGroupKFold(
            n_splits=settings.n_folds, shuffle=True, random_state=args.random_state
        ),
        n_repeats=args.repeats,
        random_state=args.random_state,
        return_estimators=True,
        n_jobs=args.n_jobs,
        verbose=0 if args.quiet else 1,
        metadata=None if metadata is None else metadata[development],
    )
    cv_seconds = time.perf_counter() - started
    result = restore_fit_times(result)  # Table 2: a loaded fit's original fit time
    resumed = _resumed_fits(result)
    log(
        f"cross-validation done in {cv_seconds:.0f} s"
        + (f" ({resumed} fits loaded from the interrupted run)" if resumed else "")
    )
    return result, cv_seconds


def _resumed_fits(result):
    return sum(
        bool(getattr(estimator, "resumed_", False))
        for fitted in result.estimators.values()
        for estimator in fitted
    )


def _run_info(args, settings, weights, cv_seconds, result):
    """Settings, versions and environment of the run, as ``run.json`` records them."""
    return {
        "command": " ".join(["mammoclf", *sys.argv[1:]])
        if sys.argv
        else "mammoclf compare",
        "mammoclf": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "random_state": args.random_state,
        "image_size": settings.image_size,
        "epochs_cnn": settings.epochs["scratch"],
        "epochs_per_densenet_stage": settings.epochs["densenet"],
        "batch_size": args.batch_size,
        "folds": settings.n_folds,
        "repeats": args.repeats,
        "weights": weights_label(weights),
        "cross_validation_seconds": round(cv_seconds, 1),
        "fits_resumed_from_an_interrupted_run": _resumed_fits(result),
        "official_test_split": bool(args.official_test_split),
        "breast_level": args.breast_level,
        "bootstrap_resamples": args.n_resamples,
        "identifiers": "revealed" if args.reveal_identifiers else "pseudonymised",
        **_environment(),
    }


# What a report consists of: a finished run swaps exactly these in at once.
_REPORT_FILES = ("report.md", "report.html", "run.json", "figures", "tables", "models")
# The new report while it is built, and the previous one during the swap.
_STAGING = ".report-next"
_BACKUP = ".report-previous"
# Everything a run folder may hold: a rerun replaces the report, reuses
# unchanged synthetic data and resumes from the fits in FIT_CACHE.
_REPORT_ENTRIES = (
    *_REPORT_FILES,
    "synthetic-data",
    FIT_CACHE,
    LOCK_FILE,
    _STAGING,
    _BACKUP,
)


def _is_ours(name):
    # Also the temporary files of an atomic write cut short by a hard kill.
    return name in _REPORT_ENTRIES or name.endswith(TEMPORARY_SUFFIX)


def _check_output_folder(out_dir):
    """Refuse an ``--out`` that is a file, or a folder holding anything but a mammoclf run.

    A previous report (with ``run.json``) or an unfinished run (with
    ``fit-cache/``, or the staging folder of a stopped ``evaluate``) may be
    replaced; anything else is refused rather than
    mixed into or overwritten.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out: {out_dir} exists and is not a directory.")
    if not out_dir.is_dir():
        return
    names = {entry.name for entry in out_dir.iterdir()} - {LOCK_FILE}
    if not names:
        return
    foreign = sorted(name for name in names if not _is_ours(name))
    if foreign or not names & {"run.json", FIT_CACHE, _STAGING, _BACKUP}:
        raise UsageError(
            f"--out: {out_dir} is not empty and is not a previous mammoclf report "
            f"({', '.join(foreign[:3]) or 'no run.json'}); choose a new --out folder."
        )


def _prepare_output(out_dir, log, *, fit_cache=True):
    """Create the report folder, its fit cache and the staging folder of the new report.

    Called with the folder's lock held. A report swap that a killed run cut
    short is finished or undone first, so the folder holds one complete
    report. The previous report stays until the new one replaces it; the
    finished fits of an unfinished run are kept: the run resumes from them.
    The fit cache is made first, so that a run stopped at any moment leaves
    a folder the next run recognises as its own. A command that fits nothing
    (``evaluate``) passes ``fit_cache=False``: its staging folder is then
    what marks the folder as a mammoclf run's.

    Returns
    -------
    cache : Path or None
        The fit cache, ``out_dir / "fit-cache"``; None with ``fit_cache=False``.
    """
    _check_output_folder(out_dir)  # again: the folder may have changed meanwhile
    recover_swap(out_dir, out_dir / _STAGING, out_dir / _BACKUP)
    previous = any(entry.name != LOCK_FILE for entry in out_dir.iterdir())
    if previous:
        log(
            f"resuming the unfinished run in {out_dir}"
            if (out_dir / FIT_CACHE).is_dir()
            else f"rerunning into {out_dir}: the previous report stays until the "
            "new one is complete"
        )
    cache = open_fit_cache(out_dir) if fit_cache else None
    for entry in out_dir.iterdir():
        # Leftover temporary files only: the demo data are reused if unchanged
        # (see cli/_data.py) and the previous report stays until the swap.
        if entry.name.endswith(TEMPORARY_SUFFIX):
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    (out_dir / _STAGING).mkdir()
    return cache


def _development_and_test(args, source, metadata, log):
    """Which images are cross-validated, and which (if any) form the held-out test set."""
    everything = np.ones(len(source.paths), dtype=bool)
    if not args.official_test_split:
        return everything, None
    train, test = official_split(metadata, source.groups)
    log(
        f"official split: cross-validation on {train.sum()} train images, "
        f"{test.sum()} test images held out until the end"
    )
    return train, test


def _official_test(models, images, source, metadata, test, log):
    """Refit every model on the whole train split, evaluate once on the test split."""
    from mammoclf.model_selection import evaluate_holdout

    train = ~test
    log(f"refitting {len(models)} models on the train split, testing on the test split")
    return evaluate_holdout(
        models,
        images[train],
        source.labels[train],
        images[test],
        source.labels[test],
        groups_train=source.groups[train],
        groups_test=source.groups[test],
        metadata_test=None if metadata is None else metadata[test],
    )


def _subset(source, mask):
    return replace(
        source,
        paths=source.paths[mask],
        labels=source.labels[mask],
        groups=source.groups[mask],
        patients=source.patients[mask],
        metadata=None,
    )


def _refit_and_save(models, specs, images, source, image_size, out_dir, log):
    """Refit each model on all images and save it as a file-to-prediction pipeline."""
    from sklearn.base import clone

    from mammoclf.utils._routing import fit_with_groups

    fitted = {}
    for spec in specs:
        log(f"refitting {spec.name} on all {len(images)} images ...")
        fitted[spec.name] = fit_with_groups(
            clone(models[spec.name]), images, source.labels, source.groups
        )
    everything = np.ones(len(images), dtype=bool)
    return _save_models(fitted, specs, images, source, everything, image_size, out_dir)


def _save_models(fitted, specs, images, source, trained_on, image_size, out_dir):
    """Save each fitted model as a file-to-prediction pipeline with its development record."""
    from mammoclf import DicomLoader, Resizer
    from mammoclf.cli._development import build_development_record
    from mammoclf.cli._overlap import development_fingerprint
    from mammoclf.evaluation import training_details
    from mammoclf.persistence import save
    from mammoclf.pipeline import Pipeline

    fingerprint = development_fingerprint(
        source.paths[trained_on], source.identifiers[trained_on]
    )
    saved = {}
    for spec in specs:
        classifier = fitted[spec.name].steps[-1][1]
        pipeline = Pipeline(
            [
                ("load", DicomLoader().fit(source.paths[:1])),
                ("resize", Resizer(size=image_size).fit(images[:1])),
                ("classify", classifier),
            ]
        )
        record = build_development_record(
            pipeline,
            labels=source.labels[trained_on],
            groups=source.groups[trained_on],
            image_size=image_size,
            description=source.description,
            fingerprint=fingerprint,
        )
        # What the saved pipeline loses (its training-only Augmenter), for evaluate.
        record["training"] = training_details(
            {spec.name: fitted[spec.name]},
            preprocessing=[step for _, step in pipeline.steps[:2]],
        )[spec.name].to_dict()
        path = out_dir / "models" / f"{spec.key}.mammoclf"
        save(pipeline, path, development=record)
        saved[spec.name] = path.relative_to(out_dir)
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
