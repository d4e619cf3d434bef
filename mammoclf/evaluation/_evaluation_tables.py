"""Summary tables of the evaluations reviewers ask for, built from predictions.

CLAIM 2024 and TRIPOD+AI ask for more than cross-validated image-level
metrics: the threshold behind every sensitivity, calibration, operating
points, breast-level and subgroup results, a held-out test set, and a
checklist of where a report answers each item. Each table here is one
builder of :data:`~mammoclf.evaluation._summary_tables.SUMMARY_TABLES`,
reading the :class:`~mammoclf.evaluation.Predictions` of a
:class:`~mammoclf.evaluation._prediction_sets.SummaryInputs`; the numbers
come from the evaluation functions of :mod:`mammoclf.evaluation`, with
patient-bootstrap intervals.

Two sets of predictions are evaluated, and never mixed:

* the cross-validation: the pooled out-of-fold predictions of repeat 0,
  every image predicted once by a fold model that never saw its patient
  (tables ``calibration``, ``operating_points``, ``breast``, ``subgroups``);
* a held-out test set (:meth:`ComparisonResult.with_holdout`, or an
  external evaluation's :class:`HoldoutResult` alone): the models refitted
  on all development data, evaluated once (tables ``holdout`` and
  ``holdout_calibration``, ...).
"""

import numpy as np
import pandas as pd

from mammoclf.evaluation._calibration import evaluate_calibration
from mammoclf.evaluation._checklist import reporting_checklist
from mammoclf.evaluation._evaluation import (
    evaluate_operating_points,
    evaluate_predictions,
)
from mammoclf.evaluation._prediction_sets import (
    WarnOnce,
    bootstrap_options,
    interval_cell,
    interval_words,
    set_description,
    set_title,
)
from mammoclf.evaluation._subgroups import evaluate_subgroups
from mammoclf.evaluation._summary import SummaryTable
from mammoclf.metrics import CLINICAL_METRICS, breast_level, laterality_from_metadata
from mammoclf.utils._formatting import format_number

__all__ = [
    "CHECKLIST_SECTIONS",
    "breast_table",
    "calibration_table",
    "checklist_table",
    "holdout_table",
    "operating_points_table",
    "subgroups_table",
    "thresholds_table",
]

LATERALITY = "laterality"
# Metrics of the breast-level and subgroup tables: discrimination, and the
# two rates whose threshold the thresholds table states.
_SHORT_METRICS = ("roc_auc", "sensitivity", "specificity")

#: The reporting-checklist sections (see ``reporting_checklist``) each table answers.
CHECKLIST_SECTIONS = {
    "metrics": ("scores",),
    "pairwise_tests": ("tests",),
    "omnibus_tests": ("tests",),
    "thresholds": ("operating_points",),
    "calibration": ("calibration",),
    "operating_points": ("operating_points",),
    "breast": ("breast",),
    "subgroups": ("subgroups",),
    "holdout": ("holdout", "scores"),
    "holdout_calibration": ("calibration",),
    "holdout_operating_points": ("operating_points",),
    "holdout_breast": ("breast",),
    "holdout_subgroups": ("subgroups",),
    "compute": ("compute",),
}


# ------------------------------------------------------------------ builders
def _threshold_rows(inputs):
    rows = []
    comparison, holdout = inputs.comparison, inputs.holdout
    if comparison is not None and comparison.thresholds is not None:
        for model in comparison.model_names:
            for split, stated in zip(comparison.splits, comparison.thresholds[model]):
                rows.append(
                    ("cross-validation", model, split.repeat, split.fold, stated)
                )
    if holdout is not None:
        for model in holdout.model_names:
            rows.append(("held-out", model, None, None, holdout.thresholds[model]))
    return rows


def _threshold_cell(values):
    values = np.asarray(values, dtype=float)
    if np.isnan(values).all():
        return "not stated"
    low, high = np.nanmin(values), np.nanmax(values)
    if low == high:
        return format_number(low)
    return f"{format_number(low)} to {format_number(high)} (per fold)"


