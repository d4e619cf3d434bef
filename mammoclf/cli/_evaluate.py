"""``mammoclf evaluate``: a saved model on labelled data it never saw (external validation).

A model saved by ``mammoclf compare`` carries the decision threshold fixed
on its development data and a summary of those data
(:func:`mammoclf.persistence.read_development`). This command scores it on
another labelled data set (``--csv`` or ``--cbis-ddsm ROOT --split test``)
and writes the same kind of report as ``compare``, through the same summary
model (:meth:`HoldoutResult.summary
<mammoclf.model_selection.HoldoutResult.summary>`): metrics with
patient-bootstrap intervals at the stored threshold, calibration, operating
points, breast level and subgroups where the data allow, ROC curves,
confusion matrices, Grad-CAM examples and the reporting checklist.
"""

import shutil
import sys
import warnings
from pathlib import Path

import numpy as np

from mammoclf.cli._overlap import check_overlap
from mammoclf.cli._sections import identifiers_sentence, image_paths
from mammoclf.evaluation import (
    REPORT_HEADINGS,
    Predictions,
    SummaryOptions,
    bullets_section,
    checklist_section,
    environment_section,
    figures_section,
    grad_cam_section,
    localization_maps,
    localization_section,
    predictions_section,
    saved_model_explainer,
    section_links,
    summarize,
    summary_tables_section,
    write_report,
)

__all__ = [
    "evaluate_saved_models",
    "write_evaluation_report",
]


