"""The content of the ``mammoclf compare`` report: tables, tests, figures, Grad-CAM."""

from pathlib import Path

import numpy as np
import pandas as pd

from mammoclf.cli._data import image_preprocessing
from mammoclf.cli._explanations import add_grad_cam_section, fold_model_explainer
from mammoclf.cli._localization import add_localization
from mammoclf.cli._report import REPORT_HEADINGS, Report, save_figure, write_csv
from mammoclf.evaluation import SummaryOptions, summarize, training_table

__all__ = [
    "REPORT_HEADINGS",
    "add_checklist",
    "add_summary_tables",
    "identifiers_sentence",
    "image_paths",
    "save_figure",
    "section_links",
    "write_csv",
    "write_report",
]

_PAIRWISE = ("corrected_t", "delong", "mcnemar", "paired_t", "wilcoxon")
_OMNIBUS = ("rm_anova", "friedman", "anova")


def section_links(keys):
    """``{key: "[heading](#key)"}`` of the report sections ``keys``, for the checklist."""
    return {key: f"[{REPORT_HEADINGS[key]}](#{key})" for key in keys}


def write_report(
    out_dir,
    *,
    result,
    source,
    specs,
    banner,
    run_info,
    final_models,
    images,
    log,
    warnings_so_far=(),
    n_resamples=1000,
    breast_level="mean",
    subgroups=(),
):
    """Write figures, CSV tables, report.md and report.html; return the summary.

    The summary has every evaluation (decision thresholds, calibration,
    operating points; breast level and subgroups from ``result.metadata``;
    the held-out test set of ``result.holdout``), ``n_resamples`` patient
    resamples each, breast level combined by ``breast_level`` and the
    metadata columns ``subgroups``; the report ends with the reporting
    checklist, linked to its sections.
    """
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(exist_ok=True)
    (out_dir / "tables").mkdir(exist_ok=True)
    options = SummaryOptions(
        tests=_PAIRWISE,
        omnibus=_OMNIBUS,
        calibration=True,
        operating_points=True,
        breast_level=breast_level,
        subgroups=list(subgroups),
        n_resamples=n_resamples,
        checklist=True,
        report_sections=section_links(REPORT_HEADINGS),
    )
    summary = summarize(result, options)

    report = Report("mammoclf comparison report")
    if banner:
        report.banner(banner)
    _describe_run(report, result, source, specs, run_info)
    _add_table(
        report,
        training_table(
            result.estimators, preprocessing=image_preprocessing(run_info["image_size"])
        ),
        out_dir,
    )
    gpu = run_info.get("gpu_peak_memory_mb")
    gpu_note = "GPU memory, peak of the whole run: " + (
        "n/a (CPU only)." if gpu is None else f"{gpu} MB."
    )
    add_summary_tables(report, summary, out_dir, run_notes={"compute": [gpu_note]})
    write_csv(result.scores.reset_index(), out_dir / "tables" / "metrics_per_split.csv")
    _figures_section(report, result, specs, out_dir, log)
    _grad_cam_section(report, result, specs, images, source, out_dir, log)
    _localization(report, result, specs, images, out_dir, log, n_resamples)
    _models_section(report, final_models)
    _predictions_table(result, source, run_info, out_dir)
    if warnings_so_far:
        report.heading("Warnings raised during the run")
        report.bullets(warnings_so_far)
    report.heading(REPORT_HEADINGS["environment"], anchor="environment")
    report.code("\n".join(f"{key}: {value}" for key, value in run_info.items()))
    add_checklist(report, summary, out_dir)
    report.write(out_dir)
    return summary


