"""The summary of a comparison: one model of its tables that every view renders.

:meth:`ComparisonResult.summary` builds a :class:`ComparisonSummary`: which
tables there are, in what order, which tests ran, with what captions and
notes, and every number already formatted. ``str(summary)``,
:meth:`ComparisonSummary.to_markdown`, the ``mammoclf compare`` report
(Markdown and HTML) and its CSV tables only lay those tables out; none of
them computes, tests or formats anything of its own.

Adding a table
--------------
Write one builder and add one line to :data:`SUMMARY_TABLES`::

    def _calibration_table(result, options):
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

A builder takes the :class:`ComparisonResult` and the :class:`SummaryOptions`
and returns a :class:`SummaryTable`, or None when the table does not apply
(e.g. tests across models with fewer than three models). Its key names the
CSV file of the report (``tables/<key>.csv``) and is how
:meth:`ComparisonSummary.table` finds it. Options a new table needs go into
:class:`SummaryOptions` and :meth:`ComparisonResult.summary`.
"""

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from mammoclf.utils._formatting import (
    format_df,
    format_interval,
    format_mean_sd_interval,
    format_number,
    format_pvalue,
    markdown_table,
)

__all__ = ["SUMMARY_TABLES", "ComparisonSummary", "SummaryOptions", "SummaryTable"]

_CI_METHOD_NAMES = {
    "corrected_t": "t interval with the Nadeau-Bengio corrected variance",
    "t": "naive t interval (assumes independent folds; too narrow)",
    "bootstrap": "patient-level bootstrap of pooled out-of-fold predictions (repeat 0)",
}
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


@dataclass(frozen=True, eq=False)
class SummaryOptions:
    """What a summary shows: metrics, tests, intervals and labels.

    :meth:`ComparisonResult.summary` fills it from its arguments, with the
    defaults already resolved; every table builder reads it.

    Attributes
    ----------
    metrics : tuple of str
        Metrics of the scores table.
    pairwise : tuple of str
        Pairwise tests, in the order they are shown.
    omnibus : tuple of str
        Tests across all models (run with three or more models).
    test_metric : str
        Metric of the fold-score tests.
    correction : str
        Multiple-comparison adjustment within each pairwise test.
    alpha : float
        Family-wise error rate of the ``reject`` column.
    ci_method : str
        Interval of the scores table.
    confidence_level : float
        Level of every interval.
    metric_labels : dict of str to str
        How metrics are named in formatted tables (a metric without a label
        keeps its name).
    """

    metrics: tuple
    pairwise: tuple
    omnibus: tuple
    test_metric: str
    correction: str = "holm"
    alpha: float = 0.05
    ci_method: str = "corrected_t"
    confidence_level: float = 0.95
    metric_labels: dict = field(default_factory=dict)

    @property
    def level_percent(self):
        """The confidence level in percent, as captions print it."""
        return round(100 * self.confidence_level)

    def label(self, metric):
        """The name of ``metric`` in formatted tables."""
        return self.metric_labels.get(metric, metric)


@dataclass(frozen=True, repr=False, eq=False)
class SummaryTable:
    """One table of a summary: its numbers, their formatted cells and its notes.

    Attributes
    ----------
    title : str
        Heading of the table.
    caption : str
        What the table shows and how it was computed.
    data : pandas.DataFrame
        The numbers (written as CSV by the report; object columns such as
        ``result`` hold the test results the numbers came from).
    display : pandas.DataFrame
        The same rows with every cell formatted for reading, rendered as
        text, Markdown and HTML.
    notes : tuple of str
        Caveats about these numbers, shown next to the table.
    key : str
        Its key in :data:`SUMMARY_TABLES`.
    """

    title: str
    caption: str
    data: pd.DataFrame
    display: pd.DataFrame
    notes: tuple = ()
    key: str = ""

    def csv_frame(self):
        """:attr:`data` as written to CSV: index as columns, without result objects."""
        frame = self.data
        if any(name is not None for name in frame.index.names):
            frame = frame.reset_index()
        return frame.drop(columns=["result"], errors="ignore")

    def __repr__(self):
        return f"<SummaryTable {self.key!r}: {self.title}, {len(self.data)} rows>"


