"""The summary of a comparison: one model of its tables that every view renders.

:func:`~mammoclf.evaluation.summarize` builds a :class:`ComparisonSummary` with
the builders of :mod:`mammoclf.evaluation._summary_tables`: which
tables there are, in what order, which tests ran, with what captions and
notes, and every number already formatted. ``str(summary)``,
:meth:`ComparisonSummary.to_markdown`, the ``mammoclf compare`` report
(Markdown and HTML) and its CSV tables only lay those tables out; none of
them computes, tests or formats anything of its own. How to add a table is
described in :mod:`mammoclf.evaluation._summary_tables`.
"""

from dataclasses import dataclass

import pandas as pd

from mammoclf.utils._formatting import markdown_table

__all__ = ["ComparisonSummary", "SummaryTable"]


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

    Built by :func:`~mammoclf.evaluation.summarize`. ``str(summary)`` (and the
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
    options : ResolvedSummaryOptions
        What was asked for (metrics, tests, intervals), defaults resolved
        for this result.

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
    >>> from mammoclf.evaluation import SummaryOptions, summarize
    >>> summary = summarize(result, SummaryOptions(tests=["corrected_t"]))
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
    options: object = None

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
