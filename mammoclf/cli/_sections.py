"""The sections of the ``mammoclf compare`` report (written by evaluation's write_report)."""

import numpy as np

from mammoclf.cli._data import image_preprocessing
from mammoclf.evaluation import (
    REPORT_HEADINGS,
    Predictions,
    SummaryOptions,
    bullets_section,
    checklist_section,
    csv_section,
    environment_section,
    figures_section,
    fold_model_explainer,
    grad_cam_section,
    localization_maps,
    localization_section,
    predictions_section,
    section_links,
    summarize,
    summary_tables_section,
    write_report,
)

__all__ = ["identifiers_sentence", "image_paths", "write_comparison_report"]

_PAIRWISE = ("corrected_t", "delong", "mcnemar", "paired_t", "wilcoxon")
_OMNIBUS = ("rm_anova", "friedman", "anova")


def write_comparison_report(
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
    """Write the comparison's report and ``run.json`` into ``out_dir``; return the summary.

    The summary has every evaluation (decision thresholds, calibration,
    operating points; breast level and subgroups from ``result.metadata``;
    the held-out test set of ``result.holdout``), ``n_resamples`` patient
    resamples each, breast level combined by ``breast_level`` and the
    metadata columns ``subgroups``; the report ends with the reporting
    checklist, linked to its sections.
    """
    predictions = Predictions.from_comparison(
        result, paths=image_paths(source, run_info)
    )
    explainers = {
        spec.name: fold_model_explainer(result, spec.name, images) for spec in specs
    }
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
        training=True,
        preprocessing=image_preprocessing(run_info["image_size"]),
        localization=localization_maps(
            explainers, images, result.y_true, result.groups, result.metadata, log=log
        ),
    )
    summary = summarize(result, options)
    gpu = run_info.get("gpu_peak_memory_mb")
    gpu_note = "GPU memory, peak of the whole run: " + (
        "n/a (CPU only)." if gpu is None else f"{gpu} MB."
    )
    sections = [
        bullets_section(
            REPORT_HEADINGS["data"],
            _describe_run(result, source, specs, run_info),
            anchor="data",
        ),
        summary_tables_section(summary, run_notes={"compute": [gpu_note]}),
        csv_section(result.scores.reset_index(), "metrics_per_split.csv"),
        figures_section(
            predictions,
            captions={
                "roc_curves": "Out-of-fold ROC curves, mean over splits with 95% band.",
                "confusion_matrices": "Confusion matrices of the out-of-fold "
                "predictions.",
            },
            extra=_comparison_figures(result, specs),
            log=log,
        ),
        grad_cam_section(
            predictions,
            explainers,
            file_keys={spec.name: spec.key for spec in specs},
            intro=(
                "Heatmaps of the evidence for each model's predicted class, computed "
                "by the fold model that had not seen the image: the most confident "
                "true positives and true negatives, then the most confident false "
                "negatives and false positives."
            ),
            images=images,
            patients=source.patients,
            log=log,
        ),
        localization_section(summary),
        _models_section(final_models),
        predictions_section(
            predictions,
            patients=source.patients,
            file_name="out_of_fold_predictions.csv",
        ),
        bullets_section("Warnings raised during the run", warnings_so_far),
        environment_section(run_info),
        checklist_section(summary),
    ]
    write_report(
        out_dir,
        title="mammoclf comparison report",
        sections=sections,
        run_info=run_info,
        banner=banner,
    )
    return summary


def _describe_run(result, source, specs, run_info):
    """What was compared, on which data, and how: the first section's bullets."""
    classes, counts = np.unique(result.y_true, return_counts=True)
    return [
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


def _comparison_figures(result, specs):
    """The figures only a cross-validation has: per-split scores, training curves."""
    from mammoclf.plotting import FoldScoresDisplay, TrainingHistoryDisplay

    figures = [
        (
            "fold_scores.png",
            lambda: FoldScoresDisplay.from_comparison(
                result, metrics=["roc_auc", "sensitivity", "specificity"]
            ),
            "Per-split scores; lines join the same split across models.",
        )
    ]
    for spec in specs:
        if any(h is not None for h in result.histories[spec.name]):
            figures.append(
                (
                    f"training_{spec.key}.png",
                    lambda name=spec.name: TrainingHistoryDisplay.from_comparison(
                        result, name
                    ),
                    f"Training curves of {spec.name} per split (vertical lines: new stage).",
                )
            )
    return figures


def _models_section(final_models):
    def section(report, out_dir):
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

    return section


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
