"""The summary of a comparison: one model of its tables that every view renders.

:meth:`ComparisonResult.summary` builds a :class:`ComparisonSummary` with
the builders of :mod:`mammoclf.evaluation._summary_tables`: which
tables there are, in what order, which tests ran, with what captions and
notes, and every number already formatted. ``str(summary)``,
:meth:`ComparisonSummary.to_markdown`, the ``mammoclf compare`` report
(Markdown and HTML) and its CSV tables only lay those tables out; none of
them computes, tests or formats anything of its own. How to add a table is
described in :mod:`mammoclf.evaluation._summary_tables`.
"""

import textwrap
from dataclasses import dataclass, field

import pandas as pd

from mammoclf.metrics import METRIC_DISPLAY_NAMES
from mammoclf.utils._formatting import markdown_table

__all__ = [
    "ComparisonSummary",
    "SummaryOptions",
    "SummaryTable",
    "evaluation_options",
    "with_evaluation_options_doc",
]

#: The numpydoc entries of the evaluation-table options, which
#: ``ComparisonResult.summary`` and ``HoldoutResult.summary`` share.
EVALUATION_OPTIONS_DOC = """\
calibration : bool, default=False
    Add calibration tables: Brier score, calibration intercept and
    slope (Cox 1958) with patient-bootstrap intervals, per model with
    probabilities; each row keeps its
    :class:`~mammoclf.evaluation.CalibrationResult` (``result``
    column) for the reliability diagram.
operating_points : bool, default=False
    Add sensitivity at fixed specificities and specificity at fixed
    sensitivities, with intervals.
specificities, sensitivities : sequence of float, default=(0.8, 0.9, 0.95)
    The fixed rates of the operating points.
breast_level : {"mean", "max"} or None, default="mean"
    Image- and breast-level metrics when the metadata have a
    ``laterality`` column and patient ids are known: a breast's score
    is the mean (or max) of its images'. None leaves them out.
subgroups : sequence of str, default=None
    Metadata columns whose values get their own metrics, counts and
    intervals (too-small subgroups flagged). None means every metadata
    column except ``laterality``; ``()`` none.
min_cases : int, default=10
    Fewest malignant and benign patients of a subgroup whose interval
    is worth reading.
n_resamples : int, default=1000
    Patient-bootstrap resamples of the evaluation tables.
random_state : int, default=0
    Seeds those resamples (the same for every model and table).
checklist : bool, default=False
    End with the CLAIM 2024 / TRIPOD+AI reporting checklist, pointing to
    the tables that answer each item.
report_sections : dict of str to str, default=None
    Sections a report adds (checklist key to a Markdown link), for the
    checklist; given, the checklist links to the tables' anchors too.
"""


def with_evaluation_options_doc(method):
    """Write :data:`EVALUATION_OPTIONS_DOC` where ``method``'s docstring has
    ``%(evaluation_options)s``, indented as that line is."""
    placeholder = "%(evaluation_options)s"
    if method.__doc__ is None:  # python -OO strips docstrings
        return method
    line = next(x for x in method.__doc__.splitlines() if placeholder in x)
    indent = line[: line.index(placeholder)]
    entries = textwrap.indent(EVALUATION_OPTIONS_DOC, indent).strip()
    method.__doc__ = method.__doc__.replace(placeholder, entries)
    return method