def thresholds_table(inputs, options):
    """Which decision threshold each model's label metrics used, and who chose it."""
    rows = _threshold_rows(inputs)
    if not rows:
        return None
    data = pd.DataFrame(
        [
            {
                "set": kind,
                "model": model,
                "repeat": repeat,
                "fold": fold,
                "threshold": stated.threshold,
                "response": stated.response,
                "positive_class": stated.positive_class,
                "source": stated.source,
            }
            for kind, model, repeat, fold, stated in rows
        ]
    )
    display_rows = []
    for model in dict.fromkeys(data["model"]):
        mine = data[data["model"] == model]
        row = {"model": model}
        for kind in ("cross-validation", "held-out"):
            part = mine[mine["set"] == kind]
            if len(part):
                row[kind] = _threshold_cell(part["threshold"])
        row["applies to"] = ", ".join(dict.fromkeys(mine["response"]))
        row["chosen by"] = "; ".join(dict.fromkeys(mine["source"]))
        display_rows.append(row)
    return SummaryTable(
        title="Decision thresholds of the binary metrics",
        caption=(
            "The threshold behind each model's predicted labels, and so behind its "
            "accuracy, sensitivity, specificity, PPV, NPV and F1: the positive class "
            "is predicted where the response is at or above it. In cross-validation "
            "each fold model has its own, chosen on its training fold only."
        ),
        data=data,
        display=pd.DataFrame(display_rows).fillna(""),
        notes=(
            (
                "A threshold tuned by TunedThresholdClassifierCV was chosen by an inner, "
                "patient-grouped cross-validation of the training data, never on the "
                "data it is evaluated on."
            ),
        ),
    )


def calibration_table(which):
    """Builder of the calibration table of the ``which`` predictions."""

    def build(inputs, options):
        predictions = inputs.predictions(which)
        if not options.calibration or predictions is None:
            return None
        models = predictions.probability_models
        if not models:
            return None
        frames, display = [], []
        for model in models:
            calibration = evaluate_calibration(
                predictions.y_true,
                predictions.y_score[model],
                groups=predictions.groups,
                pos_label=predictions.pos_label,
                **bootstrap_options(options),
            )
            frames.append(calibration.table.assign(result=calibration))
            cells = {
                metric: interval_cell(row)
                for metric, row in calibration.table.iterrows()
            }
            display.append(
                {
                    "model": model,
                    "Brier score": cells["brier_score"],
                    "calibration intercept": cells["calibration_intercept"],
                    "calibration slope": cells["calibration_slope"],
                }
            )
        skipped = [m for m in predictions.model_names if m not in models]
        notes = [
            (
                "Intercept 0 and slope 1 mean calibrated (Cox 1958: logistic "
                "recalibration of the logit); a slope below 1 means too extreme "
                "probabilities, an intercept below 0 too high ones on average. "
                "The Brier score is the mean squared error of the probabilities."
            )
        ]
        if skipped:
            notes.append(
                f"Not calibrated: {', '.join(skipped)} (no predict_proba; "
                "decision-function scores are not probabilities)."
            )
        return SummaryTable(
            title=set_title(which, "Calibration"),
            caption=(
                f"Brier score, calibration intercept and slope of the probabilities of "
                f"{str(predictions.pos_label)!r}, on {set_description(predictions)} "
                f"{interval_words(options, predictions)}."
            ),
            data=pd.concat(frames, keys=models, names=["model", "metric"]),
            display=pd.DataFrame(display),
            notes=tuple(notes),
        )

    return build


def _operating_label(fixed, target):
    free = "sensitivity" if fixed == "specificity" else "specificity"
    return f"{free} at {fixed} ≥ {format_number(target, 2)}"


def operating_points_table(which):
    """Builder of the operating-point table of the ``which`` predictions."""

    def build(inputs, options):
        predictions = inputs.predictions(which)
        if not options.operating_points or predictions is None:
            return None
        models = predictions.scored_models
        if not models:
            return None
        frames = []
        for model in models:
            frames.append(
                evaluate_operating_points(
                    predictions.y_true,
                    predictions.y_score[model],
                    groups=predictions.groups,
                    specificities=options.specificities,
                    sensitivities=options.sensitivities,
                    pos_label=predictions.pos_label,
                    **bootstrap_options(options),
                )
            )
        data = pd.concat(frames, keys=models, names=["model", "fixed", "target"])
        display = {}
        for (model, fixed, target), row in data.iterrows():
            label = _operating_label(fixed, target)
            display.setdefault(label, {})[model] = interval_cell(row)
        display = pd.DataFrame.from_dict(display, orient="index")[models]
        return SummaryTable(
            title=set_title(which, "Operating points"),
            caption=(
                "Sensitivity at fixed specificities and specificity at fixed "
                f"sensitivities, read off the ROC curve of {set_description(predictions)} "
                f"{interval_words(options, predictions)}."
            ),
            data=data,
            display=display.rename_axis("operating point").reset_index(),
            notes=(
                (
                    "Each point is the best the ROC curve attains at the fixed rate; the "
                    "interval re-reads the curve in every resample, so it describes the "
                    "curve, not a fixed threshold. The thresholds that attain the points "
                    "(in the CSV) were read off these data: do not report binary metrics "
                    "at them; the decision-threshold table says which threshold the "
                    "label metrics used."
                ),
            ),
        )

    return build


def _short_metrics(y_pred, y_score):
    return [
        m for m in _SHORT_METRICS if (y_score if m == "roc_auc" else y_pred) is not None
    ]


