"""The tables of a comparison summary: one builder per table, in one registry.

:func:`~mammoclf.evaluation.summarize` runs every builder of :data:`SUMMARY_TABLES` on a
:class:`~mammoclf.model_selection.ComparisonResult` or a
:class:`~mammoclf.model_selection.HoldoutResult` and collects the tables
into a :class:`~mammoclf.evaluation.ComparisonSummary`, which
``str(summary)``, ``summary.to_markdown()``, the ``mammoclf compare``
report and its CSV files all render. Tests run and numbers are formatted
here, and only here.

Adding a table
--------------
Write one builder and add one line to :data:`SUMMARY_TABLES`::

    def _calibration_table(inputs, options):
        predictions = inputs.predictions("cv")  # or inputs.comparison, ...
        data = ...  # numbers, one row per model (written as CSV)
        display = ...  # the same rows, cells formatted with mammoclf.utils._formatting
        return SummaryTable(
            title="Calibration",
            caption="What the table shows and how it was computed.",
            data=data,
            display=display,
            notes=("A caveat the reader needs next to these numbers.",),
        )


    SUMMARY_TABLES = {..., "calibration": _calibration_table}

A builder takes the :class:`~mammoclf.evaluation._prediction_sets.SummaryInputs`
(what the summary reports: its ``comparison`` and ``holdout``, each None
when absent, and their :class:`~mammoclf.evaluation.Predictions`) and the
:class:`~mammoclf.evaluation._summary_options.ResolvedSummaryOptions`, and
returns a :class:`SummaryTable`, or None when the table does not apply
(e.g. no comparison, tests across models with fewer than three models,
calibration when not asked for); it never asks what type a result is. The
tests across models and the compute table are built here; the others each
in the module of their concept: Table 1 and the held-out test set's table
in ``_performance_tables``, the decision thresholds and operating points in
``_threshold_tables``, calibration in ``_calibration``, the breast-level and
subgroup tables in ``_short_metric_tables``, the reporting checklist in
``_checklist``. Two sets of predictions are evaluated, and never mixed: the
pooled out-of-fold predictions of repeat 0 of the cross-validation (tables
``calibration``, ``operating_points``, ``breast``, ``subgroups``) and a
held-out test set (``holdout``, ``holdout_calibration``, ...). The reporting
checklist comes last and reads the tables before it from
``options.previous_tables``. Its key names the
CSV file of the report (``tables/<key>.csv``) and is how
:meth:`ComparisonSummary.table` finds it. Options a new table needs go into
:class:`~mammoclf.evaluation.SummaryOptions` (a parameter and its
constraint) and :func:`~mammoclf.evaluation._summary_options.resolve_options`;
so do inputs a result does not hold, and the table is left out while its
option is not given: the training table reads the fitted models the result
keeps with ``training=True`` (and ``preprocessing``, ``training_records``),
the localisation table the Grad-CAM maps of ``localization``. A table a
report shows apart from the others (under the Grad-CAM panels, at the end)
is named in ``_report_sections.PLACED_APART`` and shown by its own section.
Nothing else changes: the text, the Markdown, the report and its CSV files
show every table of the registry with its caption and notes. A family of
several tables may live in its own module, its builders imported here.
"""

import numpy as np
import pandas as pd

from mammoclf.evaluation._calibration import calibration_table
from mammoclf.evaluation._checklist import checklist_table
from mammoclf.evaluation._performance_tables import (
    cross_validated_only,
    holdout_table,
    metrics_table,
)
from mammoclf.evaluation._report_localization import scored_localization
from mammoclf.evaluation._short_metric_tables import breast_table, subgroups_table
from mammoclf.evaluation._summary import SummaryTable
from mammoclf.evaluation._summary_options import training_estimators
from mammoclf.evaluation._threshold_tables import (
    operating_points_table,
    thresholds_table,
)
from mammoclf.evaluation._training_details import training_table
from mammoclf.utils._formatting import (
    format_df,
    format_interval,
    format_number,
    format_pvalue,
)

__all__ = ["SUMMARY_TABLES"]

_TEST_NAMES = {
    "corrected_t": "corrected t",
    "paired_t": "paired t",
    "wilcoxon": "Wilcoxon",
    "5x2cv_t": "5x2cv t",
    "5x2cv_f": "5x2cv F",
    "mcnemar": "McNemar",
    "delong": "DeLong",
}
_OMNIBUS_NOTES = {
    "rm_anova": "right for paired folds (repeated measures)",
    "friedman": "rank-based, paired",
    "anova": "the study's; ignores that folds are paired",
}
# Tests on pooled predictions compare a fixed metric; the others take one.
_PREDICTION_TESTS = ("mcnemar", "delong")