def add_evaluate_command(commands, epilog):
    """The ``evaluate`` subcommand's parser."""
    import argparse

    from mammoclf.cli._common import n_jobs_argument
    from mammoclf.cli._data import add_cache_options, add_source_options
    from mammoclf.cli._evaluation_data import add_evaluation_table_options

    evaluate = commands.add_parser(
        "evaluate",
        help="evaluate saved models on labelled data they never saw",
        description=(
            "External validation: score models saved by `compare` on labelled "
            "data (a CSV, or the CBIS-DDSM test split) and write a report with "
            "patient-bootstrap intervals, calibration, operating points at the "
            "threshold fixed on the development data, breast level, subgroups, "
            "Grad-CAM and the reporting checklist. CSV columns: path,label,patient "
            "(labels in any case, one or several images per patient), optionally "
            "laterality (L/R), mask (lesion mask file) and the columns named by "
            "--subgroup-columns."
        ),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument(
        "models", metavar="MODEL", nargs="+", help=".mammoclf files from `compare`"
    )
    add_source_options(
        evaluate.add_argument_group("data"),
        required=True,
        csv_help="CSV with columns path,label,patient[,laterality][,mask][,...]",
        split_default="test",
        split_help="CBIS-DDSM official split to evaluate on",
    )
    add_evaluation_table_options(evaluate.add_argument_group("evaluation"))
    output = evaluate.add_argument_group("output")
    output.add_argument(
        "--out",
        default="mammoclf-evaluation",
        help="report folder (default: ./mammoclf-evaluation)",
    )
    output.add_argument(
        "--decode-jobs",
        type=n_jobs_argument,
        default=-1,
        help="processes decoding images (default: -1, all cores)",
    )
    output.add_argument(
        "--reveal-identifiers",
        action="store_true",
        help="show real patient IDs instead of salted-hash pseudonyms",
    )
    output.add_argument(
        "--salt-file",
        metavar="FILE",
        help="secret key of the pseudonyms, as for `compare` (default: a new "
        "random key per run)",
    )
    output.add_argument("--quiet", action="store_true", help="no progress output")
    output.add_argument(
        "--verbose",
        action="store_true",
        help="print the whole summary (every table and note) on the console, not "
        "only Table 1 and the primary test",
    )
    evaluate.add_argument(
        "--allow-overlap",
        action="store_true",
        help="evaluate even if a model was developed on some of these images or "
        "patients (refused by default); the report then says the data are not unseen",
    )
    add_cache_options(evaluate)


def run_evaluate(args):
    """Run the evaluation the parsed command line describes and write its report."""
    from mammoclf.cli._common import UsageError
    from mammoclf.cli._compare import (
        _Log,
        _prepare_output,
        locked_run_folder,
        report_staging,
        swap_report,
    )

    log = _Log(args.quiet)
    for path in args.models:
        if not Path(path).is_file():
            raise UsageError(f"no such model file: {path}")
    out_dir = Path(args.out)
    # Shares compare's folder checks, lock and report swap; evaluate fits
    # nothing, so it makes no fit cache.
    with locked_run_folder(out_dir, log):
        _prepare_output(out_dir, log, fit_cache=False)
        staging = report_staging(out_dir)
        try:
            summary, caught = _evaluate_into(args, out_dir, staging, log)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # a refused run leaves nothing
            raise
        swap_report(out_dir)
    if not args.quiet:
        _print_outcome(summary, caught, out_dir, verbose=args.verbose)


def _evaluate_into(args, out_dir, staging, log):
    """Load the data and models, evaluate, and write the report into ``staging``."""
    from mammoclf.cli._common import import_keras_quietly
    from mammoclf.cli._data import load_images

    source = _evaluation_source(args, out_dir, log)
    import_keras_quietly()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for announced in source.warnings:  # shown at the end, as announced
            warnings.warn(announced, UserWarning, stacklevel=1)
        models, records = _load_models(args.models, log)
        independence = check_overlap(
            records,
            source.paths,
            source.identifiers,
            allow=args.allow_overlap,
            warn=lambda message: print(f"warning: {message}", file=sys.stderr),
        )
        first = next(iter(models.values()))
        images = load_images(
            source.paths,
            first.named_steps["resize"].size,
            cache_dir=source.cache_dir,
            n_jobs=args.decode_jobs,
            memory_limit=args.memory_limit,
            log=log,
            quiet=args.quiet,
        )
        result = evaluate_saved_models(models, records, source, images, log=log)
        log("writing report ...")
        summary = write_evaluation_report(
            staging,
            result=result,
            source=source,
            records=records,
            model_paths=args.models,
            images=images,
            run_info=_run_info(args, source),
            n_resamples=args.n_resamples,
            log=log,
            independence=independence,
        )
    return summary, caught


def _evaluation_source(args, out_dir, log):
    """The labelled test data the command line names, with its metadata."""
    from types import SimpleNamespace

    from mammoclf.cli._common import read_salt
    from mammoclf.cli._data import resolve_data
    from mammoclf.cli._evaluation_data import source_metadata

    # The options of compare's data resolution that evaluate does not offer.
    args.official_test_split = False
    args.random_state = 0
    args.image_size = None
    settings = SimpleNamespace(
        image_size=None, n_folds=None, salt=read_salt(args.salt_file)
    )
    source = resolve_data(args, settings, out_dir, log)
    source.metadata, source.subgroup_columns = source_metadata(args, source)
    return source


def _run_info(args, source):
    """What ``run.json`` and the report record about this run."""
    import platform

    from mammoclf._version import __version__
    from mammoclf.cli._compare import _environment

    return {
        "command": " ".join(["mammoclf", *sys.argv[1:]]),
        "mammoclf": __version__,
        "python": platform.python_version(),
        "models": list(args.models),
        "test_data": source.description,
        "breast_level": None if args.breast_level == "none" else args.breast_level,
        "bootstrap_resamples": args.n_resamples,
        "identifiers": "revealed" if args.reveal_identifiers else "pseudonymised",
        **_environment(),
    }


def _print_outcome(summary, caught, out_dir, *, verbose):
    """The short summary (all of it with ``verbose``), each distinct warning once,
    and where the report is."""
    seen = dict.fromkeys(
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if not issubclass(w.category, DeprecationWarning)
    )
    print(summary.to_text() if verbose else summary.to_brief_text())
    for line in seen:
        print(f"  {line}", file=sys.stderr)
    print(f"\nreport: {out_dir / 'report.md'} (and report.html)")


def _model_labels(labels, classes):
    """The data's labels spelt as the model's classes (``benign`` -> ``BENIGN``)."""
    from mammoclf.cli._common import UsageError

    spelling = {str(c).strip().lower(): c for c in classes}
    mapped = [spelling.get(str(label).strip().lower()) for label in labels]
    unknown = sorted({str(label) for label, m in zip(labels, mapped) if m is None})
    if unknown:
        raise UsageError(
            f"labels {unknown} are not classes of the model ({[str(c) for c in classes]}); "
            "evaluate needs the labels the model was trained with."
        )
    return np.asarray(mapped, dtype=np.asarray(classes).dtype)


def _load_models(model_paths, log):
    """The saved pipelines and their development records, by file name."""
    from mammoclf.cli._common import UsageError
    from mammoclf.persistence import load, read_development

    models, records = {}, {}
    for path in model_paths:
        name = Path(path).stem
        if name in models:
            raise UsageError(f"two models are named {name!r}: rename one of the files.")
        log(f"loading {path} ...")
        models[name] = load(path)
        if "resize" not in models[name].named_steps:
            raise UsageError(
                f"{path} is not a file-to-prediction model from `compare`."
            )
        records[name] = read_development(path)
        if records[name] is None:
            log(
                f"warning: {path} has no development record (saved by an older "
                "mammoclf or outside compare): its threshold is read off the model"
            )
    sizes = {m.named_steps["resize"].size for m in models.values()}
    if len(sizes) > 1:
        raise UsageError(
            f"the models take different image sizes ({sorted(sizes)}): evaluate them "
            "in separate runs."
        )
    return models, records


def evaluate_saved_models(models, records, source, images, *, log):
    """Score each saved model on ``source``'s decoded ``images``: a HoldoutResult.

    The classifiers predict through :func:`~mammoclf.model_selection.evaluate_fitted`
    (the predict loop of cross-validation and holdout); the thresholds are
    those fixed on the development data, and the development record of the
    first model describes the development data in the report.
    """
    from dataclasses import replace

    from mammoclf.model_selection import DecisionThreshold, evaluate_fitted

    first = next(iter(models.values()))
    classes = first.steps[-1][1].classes_
    record = next(iter(records.values())) or {}
    log(f"predicting {len(images)} images with {', '.join(models)} ...")
    result = evaluate_fitted(
        {name: pipeline.steps[-1][1] for name, pipeline in models.items()},
        images,
        _model_labels(source.labels, classes),
        groups_test=source.groups,
        pos_label=_model_labels([record.get("pos_label", classes[-1])], classes)[0],
        training={
            "n_images": record.get("n_images"),
            "n_patients": record.get("n_patients"),
            "n_positive": record.get("n_positive"),
            "prevalence": record.get("prevalence", float("nan")),
            "image_shape": record.get("image_shape"),
        },
        metadata_test=source.metadata,
        verbose=0 if getattr(log, "quiet", True) else 1,
    )
    return replace(
        result,
        estimators=dict(models),
        thresholds={
            name: _stored_threshold(pipeline, records[name] or {}, DecisionThreshold)
            for name, pipeline in models.items()
        },
    )


def _stored_threshold(pipeline, record, threshold_class):
    """The threshold fixed on the development data, checked against the model's own."""
    from mammoclf.model_selection import decision_threshold

    own = decision_threshold(pipeline)
    stored = record.get("threshold")
    if not stored or stored.get("value") is None:
        return own
    if not np.isclose(stored["value"], own.threshold):
        warnings.warn(
            f"The development record states threshold {stored['value']}, but the "
            f"model applies {own.threshold}: the report states the model's.",
            UserWarning,
            stacklevel=3,
        )
        return own
    return threshold_class(
        float(stored["value"]),
        stored["response"],
        own.positive_class,
        f"{stored['source']}; fixed on the development data",
    )


def write_evaluation_report(
    out_dir,
    *,
    result,
    source,
    records,
    model_paths,
    images,
    run_info,
    n_resamples,
    log,
    independence=None,
):
    """Write the evaluation's report and ``run.json`` into ``out_dir``; return the summary.

    ``independence`` says whether the test data overlap the development data
    (:func:`~mammoclf.cli._overlap.check_overlap`); None: not checked.
    """
    predictions = Predictions.from_holdout(result, paths=image_paths(source, run_info))
    explainers = {
        name: saved_model_explainer(result.estimators[name], images)
        for name in result.model_names
    }
    options = SummaryOptions(
        calibration=True,
        operating_points=True,
        breast_level=run_info["breast_level"],
        subgroups=list(source.subgroup_columns),
        n_resamples=n_resamples,
        checklist=True,
        report_sections=section_links(REPORT_HEADINGS),
        training=True,
        training_records={
            name: (records[name] or {}).get("training") for name in result.model_names
        },
        localization=localization_maps(
            explainers, images, result.y_true, result.groups, source.metadata, log=log
        ),
    )
    summary = summarize(result, options)
    sections = [
        bullets_section(
            REPORT_HEADINGS["data"],
            [
                *_describe(result, source, records, model_paths, independence),
                identifiers_sentence(run_info),
            ],
            anchor="data",
        ),
        summary_tables_section(summary),
        figures_section(
            predictions,
            captions={
                "roc_curves": "ROC curves on the test data.",
                "confusion_matrices": "Confusion matrices at the thresholds fixed "
                "on the development data.",
            },
            log=log,
        ),
        grad_cam_section(
            predictions,
            explainers,
            file_keys={name: name for name in result.model_names},
            intro=(
                "Heatmaps of the evidence for each model's predicted class on test "
                "images: the most confident true positives and true negatives, then "
                "the most confident false negatives and false positives."
            ),
            images=images,
            patients=source.patients,
            log=log,
        ),
        localization_section(summary),
        bullets_section(
            REPORT_HEADINGS["models"],
            (
                f"**{name}**: `{path}`, development data: "
                f"{(records[name] or {}).get('data', 'not recorded')}"
                for name, path in zip(result.model_names, model_paths)
            ),
            anchor="models",
        ),
        predictions_section(
            predictions, patients=source.patients, file_name="predictions.csv"
        ),
        environment_section(run_info),
        checklist_section(summary),
    ]
    write_report(
        out_dir,
        title="mammoclf external evaluation report",
        sections=sections,
        run_info=run_info,
    )
    return summary


def _describe(result, source, records, model_paths, independence):
    classes, counts = np.unique(result.y_true, return_counts=True)
    if independence is None:
        independence = "Whether they overlap the development data was not checked."
    lines = [
        f"Test data: {source.description}; {result.y_true.size} images of "
        f"{np.unique(source.groups).size} patients ("
        + ", ".join(f"{c}: {n}" for c, n in zip(classes, counts))
        + "). "
        + independence,
        *(f"Note: {announced}" for announced in source.warnings),
    ]
    for name, path in zip(result.model_names, model_paths):
        record = records[name]
        if record is None:
            lines.append(f"**{name}** (`{path}`): no development record.")
            continue
        lines.append(
            f"**{name}** (`{path}`): developed on {record['n_images']} images of "
            f"{record['n_patients']} patients, prevalence {record['prevalence']:.3f}, "
            f"{record['image_size']} px ({record['data']}); threshold "
            f"{record['threshold']['value']} on {record['threshold']['response']} "
            f"({record['threshold']['source']})."
        )
    return lines