def _level_rows(model, level, table, n_units, n_patients):
    return table.assign(model=model, level=level, n=n_units, n_patients=n_patients)


def _breast_predictions(predictions, model, breasts):
    """Breast labels at the model's decision threshold, or None where there is none."""
    thresholds = predictions.thresholds[model]
    if (
        predictions.score_method[model] != "predict_proba"
        or not np.isfinite(thresholds).all()
    ):
        return None
    # The images of a breast belong to one patient, so one fold: one threshold.
    per_breast = (
        np.bincount(breasts.breast_of_image, weights=thresholds) / breasts.n_images
    )
    return np.where(
        breasts.y_score >= per_breast, predictions.pos_label, predictions.negative_label
    )


def breast_table(which):
    """Builder of the image- and breast-level table of the ``which`` predictions."""

    def build(inputs, options):
        predictions = inputs.predictions(which)
        if (
            predictions is None
            or options.breast_level is None
            or predictions.groups is None
            or predictions.metadata is None
            or LATERALITY not in predictions.metadata.columns
        ):
            return None
        laterality = laterality_from_metadata(predictions.metadata, column=LATERALITY)
        with WarnOnce():
            frames = [
                frame
                for model in predictions.scored_models
                for frame in _image_and_breast_rows(
                    predictions, model, laterality, options
                )
            ]
        if not frames:
            return None
        data = pd.concat(frames).reset_index().set_index(["model", "level", "metric"])
        return SummaryTable(
            title=set_title(which, "Image and breast level"),
            caption=(
                f"Metrics per image and per breast (the images of one laterality of one "
                f"patient; score: the {options.breast_level} of its images' scores, "
                "label: malignant if any image is) on "
                f"{set_description(predictions)} {interval_words(options, predictions)}."
            ),
            data=data,
            display=_level_display(data),
            notes=(
                (
                    "Breast-level sensitivity and specificity apply each model's decision "
                    "threshold to the breast's mean probability; they are left blank for "
                    "models without probabilities or a stated threshold. The mean is the "
                    "default because it does not make a breast with more views look more "
                    "suspicious; the max is the 'recall if any view is suspicious' rule."
                ),
            ),
        )

    return build


def _image_and_breast_rows(predictions, model, laterality, options):
    """One model's metrics with intervals per image and per breast (two frames)."""
    y_pred, y_score = predictions.y_pred[model], predictions.y_score[model]
    n_patients = np.unique(predictions.groups).size
    images = evaluate_predictions(
        predictions.y_true,
        y_pred=y_pred,
        y_score=y_score,
        groups=predictions.groups,
        metrics=_short_metrics(y_pred, y_score),
        pos_label=predictions.pos_label,
        **bootstrap_options(options),
    )
    breasts = breast_level(
        predictions.y_true,
        y_score,
        patients=predictions.groups,
        laterality=laterality,
        method=options.breast_level,
        pos_label=predictions.pos_label,
    )
    breast_pred = _breast_predictions(predictions, model, breasts)
    per_breast = evaluate_predictions(
        breasts.y_true,
        y_pred=breast_pred,
        y_score=breasts.y_score,
        groups=breasts.groups,
        metrics=_short_metrics(breast_pred, breasts.y_score),
        pos_label=predictions.pos_label,
        **bootstrap_options(options),
    )
    return [
        _level_rows(model, "image", images, y_score.size, n_patients),
        _level_rows(model, "breast", per_breast, breasts.y_score.size, n_patients),
    ]


def _level_display(data):
    display = []
    for (model, level), rows in data.groupby(level=[0, 1], sort=False):
        rows = rows.droplevel([0, 1])
        cell = _short_metric_cells(rows)
        display.append(
            {
                "model": model,
                "level": level,
                "n": int(rows["n"].iloc[0]),
                "ROC AUC": cell["roc_auc"],
                "sensitivity": cell["sensitivity"],
                "specificity": cell["specificity"],
            }
        )
    return pd.DataFrame(display)


def _short_metric_cells(rows):
    """'estimate [low, high]' of each short metric in ``rows`` (blank if absent)."""
    return {
        m: interval_cell(rows.loc[m]) if m in rows.index else "" for m in _SHORT_METRICS
    }


def subgroups_table(which):
    """Builder of the subgroup table of the ``which`` predictions."""

    def build(inputs, options):
        predictions = inputs.predictions(which)
        if predictions is None or predictions.metadata is None:
            return None
        columns = [c for c in options.subgroups if c in predictions.metadata.columns]
        if not columns:
            return None
        with WarnOnce() as caught:
            frames = [
                _subgroup_rows(predictions, column, model, options)
                for column in columns
                for model in predictions.model_names
            ]
        small = [str(w.message) for w in caught.caught if "too few" in str(w.message)]
        data = pd.concat(frames, ignore_index=True).set_index(
            ["variable", "value", "model", "metric"]
        )
        return SummaryTable(
            title=set_title(which, "Subgroups"),
            caption=(
                f"Metrics per value of {', '.join(columns)} on "
                f"{set_description(predictions)} {interval_words(options, predictions)}; "
                f"'too small': fewer than {options.min_cases} malignant or benign "
                "patients, an interval that means little."
            ),
            data=data,
            display=_subgroup_display(data),
            notes=tuple(dict.fromkeys(small)),
        )

    return build