def _run_pairwise_tests(result, options):
    from mammoclf.evaluation._pairwise import pairwise_tests

    frames = []
    for test in options.pairwise:
        frame = pairwise_tests(
            result,
            test=test,
            metric=None if test in _PREDICTION_TESTS else options.test_metric,
            correction=options.correction,
            alpha=options.alpha,
            confidence_level=options.confidence_level,
        )
        frames.append(frame.assign(test_key=test))
    tests = pd.concat(frames, ignore_index=True)
    tests.attrs.update(correction=options.correction, alpha=options.alpha)
    return tests


def _effect_cells(row):
    """``(A - B [CI], other effect size)``: a difference goes only in the first."""
    effect = format_number(row["effect_size"])
    if np.isfinite(row["ci_low"]):
        effect += " " + format_interval(row["ci_low"], row["ci_high"])
    name = row["effect_size_name"]
    if name is None or "(A - B)" in str(name) or not np.isfinite(row["effect_size"]):
        return effect, ""
    return "", f"{name} = {effect}"


def _format_tests(tests, options):
    correction = options.correction
    rows = []
    for _, row in tests.iterrows():
        result = row["result"]
        effect, other_effect = _effect_cells(row)
        rows.append(
            {
                "metric": options.label(row["metric"]),
                "model A": row["model_a"],
                "model B": row["model_b"],
                "test": _TEST_NAMES.get(row["test_key"], row["test"])
                + (" (clustered)" if row["test"].startswith("Clustered") else ""),
                "statistic": f"{result.statistic_name}{format_df(result.df)} = "
                f"{format_number(row['statistic'])}",
                "p": format_pvalue(row["pvalue"], prefix=False),
                f"p ({correction})": format_pvalue(
                    row["pvalue_adjusted"], prefix=False
                ),
                "A - B [CI]": effect,
                "other effect size": other_effect,
            }
        )
    display = pd.DataFrame(rows)
    if not display["other effect size"].any():
        display = display.drop(columns="other effect size")
    return display


def _pairwise_notes(result, options, n_pairs, tests):
    notes = [
        (
            f"p-values adjusted with {options.correction} across the {n_pairs} "
            "pair(s) of each test. Corrected t: Nadeau-Bengio resampled t-test on "
            f"{options.test_metric} fold scores. "
            + (
                "DeLong and McNemar use the pooled out-of-fold predictions of "
                "repeat 0, clustered by patient (Obuchowski 1997; Obuchowski "
                "1998), because a patient's images are correlated."
                if result.groups is not None
                else "DeLong and McNemar use the pooled out-of-fold predictions "
                "of repeat 0 and assume independent images (no patient groups "
                "were given)."
            )
        )
    ]
    if any(r.details.get("method") == "durkalski" for r in tests["result"]):
        notes.append(
            "With fewer than 50 patients McNemar is Durkalski's (2003) clustered "
            "test, whose size stays near the nominal level there while "
            "Obuchowski's becomes conservative (benchmarks/RESULTS.md); its A - B "
            "is the patient-averaged accuracy difference."
        )
    if "paired_t" in options.pairwise:
        notes.append(
            "The plain paired t-test (the study's) is anti-conservative on "
            "cross-validation folds, which share training data: read the corrected t."
        )
    if "wilcoxon" in options.pairwise and result.n_splits <= 5:
        notes.append(
            f"The Wilcoxon signed-rank test cannot reach p < 0.05 with "
            f"{result.n_splits} splits (5 or fewer)."
        )
    return notes


@cross_validated_only
def _pairwise_tests_table(result, options):
    if len(result.model_names) < 2 or not options.pairwise:
        return None
    tests = _run_pairwise_tests(result, options)
    n_pairs = len(tests) // len(options.pairwise)
    return SummaryTable(
        title="Statistical comparison: pairwise tests",
        caption=(
            "Each test on every pair of models, in the order requested; A - B is "
            f"the difference with its {options.level_percent}% CI where the test "
            "has one; a test whose effect size is not a difference (Wilcoxon: the "
            "rank-biserial correlation) states it under 'other effect size'."
        ),
        data=tests,
        display=_format_tests(tests, options),
        notes=tuple(_pairwise_notes(result, options, n_pairs, tests)),
    )


@cross_validated_only
def _omnibus_tests_table(result, options):
    from mammoclf.evaluation._pairwise import omnibus_test

    if len(result.model_names) < 3 or not options.omnibus:
        return None
    rows = []
    for test in options.omnibus:
        outcome = omnibus_test(result, test=test, metric=options.test_metric)
        rows.append(
            {
                "test_key": test,
                "test": outcome.test,
                "metric": options.test_metric,
                "statistic_name": outcome.statistic_name,
                "df": format_df(outcome.df).strip("()"),
                "statistic": outcome.statistic,
                "pvalue": outcome.pvalue,
                "note": _OMNIBUS_NOTES.get(test, ""),
                "result": outcome,
            }
        )
    data = pd.DataFrame(rows)
    display = pd.DataFrame(
        {
            "test": data["test"],
            "statistic": [
                f"{r.statistic_name}{format_df(r.df)} = {format_number(r.statistic)}"
                for r in data["result"]
            ],
            "p": [format_pvalue(p, prefix=False) for p in data["pvalue"]],
            "note": data["note"],
        }
    )
    return SummaryTable(
        title="Statistical comparison: tests across all models",
        caption=(
            f"Whether any of the {len(result.model_names)} models differs, on "
            f"{options.test_metric} fold scores."
        ),
        data=data,
        display=display,
    )


