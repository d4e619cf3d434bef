"""The breast-level and subgroup tables of a summary: a few metrics per unit.

Both tables report discrimination (ROC AUC) and the two rates whose
threshold the decision-threshold table states (sensitivity, specificity),
with patient-bootstrap intervals: :func:`breast_table` per image and per
breast (the images of one laterality of one patient, combined by
:func:`~mammoclf.metrics.breast_level`), :func:`subgroups_table` per value
of a metadata column (:func:`~mammoclf.evaluation.evaluate_subgroups`).
Both are builders of :data:`~mammoclf.evaluation.SUMMARY_TABLES`.
"""

import numpy as np
import pandas as pd

from mammoclf.evaluation._evaluation import evaluate_predictions
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
from mammoclf.metrics import breast_level, laterality_from_metadata

__all__ = ["breast_table", "subgroups_table"]

LATERALITY = "laterality"


# Metrics of the breast-level and subgroup tables: discrimination, and the
# two rates whose threshold the thresholds table states.
_SHORT_METRICS = ("roc_auc", "sensitivity", "specificity")


def _short_metrics(y_pred, y_score):
    return [
        m for m in _SHORT_METRICS if (y_score if m == "roc_auc" else y_pred) is not None
    ]


def _short_metric_cells(rows):
    """'estimate [low, high]' of each short metric in ``rows`` (blank if absent)."""
    return {
        m: interval_cell(rows.loc[m]) if m in rows.index else "" for m in _SHORT_METRICS
    }


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