def _describe_run(report, result, source, specs, run_info):
    classes, counts = np.unique(result.y_true, return_counts=True)
    report.heading(REPORT_HEADINGS["data"], anchor="data")
    report.bullets(
        [
            f"Data: {source.description}; {len(result.y_true)} images of "
            f"{np.unique(source.groups).size} patients ("
            + ", ".join(f"{c}: {n}" for c, n in zip(classes, counts))
            + ").",
            *[f"**{spec.name}**: {spec.description}." for spec in specs],
            (
                f"Evaluation: {result.cv_description}; every model saw the same {result.n_splits} "
                "splits, and no patient had images on both sides of a split (CC and MLO views "
                "of a breast are near-duplicates)."
            ),
            (
                "Augmentation (rotations up to 10 degrees, horizontal flips, one extra copy) ran "
                "inside each training fold only, never on test images. Images were decoded and "
                f"resized to {run_info['image_size']} px once up front: that step is per-image "
                "and learns nothing from the data, so it cannot leak."
            ),
            (
                f"Positive class: {result.pos_label}. Accuracy is (TP + TN) / N; the study's "
                "printed (TP + FP) / N is the fraction called malignant, not an accuracy."
            ),
            identifiers_sentence(run_info),
            *_holdout_lines(result),
        ]
    )


def identifiers_sentence(run_info):
    """How the report shows patient identifiers (the checklist's de-identification)."""
    if run_info["identifiers"] == "pseudonymised":
        return "Patient identifiers appear only as salted-hash pseudonyms."
    return "Patient identifiers are shown as found (--reveal-identifiers)."


def _holdout_lines(result):
    """The held-out design in words, when the comparison has a test set attached."""
    holdout = result.holdout
    if holdout is None:
        return []
    patients = (
        ""
        if holdout.groups is None
        else f" of {np.unique(holdout.groups).size} patients"
    )
    return [
        (
            f"Held-out test set: {holdout.y_true.size} images{patients}, none of whose "
            "patients is in the cross-validated data. Each model was refitted on all the "
            'cross-validated images and evaluated on it once; its tables ("Held-out '
            'test set: ...") are kept apart from the cross-validated ones.'
        )
    ]


def add_summary_tables(report, summary, out_dir, *, run_notes=None):
    """Lay out every table of ``summary`` in ``report`` and write its CSV.

    Each table gets its heading, caption, formatted cells and notes, as
    :meth:`~mammoclf.evaluation.ComparisonSummary.to_markdown` shows
    them, and ``tables/<key>.csv`` with its numbers. ``run_notes`` adds
    facts of the run that the comparison does not hold (the GPU's peak
    memory) to the notes of the table they concern, by table key.
    """
    run_notes = run_notes or {}
    for table in summary.tables:
        if table.key != "checklist":  # it ends the report: add_checklist
            _add_table(report, table, out_dir, run_notes.get(table.key, ()))
        if table.key.endswith("calibration"):
            _reliability_diagram(report, table, out_dir)
    if summary.general_notes:
        report.heading("Notes on the tables")
        report.bullets(summary.general_notes)


def add_checklist(report, summary, out_dir):
    """The reporting checklist of ``summary``, if it has one, as the report's last table."""
    if "checklist" in [table.key for table in summary.tables]:
        _add_table(report, summary.table("checklist"), out_dir)


def _add_table(report, table, out_dir, run_notes=()):
    report.heading(table.title, anchor=table.key)
    report.table(table.display, table.caption)
    notes = [*table.notes, *run_notes]
    if notes:
        report.bullets(f"Note: {note}" for note in notes)
    write_csv(table.csv_frame(), out_dir / "tables" / f"{table.key}.csv")


def _reliability_diagram(report, table, out_dir):
    """The reliability diagram of a calibration table, every model on one plot."""
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(5.5, 5))
    results = table.data["result"].groupby(level="model", sort=False).first()
    for model, calibration in results.items():
        calibration.plot(ax=ax, name=model)
    ax.set_title(table.title)
    file_name = f"reliability_{table.key}.png"
    save_figure(figure, out_dir / "figures" / file_name)
    plt.close(figure)
    report.figure(
        Path("figures") / file_name,
        f"Reliability diagram ({table.title.lower()}): observed fraction malignant "
        "against mean predicted probability per bin, with patient-bootstrap "
        "intervals; the diagonal is perfect calibration.",
    )