# ------------------------------------------------------------------ builders
def _metrics_table(result, options):
    scores = result.summary_frame(
        metrics=options.metrics,
        ci_method=options.ci_method,
        confidence_level=options.confidence_level,
    )
    cells = {}
    for (metric, model), row in scores.iterrows():
        cells.setdefault(options.label(metric), {})[model] = format_mean_sd_interval(
            row["mean"], row["sd"], row["ci_low"], row["ci_high"]
        )
    display = pd.DataFrame.from_dict(cells, orient="index")[list(result.model_names)]
    notes = []
    if (
        options.ci_method != "bootstrap"
        and ((scores["ci_low"] < 0) | (scores["ci_high"] > 1)).any()
    ):
        notes.append(
            "Some t intervals extend beyond [0, 1]: with few splits and scores "
            "near a bound the normal approximation is poor; they are shown "
            "unclipped (ci_method='bootstrap' respects the bounds)."
        )
    return SummaryTable(
        title="Table 1: classification performance",
        caption=(
            f"Mean ± standard deviation over splits [{options.level_percent}% CI: "
            f"{_CI_METHOD_NAMES[options.ci_method]}]. Each split's score is "
            "computed from its out-of-fold predictions."
        ),
        data=scores,
        display=display.rename_axis("metric").reset_index(),
        notes=tuple(notes),
    )


def _run_pairwise_tests(result, options):
    from mammoclf.stats import pairwise_tests

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


def _format_tests(tests, options):
    correction = options.correction
    rows = []
    for _, row in tests.iterrows():
        result = row["result"]
        effect = format_number(row["effect_size"])
        if np.isfinite(row["ci_low"]):
            effect += " " + format_interval(row["ci_low"], row["ci_high"])
        rows.append(
            {
                "metric": options.label(row["metric"]),
                "model A": row["model_a"],
                "model B": row["model_b"],
                "test": _TEST_NAMES.get(row["test_key"], row["test"]),
                "statistic": f"{result.statistic_name}{format_df(result.df)} = "
                f"{format_number(row['statistic'])}",
                "p": format_pvalue(row["pvalue"], prefix=False),
                f"p ({correction})": format_pvalue(
                    row["pvalue_adjusted"], prefix=False
                ),
                "A - B [CI]": effect,
            }
        )
    return pd.DataFrame(rows)


def _pairwise_notes(result, options, n_pairs):
    notes = [
        (
            f"p-values adjusted with {options.correction} across the {n_pairs} "
            "pair(s) of each test. Corrected t: Nadeau-Bengio resampled t-test on "
            f"{options.test_metric} fold scores. DeLong and McNemar use the pooled "
            "out-of-fold predictions of repeat 0 and assume independent images."
        )
    ]
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
            "has one."
        ),
        data=tests,
        display=_format_tests(tests, options),
        notes=tuple(_pairwise_notes(result, options, n_pairs)),
    )


def _omnibus_tests_table(result, options):
    from mammoclf.stats import omnibus_test

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
        notes=(memory,),
    )


#: The tables of a summary, in order: ``{key: builder(result, options)}``.
SUMMARY_TABLES = {
    "metrics": _metrics_table,
    "pairwise_tests": _pairwise_tests_table,
    "omnibus_tests": _omnibus_tests_table,
    "compute": _compute_table,
}


def _general_notes(result):
    notes = [
        (
            f"Positive class: {result.pos_label!r}. Scores are computed per split "
            "from out-of-fold predictions; every model used the same splits."
        )
    ]
    if result.groups is None:
        notes.append("No patient groups were given: folds were split per image.")
    return notes


