"""The printable summary of a comparison: scores table, tests, compute table."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mammoclf.stats._results import _format_df

__all__ = ["ComparisonSummary"]

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


def _number(value, digits=3):
    return "nan" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _pvalue(value):
    if value is None or not np.isfinite(value):
        return "nan"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def format_scores_table(frame, model_names):
    """Rows metrics, columns models, cells ``mean ± sd [low, high]``."""
    rows = {}
    for (metric, model), row in frame.iterrows():
        cell = (
            f"{_number(row['mean'])} ± {_number(row['sd'])} "
            f"[{_number(row['ci_low'])}, {_number(row['ci_high'])}]"
        )
        rows.setdefault(metric, {})[model] = cell
    table = pd.DataFrame.from_dict(rows, orient="index")[list(model_names)]
    return table.rename_axis("metric").reset_index()


def format_tests_table(tests):
    """One row per pairwise test, formatted for reading."""
    correction = tests.attrs.get("correction", "holm") if len(tests) else "holm"
    rows = []
    for _, row in tests.iterrows():
        result = row["result"]
        symbol = f"{result.statistic_name}{_format_df(result.df)}"
        stat = f"{symbol} = {_number(row['statistic'])}"
        effect = f"{_number(row['effect_size'])}"
        if np.isfinite(row["ci_low"]):
            effect += f" [{_number(row['ci_low'])}, {_number(row['ci_high'])}]"
        rows.append(
            {
                "metric": row["metric"],
                "model A": row["model_a"],
                "model B": row["model_b"],
                "test": _TEST_NAMES.get(row["test_key"], row["test"]),
                "statistic": stat,
                "p": _pvalue(row["pvalue"]),
                f"p ({correction})": _pvalue(row["pvalue_adjusted"]),
                "A - B [CI]": effect,
            }
        )
    return pd.DataFrame(rows)


def format_compute_table(compute):
    table = pd.DataFrame(
        {
            "model": compute.index,
            "fit time / split (s)": [_number(v, 1) for v in compute["fit_time_mean"]],
            "total fit time (s)": [_number(v, 1) for v in compute["fit_time_total"]],
            "epochs / split": [_number(v, 1) for v in compute["n_epochs_mean"]],
            "time / epoch (s)": [_number(v, 2) for v in compute["time_per_epoch_mean"]],
            "peak RSS (MB)": [_number(v, 0) for v in compute["peak_memory_mb"]],
            "RSS increase (MB)": [_number(v, 0) for v in compute["memory_increase_mb"]],
        }
    )
    return table


def _markdown_table(frame):
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


@dataclass(frozen=True, repr=False)
class ComparisonSummary:
    """Table 1 (scores with CIs), pairwise tests and a compute table, printable.

    ``str(summary)`` (and the ``repr``) is plain text; :meth:`to_markdown`
    gives Markdown for reports. The numeric tables are in :attr:`scores`,
    :attr:`tests` and :attr:`compute`.

    Attributes
    ----------
    title : str
        One line describing the comparison.
    scores : pandas.DataFrame
        Index (metric, model); columns ``mean``, ``sd``, ``ci_low``,
        ``ci_high``, ``n_splits``.
    tests : pandas.DataFrame
        Pairwise tests (see :func:`mammoclf.stats.pairwise_tests`), several
        tests concatenated, with a ``test_key`` column.
    omnibus : tuple of HypothesisTestResult
        Tests across all models (with three or more models).
    compute : pandas.DataFrame
        Per-model timing and memory, see ``ComparisonResult.compute_summary``.
    notes : tuple of str
        How the CIs and p-values were obtained, and caveats.
    """

    title: str
    model_names: tuple
    scores: pd.DataFrame
    tests: pd.DataFrame
    omnibus: tuple
    compute: pd.DataFrame
    notes: tuple = field(default=())

    def _sections(self, table, *, markdown=False):
        sections = [
            (
                "Scores: mean ± sd over splits [CI]",
                table(format_scores_table(self.scores, self.model_names)),
            ),
        ]
        if len(self.tests):
            sections.append(("Pairwise tests", table(format_tests_table(self.tests))))
        if self.omnibus:
            if markdown:
                body = "\n".join(
                    "- " + "; ".join(line.strip() for line in str(r).splitlines())
                    for r in self.omnibus
                )
            else:
                body = "\n".join(str(r) for r in self.omnibus)
            sections.append(("Omnibus tests", body))
        sections.append(
            ("Compute (per model)", table(format_compute_table(self.compute)))
        )
        return sections

    def to_text(self):
        """The summary as plain text."""

        def table(frame):
            return frame.to_string(index=False)

        parts = [self.title, "=" * min(len(self.title), 100)]
        for heading, body in self._sections(table):
            parts += ["", heading, "-" * len(heading), body]
        if self.notes:
            parts += ["", "Notes", "-----", *(f"* {note}" for note in self.notes)]
        return "\n".join(parts)

    def to_markdown(self):
        """The summary as Markdown (pipe tables)."""
        parts = [f"## {self.title}"]
        for heading, body in self._sections(_markdown_table, markdown=True):
            parts += ["", f"### {heading}", "", body]
        if self.notes:
            parts += ["", "### Notes", "", *(f"- {note}" for note in self.notes)]
        return "\n".join(parts) + "\n"

    def __str__(self):
        return self.to_text()

    def __repr__(self):
        return self.to_text()

    def _repr_markdown_(self):
        return self.to_markdown()