_CI_METHOD_NAMES = {
    "korn_graubard": "Korn-Graubard interval (Wilson score interval at the "
    "effective number of test images m (1 - m) / var, var the Nadeau-Bengio "
    "corrected variance, at most n_test / (1/J + n_test/n_train), so folds "
    "that agree still get an interval), inside [0, 1]",
    "logit_t": "t interval with the Nadeau-Bengio corrected variance on the "
    "logit scale, inside [0, 1]",
    "corrected_t": "t interval with the Nadeau-Bengio corrected variance",
    "t": "naive t interval (assumes independent folds; too narrow)",
    "bootstrap": "patient-level bootstrap of pooled out-of-fold predictions (repeat 0)",
}


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
        How metrics are named in formatted tables, over
        :data:`mammoclf.metrics.METRIC_DISPLAY_NAMES` (a metric in neither
        keeps its name).
    calibration : bool
        Add the calibration tables (Brier score, calibration intercept and
        slope with patient-bootstrap intervals, reliability curves).
    operating_points : bool
        Add sensitivity at fixed specificities and specificity at fixed
        sensitivities, with intervals.
    specificities, sensitivities : tuple of float
        The fixed rates of the operating-point tables.
    breast_level : {"mean", "max"} or None
        How the views of a breast are combined in the breast-level tables,
        which appear when the metadata have a ``laterality`` column and
        patient ids are known; None leaves them out.
    subgroups : tuple of str
        Metadata columns whose values get their own metrics.
    min_cases : int
        Fewest malignant and benign patients for a subgroup's interval to
        be worth reading (smaller ones are flagged).
    n_resamples : int
        Patient-bootstrap resamples of the evaluation tables.
    random_state : int
        Seeds those resamples (the same for every model).
    checklist : bool
        End with the CLAIM 2024 / TRIPOD+AI reporting checklist.
    report_sections : dict of str to str
        Sections a report adds around the summary's tables (checklist key,
        e.g. ``"data"`` or ``"grad_cam"``, to its heading or a Markdown
        link to it), for the checklist to point to.
    link_sections : bool
        Whether the checklist points to the summary's tables with Markdown
        links to their anchors (the table keys), as in a report.
    previous_tables : tuple of SummaryTable
        The tables built so far, set by the summary for each builder in
        turn (the checklist reads it).
    """

    metrics: tuple
    pairwise: tuple
    omnibus: tuple
    test_metric: str
    correction: str = "holm"
    alpha: float = 0.05
    ci_method: str = "korn_graubard"
    confidence_level: float = 0.95
    metric_labels: dict = field(default_factory=dict)
    calibration: bool = False
    operating_points: bool = False
    specificities: tuple = (0.8, 0.9, 0.95)
    sensitivities: tuple = (0.8, 0.9, 0.95)
    breast_level: str | None = "mean"
    subgroups: tuple = ()
    min_cases: int = 10
    n_resamples: int = 1000
    random_state: int = 0
    checklist: bool = False
    report_sections: dict = field(default_factory=dict)
    link_sections: bool = False
    previous_tables: tuple = ()

    @property
    def level_percent(self):
        """The confidence level in percent, as captions print it."""
        return round(100 * self.confidence_level)

    def label(self, metric):
        """The name of ``metric`` in formatted tables."""
        return self.metric_labels.get(metric, METRIC_DISPLAY_NAMES.get(metric, metric))


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
        The tables, in the order of
        :data:`~mammoclf.evaluation._summary_tables.SUMMARY_TABLES`
        (those that do not apply left out).
    general_notes : tuple of str
        Notes about the whole comparison (the positive class, the folds).
    options : SummaryOptions
        What was asked for: metrics, tests, intervals.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mammoclf.model_selection import compare_models
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3))
    >>> y = np.where(X[:, 0] > 0, "MALIGNANT", "BENIGN")
    >>> result = compare_models(
    ...     {"logreg": LogisticRegression(), "prior": DummyClassifier()},
    ...     X, y, groups=np.arange(40), cv=2, scoring=["accuracy", "roc_auc"],
    ...     random_state=0)
    >>> summary = result.summary(tests=["corrected_t"])
    >>> [table.key for table in summary.tables]
    ['metrics', 'pairwise_tests', 'thresholds', 'compute']
    >>> table = summary.table("metrics")
    >>> table.display.columns.tolist()
    ['metric', 'logreg', 'prior']
    >>> float(table.data.loc[("accuracy", "prior"), "mean"])  # behind the cell
    0.525
    >>> table.display.loc[0, "prior"]
    '0.525 ± 0.035 [0.021, 0.982]'
    """

    title: str
    model_names: tuple
    tables: tuple
    general_notes: tuple = ()
    options: SummaryOptions | None = None

    def table(self, key):
        """The table with ``key`` (its key in ``SUMMARY_TABLES``); KeyError if absent."""
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
        """Pairwise tests (see :func:`mammoclf.evaluation.pairwise_tests`), ``test_key`` added."""
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

    def to_brief_text(self):
        """A few lines for a console: Table 1 (or the held-out metrics) and the
        primary test (the first pairwise test, on ``test_metric``).

        :meth:`to_text` has every table and note.
        """
        keys = [table.key for table in self.tables]
        first = next(
            (t for t in self.tables if t.key in ("metrics", "holdout")), self.tables[0]
        )
        parts = [first.title, "-" * len(first.title)]
        parts += [first.display.to_string(index=False)]
        if "pairwise_tests" in keys and self.options is not None:
            table = self.table("pairwise_tests")
            primary = (table.data["test_key"] == self.options.pairwise[0]).to_numpy()
            metric = self.options.label(self.options.test_metric)
            title = f"Primary test (pairwise, {metric})"
            parts += ["", title, "-" * len(title)]
            parts += [table.display[primary].to_string(index=False)]
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


_BREAST_METHODS = ("mean", "max")


def evaluation_options(
    metadata_frames,
    *,
    calibration,
    operating_points,
    specificities,
    sensitivities,
    breast_level,
    subgroups,
    min_cases,
    n_resamples,
    random_state,
    checklist,
    report_sections,
):
    """The evaluation fields of :class:`SummaryOptions`, checked, defaults resolved.

    ``metadata_frames`` are the metadata of the evaluated sets (None where a
    set has none); ``subgroups=None`` means every metadata column but
    ``laterality``.
    """
    columns = []
    for frame in metadata_frames:
        if frame is not None:
            columns += [c for c in frame.columns if c not in columns]
    if subgroups is None:
        subgroups = [c for c in columns if c != "laterality"]
    elif isinstance(subgroups, str):
        subgroups = [subgroups]
    unknown = [c for c in subgroups if c not in columns]
    if unknown:
        raise KeyError(
            f"Subgroup column(s) {unknown} are not in the metadata (columns: "
            f"{columns}); pass metadata to compare_models or evaluate_holdout."
        )
    if breast_level is not None and breast_level not in _BREAST_METHODS:
        raise ValueError(
            f"breast_level must be 'mean', 'max' or None; got {breast_level!r}."
        )
    for name, rates in (
        ("specificities", specificities),
        ("sensitivities", sensitivities),
    ):
        if any(not 0 <= rate <= 1 for rate in rates):
            raise ValueError(f"{name} must lie in [0, 1]; got {list(rates)}.")
    if (
        isinstance(n_resamples, bool)
        or int(n_resamples) != n_resamples
        or n_resamples < 10
    ):
        raise ValueError(f"n_resamples must be an integer >= 10; got {n_resamples!r}.")
    return {
        "calibration": bool(calibration),
        "operating_points": bool(operating_points),
        "specificities": tuple(specificities),
        "sensitivities": tuple(sensitivities),
        "breast_level": breast_level,
        "subgroups": tuple(subgroups),
        "min_cases": int(min_cases),
        "n_resamples": int(n_resamples),
        "random_state": random_state,
        "checklist": bool(checklist),
        "report_sections": {} if report_sections is None else dict(report_sections),
        "link_sections": report_sections is not None,
    }