def _subgroup_rows(predictions, column, model, options):
    """One model's metrics per value of metadata ``column``, in long format."""
    y_pred, y_score = predictions.y_pred[model], predictions.y_score[model]
    table = evaluate_subgroups(
        predictions.y_true,
        predictions.metadata[column].to_numpy(),
        y_pred=y_pred,
        y_score=y_score,
        groups=predictions.groups,
        metrics=_short_metrics(y_pred, y_score),
        min_cases=options.min_cases,
        name=column,
        pos_label=predictions.pos_label,
        **bootstrap_options(options),
    )
    return (
        table.rename_axis(["value", "metric"])
        .assign(variable=column, model=model)
        .reset_index()
    )


def _subgroup_display(data):
    display = []
    for (variable, value, model), rows in data.groupby(level=[0, 1, 2], sort=False):
        rows = rows.droplevel([0, 1, 2])
        first = rows.iloc[0]
        cell = _short_metric_cells(rows)
        display.append(
            {
                "variable": variable,
                "value": value,
                "model": model,
                "images": int(first["n_images"]),
                "patients (malignant / benign)": (
                    f"{int(first['n_patients'])} ({int(first['n_positive_patients'])}"
                    f" / {int(first['n_negative_patients'])})"
                ),
                "ROC AUC": cell["roc_auc"],
                "sensitivity": cell["sensitivity"],
                "specificity": cell["specificity"],
                "too small": "yes" if first["too_small"] else "",
            }
        )
    return pd.DataFrame(display)


def holdout_table(inputs, options):
    """Test-set metrics of every model refitted on the development data."""
    holdout, predictions = inputs.holdout, inputs.held_out
    if holdout is None:
        return None
    metrics = [m for m in options.metrics if m in CLINICAL_METRICS]
    if not predictions.scored_models:
        metrics = [m for m in metrics if m != "roc_auc"]
    data = predictions.evaluate(metrics or None, **bootstrap_options(options))
    cells = {}
    for (model, metric), row in data.iterrows():
        cells.setdefault(options.label(metric), {})[model] = interval_cell(row)
    display = pd.DataFrame.from_dict(cells, orient="index")[list(holdout.model_names)]
    training = holdout.training
    patients = (
        ""
        if training["n_patients"] is None
        else f" of {training['n_patients']} patients"
    )
    shape = training.get("image_shape")
    development = (
        f"{training['n_images']} development images{patients} (prevalence "
        f"{format_number(training['prevalence'])}"
        + ("" if shape is None else f", input shape {tuple(shape)}")
        + ")"
    )
    notes = [
        (
            "Kept apart from the cross-validated tables: cross-validation estimates the "
            "modelling procedure, this set the one model it produced, measured once."
        )
    ]
    if holdout.groups is not None and inputs.comparison is not None:
        notes.append("No patient of the test set is in the development data (checked).")
    return SummaryTable(
        title="Held-out test set: classification performance",
        caption=(
            f"Each model fitted on {development} and evaluated once on "
            f"{set_description(predictions)} {interval_words(options, predictions)}; "
            "the label metrics use the thresholds of the decision-threshold table."
        ),
        data=data,
        display=display.rename_axis("metric").reset_index(),
        notes=tuple(notes),
    )


def _section_text(table, options):
    return f"[{table.title}](#{table.key})" if options.link_sections else table.title


def checklist_table(inputs, options):
    """Where this summary (and its report) answers each CLAIM / TRIPOD+AI item."""
    if not options.checklist:
        return None
    sections = {}
    for table in options.previous_tables:
        for section in CHECKLIST_SECTIONS.get(table.key, ()):
            sections.setdefault(section, []).append(_section_text(table, options))
    for section, text in options.report_sections.items():
        sections.setdefault(section, []).insert(0, text)
    table = reporting_checklist(
        {key: "; ".join(texts) for key, texts in sections.items()}
    )
    return SummaryTable(
        title="Reporting checklist (CLAIM 2024, TRIPOD+AI)",
        caption=(
            "Items of CLAIM 2024 (Tejani et al., Radiology: Artificial Intelligence "
            "2024;6(4):e240300) and TRIPOD+AI (Collins et al., BMJ 2024;385:e078378) "
            "that apply to a classification study, in our words, with where this "
            "report answers them or what the authors must state themselves."
        ),
        data=table,
        display=table,
    )
