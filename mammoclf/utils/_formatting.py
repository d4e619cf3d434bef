"""How mammoclf prints numbers, p-values and tables: the one owner of those formats.

The statistics results (:mod:`mammoclf.stats`), the comparison summary
(:mod:`mammoclf.model_selection`) and the command-line report all format
through these functions, so a p-value or a confidence interval reads the
same wherever it appears.
"""

import numpy as np
import pandas as pd

__all__ = [
    "format_df",
    "format_interval",
    "format_mean_sd_interval",
    "format_number",
    "format_pvalue",
    "markdown_table",
]

# Below this a p-value is shown as a bound: more digits would claim precision
# that the reference distributions do not have in small samples.
_SMALLEST_PVALUE_SHOWN = 1e-4


def _is_missing(value):
    if value is None:
        return True
    try:
        return not np.isfinite(value)
    except TypeError:
        return False


def format_number(value, digits=3):
    """``value`` with ``digits`` decimals; ``"nan"`` for None, NaN or infinity."""
    return "nan" if _is_missing(value) else f"{value:.{digits}f}"


def format_pvalue(pvalue, *, prefix=True):
    """``p = 0.0123``, ``p < 0.0001`` or ``p = nan``; without ``p`` for table cells.

    Parameters
    ----------
    pvalue : float or None
        The p-value.
    prefix : bool, default=True
        Whether to write ``p = `` / ``p < `` in front (prose and test
        results) or only the number (a table column headed ``p``).
    """
    if _is_missing(pvalue):
        return "p = nan" if prefix else "nan"
    if pvalue < _SMALLEST_PVALUE_SHOWN:
        return "p < 0.0001" if prefix else "<0.0001"
    return f"p = {pvalue:.4f}" if prefix else f"{pvalue:.4f}"


def _df_number(value):
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:.2f}"


def format_df(df):
    """Degrees of freedom as a suffix of a statistic's symbol: ``(4)``, ``(2, 8)``."""
    if df is None:
        return ""
    if isinstance(df, tuple):
        return "(" + ", ".join(_df_number(v) for v in df) + ")"
    return f"({_df_number(df)})"


def format_interval(low, high, digits=3):
    """``[low, high]``, each bound with ``digits`` decimals."""
    return f"[{format_number(low, digits)}, {format_number(high, digits)}]"


def format_mean_sd_interval(mean, sd, low, high, digits=3):
    """A Table-1 cell: ``mean ± sd [low, high]``."""
    return (
        f"{format_number(mean, digits)} ± {format_number(sd, digits)} "
        f"{format_interval(low, high, digits)}"
    )


def _markdown_cell(value):
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame):
    """A DataFrame as a Markdown pipe table (its index is not written)."""
    header = [_markdown_cell(column) for column in frame.columns]
    rows = [
        [_markdown_cell(value) for value in row]
        for row in frame.itertuples(index=False)
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