def _figures_section(report, result, specs, out_dir, log):
    import matplotlib.pyplot as plt

    from mammoclf.plotting import (
        ConfusionMatricesDisplay,
        FoldScoresDisplay,
        RocCurvesDisplay,
        TrainingHistoryDisplay,
    )

    log("drawing figures ...")
    report.heading("Figures")
    figures = [
        (
            "roc_curves.png",
            RocCurvesDisplay.from_comparison(result),
            "Out-of-fold ROC curves, mean over splits with 95% band.",
        ),
        (
            "confusion_matrices.png",
            ConfusionMatricesDisplay.from_comparison(result),
            "Confusion matrices of the out-of-fold predictions.",
        ),
        (
            "fold_scores.png",
            FoldScoresDisplay.from_comparison(
                result, metrics=["roc_auc", "sensitivity", "specificity"]
            ),
            "Per-split scores; lines join the same split across models.",
        ),
    ]
    for spec in specs:
        if any(h is not None for h in result.histories[spec.name]):
            figures.append(
                (
                    f"training_{spec.key}.png",
                    TrainingHistoryDisplay.from_comparison(result, spec.name),
                    f"Training curves of {spec.name} per split (vertical lines: new stage).",
                )
            )
    for file_name, display, caption in figures:
        save_figure(display.figure_, out_dir / "figures" / file_name)
        plt.close(display.figure_)
        report.figure(Path("figures") / file_name, caption)


def _grad_cam_section(report, result, specs, images, source, out_dir, log):
    panels = [
        (
            spec.name,
            spec.key,
            result.out_of_fold(spec.name),
            fold_model_explainer(result, spec.name, images),
        )
        for spec in specs
    ]
    add_grad_cam_section(
        report,
        panels,
        intro=(
            "Heatmaps of the evidence for each model's predicted class, computed by the "
            "fold model that had not seen the image: the most confident true positives and "
            "true negatives, then the most confident false negatives and false positives."
        ),
        images=images,
        patients=source.patients,
        pos_label=result.pos_label,
        out_dir=out_dir,
        log=log,
    )


def _localization(report, result, specs, images, out_dir, log, n_resamples):
    """Under the Grad-CAM panels: do the maps fall on the lesion (where known)?"""
    add_localization(
        report,
        {spec.name: fold_model_explainer(result, spec.name, images) for spec in specs},
        images,
        result.y_true,
        result.groups,
        result.metadata,
        n_resamples=n_resamples,
        out_dir=out_dir,
        log=log,
    )


def _models_section(report, final_models):
    report.heading(REPORT_HEADINGS["models"], anchor="models")
    if not final_models:
        report.paragraph("Final models were not refitted (--no-refit).")
        return
    report.paragraph(
        "Each model was refitted on all images and saved as a code-free archive "
        "(loader, resizer and network). Predict new DICOM or image files with:"
    )
    report.bullets(
        f"`mammoclf predict {path} FILES...`  ({name})"
        for name, path in final_models.items()
    )


def image_paths(source, run_info):
    """The image paths the predictions CSVs show: as given when identifiers are
    revealed, else salted-hash pseudonyms (paths often hold patient ids) of the
    paths relative to the images' common folder, so that a pseudonym does not
    depend on where the data set lies."""
    if run_info["identifiers"] == "revealed":
        return np.asarray(source.paths, dtype=object)
    import os

    from mammoclf.preprocessing import pseudonym

    absolute = [os.path.abspath(path) for path in source.paths]
    root = os.path.commonpath([os.path.dirname(path) for path in absolute])
    return np.array(
        [pseudonym(os.path.relpath(path, root), source.salt) for path in absolute]
    )


def _predictions_table(result, source, run_info, out_dir):
    frames = []
    for model in result.model_names:
        table = result.out_of_fold(model)
        frames.append(table[["y_score", "y_pred"]].add_prefix(f"{model}: "))
    base = result.out_of_fold(result.model_names[0])[["fold", "y_true"]]
    base.insert(0, "patient", source.patients[base.index])
    base.insert(0, "path", image_paths(source, run_info)[base.index])
    write_csv(
        pd.concat([base, *frames], axis=1).reset_index(),
        out_dir / "tables" / "out_of_fold_predictions.csv",
    )