@cross_validated_only
def _compute_table(result, options):
    compute = result.compute_summary()
    columns = {
        "fit time / split (s)": ("fit_time_mean", 1),
        "total fit time (s)": ("fit_time_total", 1),
        "training time, all splits (s)": ("train_time_total", 1),
        "epochs / split": ("n_epochs_mean", 1),
        "time / epoch (s)": ("time_per_epoch_mean", 2),
        "peak RSS (MB)": ("peak_memory_mb", 0),
        "RSS increase (MB)": ("memory_increase_mb", 0),
    }
    shared = compute["activations_shared_mean"]
    if shared.notna().any():
        columns["frozen activations from the shared store"] = (
            "activations_shared_mean",
            2,
        )
    compute, resumed_notes = _resumed_fits(result, compute, columns)
    display = pd.DataFrame({"model": compute.index})
    for heading, (column, digits) in columns.items():
        display[heading] = [format_number(v, digits) for v in compute[column]]
    if compute["peak_memory_mb"].notna().any():
        memory = (
            "Peak RSS: resident memory of the whole fitting process, sampled "
            "during fit (a lower bound); GPU memory not included."
        )
    else:
        memory = "Memory was not measured (measure_memory=False)."
    return SummaryTable(
        title="Table 2: compute",
        caption=(
            "Per model. Fit time includes any preprocessing in a pipeline; training "
            "time is the network's own; time per epoch = training time / epochs "
            "(frozen-backbone stages train on cached backbone outputs)."
        ),
        data=compute,
        display=display,
        notes=(memory, *_shared_store_notes(shared), *resumed_notes),
    )


def _resumed_fits(result, compute, columns):
    """Table 2's count of fits resumed from an interrupted run, and its note.

    ``result.compute`` has a boolean ``resumed`` column when some fits were
    loaded rather than trained (``mammoclf compare`` after an interruption);
    their ``fit_time`` is then the original fit's, from the saved record.
    Adds the column to ``columns`` (in place) when any fit was resumed.
    """
    if "resumed" not in result.compute or not result.compute["resumed"].any():
        return compute, ()
    per_model = result.compute["resumed"].groupby(level="model", sort=False).sum()
    compute = compute.assign(fits_resumed=per_model.astype(int))
    columns["fits resumed"] = ("fits_resumed", 0)
    note = (
        f"Fits resumed: {int(per_model.sum())} fold models were loaded from an "
        "interrupted run; their fit times are those of the original fits, kept "
        "in the saved fit record (not the time to load them)."
    )
    return compute, (note,)


def _shared_store_notes(shared):
    if not shared.notna().any():
        return ()
    note = (
        "Frozen activations from the shared store: the fraction of a fit's "
        "frozen-backbone activations that an earlier fit of this comparison "
        "had computed. Each backbone pass is charged to the fit that ran it, "
        "so later fits of the same cut are cheaper."
    )
    return (note,)


def _training_table(inputs, options):
    """How each model was built, preprocessed and trained (``training=True``)."""
    if not options.training:
        return None
    return training_table(
        training_estimators(inputs.comparison, inputs.holdout),
        preprocessing=list(options.preprocessing) or None,
        recorded=options.training_records,
    )


def _localization_table(inputs, options):
    """Whether each model's Grad-CAM maps fall on the lesions (``localization``)."""
    if options.localization is None:
        return None
    return scored_localization(
        options.localization,
        n_resamples=options.n_resamples,
        confidence_level=options.confidence_level,
        random_state=options.random_state,
    )


#: The tables of a summary, in order: ``{key: builder(inputs, options)}``.
SUMMARY_TABLES = {
    "training": _training_table,
    "metrics": metrics_table,
    "pairwise_tests": _pairwise_tests_table,
    "omnibus_tests": _omnibus_tests_table,
    "thresholds": thresholds_table,
    "calibration": calibration_table("cv"),
    "operating_points": operating_points_table("cv"),
    "breast": breast_table("cv"),
    "subgroups": subgroups_table("cv"),
    "holdout": holdout_table,
    "holdout_calibration": calibration_table("holdout"),
    "holdout_operating_points": operating_points_table("holdout"),
    "holdout_breast": breast_table("holdout"),
    "holdout_subgroups": subgroups_table("holdout"),
    "localization": _localization_table,
    "compute": _compute_table,
    "checklist": checklist_table,
}
