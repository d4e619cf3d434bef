"""The classification-performance tables of a summary: Table 1 and the test set's.

:func:`metrics_table` is Table 1 of a comparison: each metric's mean and
standard deviation over the cross-validation's splits, with the interval of
``ci_method``. :func:`holdout_table` is the same metrics, once, on a held-out
test set (:meth:`ComparisonResult.with_holdout
<mammoclf.model_selection.ComparisonResult.with_holdout>`, or an external
evaluation's :class:`~mammoclf.model_selection.HoldoutResult` alone), with
patient-bootstrap intervals: the models refitted on all development data,
kept apart from the cross-validated tables. Both are builders of
:data:`~mammoclf.evaluation.SUMMARY_TABLES`;
:func:`cross_validated_only` makes a builder of a comparison's table.
"""

import pandas as pd

from mammoclf.evaluation._prediction_sets import (
    bootstrap_options,
    interval_cell,
    interval_words,
    set_description,
)
from mammoclf.evaluation._summary import SummaryTable
from mammoclf.evaluation._summary_options import CI_METHOD_NAMES
from mammoclf.metrics import CLINICAL_METRICS
from mammoclf.utils._formatting import format_mean_sd_interval, format_number

__all__ = ["cross_validated_only", "holdout_table", "metrics_table"]


def cross_validated_only(builder):
    """A builder of ``builder(comparison, options)``: nothing without a comparison."""

    def build(inputs, options):
        if inputs.comparison is None:
            return None
        return builder(inputs.comparison, options)

    build.__name__ = builder.__name__
    build.__doc__ = builder.__doc__
    return build


@cross_validated_only
def metrics_table(result, options):
    """Table 1: each metric's mean ± sd over the splits, with its interval."""
    scores = result.summary_frame(
        metrics=options.metrics,
        ci_method=options.ci_method,
        confidence_level=options.confidence_level,
    )
    unit = "folds" if result.n_repeats == 1 else "splits"
    cells = {}
    for (metric, model), row in scores.iterrows():
        cell = format_mean_sd_interval(
            row["mean"], row["sd"], row["ci_low"], row["ci_high"]
        )
        n_defined, n_splits = int(row["n_defined"]), int(row["n_splits"])
        if n_defined < n_splits:
            cell += f" ({n_defined} of {n_splits} {unit})"
        cells.setdefault(options.label(metric), {})[model] = cell
    display = pd.DataFrame.from_dict(cells, orient="index")[list(result.model_names)]
    notes = []
    if (scores["n_defined"] < scores["n_splits"]).any():
        notes.append(
            f"'(k of n {unit})': the metric is undefined in the other {unit} "
            "(e.g. PPV without malignant calls, AUC of a single-class fold); "
            "mean, sd and interval use the defined ones, and an undefined "
            f"{unit[:-1]} is never counted as 0."
        )
    if (
        options.ci_method == "logit_t"
        and ((scores["sd"] < 1e-9) & scores["ci_low"].notna()).any()
    ):
        notes.append(
            f"Where the {unit} agree (sd 0.000) the t interval is undefined; the "
            "interval shown is Wilson's score interval at the Nadeau-Bengio "
            "effective number of test images (see fold_mean_ci)."
        )
    if (
        options.ci_method in ("corrected_t", "t")
        and ((scores["ci_low"] < 0) | (scores["ci_high"] > 1)).any()
    ):
        notes.append(
            "Some t intervals extend beyond [0, 1]: with few splits and scores "
            "near a bound the normal approximation is poor; they are shown "
            "unclipped (the default ci_method='korn_graubard' respects them)."
        )
    interval = CI_METHOD_NAMES[options.ci_method]
    if options.ci_method in ("korn_graubard", "logit_t") and any(
        m not in CLINICAL_METRICS for m in options.metrics
    ):
        interval += (
            " (metrics not bounded by [0, 1]: corrected t on the original scale)"
        )
    return SummaryTable(
        title="Table 1: classification performance",
        caption=(
            f"Mean ± standard deviation over {unit} [{options.level_percent}% CI: "
            f"{interval}]. Each {unit[:-1]}'s score is computed from its "
            "out-of-fold predictions."
        ),
        data=scores,
        display=display.rename_axis("metric").reset_index(),
        notes=tuple(notes),
    )


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
