"""The decision-threshold and operating-point tables of a summary.

Two views of a model's threshold: :func:`thresholds_table` states the
threshold behind every predicted label (per fold and on a held-out set), and
so behind every sensitivity and specificity the other tables report;
:func:`operating_points_table` reads the ROC curve at fixed sensitivities
and specificities, with the patient-bootstrap intervals of
:func:`~mammoclf.evaluation.evaluate_operating_points`. Both are builders of
:data:`~mammoclf.evaluation.SUMMARY_TABLES`.
"""

import numpy as np
import pandas as pd

from mammoclf.evaluation._evaluation import evaluate_operating_points
from mammoclf.evaluation._prediction_sets import (
    bootstrap_options,
    interval_cell,
    interval_words,
    set_description,
    set_title,
)
from mammoclf.evaluation._summary import SummaryTable
from mammoclf.utils._formatting import format_number

__all__ = ["operating_points_table", "thresholds_table"]


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