def build_summary(result, options):
    """Run every builder of :data:`SUMMARY_TABLES` on ``result``."""
    tables = []
    for key, builder in SUMMARY_TABLES.items():
        table = builder(result, options)
        if table is not None:
            tables.append(replace(table, key=key))
    title = (
        f"Comparison of {len(result.model_names)} model(s) on "
        f"{result.y_true.shape[0]} images: {result.cv_description}, "
        f"{result.n_splits} splits"
    )
    return ComparisonSummary(
        title=title,
        model_names=tuple(result.model_names),
        tables=tuple(tables),
        general_notes=tuple(_general_notes(result)),
        options=options,
    )


# ------------------------------------------------------------------- the model
@dataclass(frozen=True, repr=False, eq=False)
class ComparisonSummary:
    """The tables of a comparison (Table 1, tests, compute), ready to print.

    Built by :meth:`ComparisonResult.summary`. ``str(summary)`` (and the
    ``repr``) is plain text; :meth:`to_markdown` gives Markdown; the
    ``mammoclf compare`` report renders the same :attr:`tables`. The numbers
    are in each table's ``data``, and :attr:`scores`, :attr:`tests`,
    :attr:`omnibus` and :attr:`compute` give the usual ones directly.

    Attributes
    ----------
    title : str
        One line describing the comparison.
    model_names : tuple of str
        The compared models.
    tables : tuple of SummaryTable
        The tables, in the order of :data:`SUMMARY_TABLES` (those that do
        not apply left out).
    general_notes : tuple of str
        Notes about the whole comparison (the positive class, the folds).
    options : SummaryOptions
        What was asked for: metrics, tests, intervals.
    """

    title: str
    model_names: tuple
    tables: tuple
    general_notes: tuple = ()
    options: SummaryOptions | None = None

    def table(self, key):
        """The table with ``key`` (see :data:`SUMMARY_TABLES`); KeyError if absent."""
        for table in self.tables:
            if table.key == key:
                return table
        raise KeyError(
            f"No table {key!r} in this summary; it has {[t.key for t in self.tables]}."
        )

    def _data(self, key, empty):
        keys = [table.key for table in self.tables]
        return self.table(key).data if key in keys else empty

    @property
    def scores(self):
        """Index (metric, model); ``mean``, ``sd``, ``ci_low``, ``ci_high``, ``n_splits``."""
        return self._data("metrics", pd.DataFrame())

    @property
    def tests(self):
        """Pairwise tests (see :func:`mammoclf.stats.pairwise_tests`), ``test_key`` added."""
        return self._data("pairwise_tests", pd.DataFrame())

    @property
    def omnibus(self):
        """Tests across all models, a tuple of HypothesisTestResult."""
        frame = self._data("omnibus_tests", None)
        return () if frame is None else tuple(frame["result"])

    @property
    def compute(self):
        """Per-model timing and memory, see ``ComparisonResult.compute_summary``."""
        return self._data("compute", pd.DataFrame())

    @property
    def notes(self):
        """Every note: each table's, then the general ones."""
        per_table = [note for table in self.tables for note in table.notes]
        return (*per_table, *self.general_notes)

    def to_text(self):
        """The summary as plain text."""
        parts = [self.title, "=" * min(len(self.title), 100)]
        for table in self.tables:
            parts += ["", table.title, "-" * len(table.title), table.caption]
            parts += [table.display.to_string(index=False)]
            parts += [f"* {note}" for note in table.notes]
        if self.general_notes:
            parts += ["", "Notes", "-----", *(f"* {n}" for n in self.general_notes)]
        return "\n".join(parts)

    def to_markdown(self):
        """The summary as Markdown (pipe tables)."""
        parts = [f"## {self.title}"]
        for table in self.tables:
            parts += ["", f"### {table.title}", "", f"*{table.caption}*", ""]
            parts += [markdown_table(table.display)]
            if table.notes:
                parts += ["", *(f"- Note: {note}" for note in table.notes)]
        if self.general_notes:
            parts += ["", "### Notes", "", *(f"- {n}" for n in self.general_notes)]
        return "\n".join(parts) + "\n"

    def __str__(self):
        return self.to_text()

    def __repr__(self):
        return self.to_text()

    def _repr_markdown_(self):
        return self.to_markdown()
