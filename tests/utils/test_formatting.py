"""The one owner of number, p-value, degrees-of-freedom and Markdown-table formats."""

import numpy as np
import pandas as pd
import pytest

from mammoclf.utils._formatting import (
    format_df,
    format_interval,
    format_mean_sd_interval,
    format_number,
    format_pvalue,
    markdown_table,
)


@pytest.mark.parametrize(
    "value, digits, expected",
    [
        (0.12345, 3, "0.123"),
        (-0.0004, 3, "-0.000"),
        (12.0, 0, "12"),
        (np.float32(0.5), 2, "0.50"),
        (None, 3, "nan"),
        (np.nan, 3, "nan"),
        (np.inf, 1, "nan"),
    ],
)
def test_format_number(value, digits, expected):
    assert format_number(value, digits) == expected


@pytest.mark.parametrize(
    "pvalue, prose, cell",
    [
        (0.0123456, "p = 0.0123", "0.0123"),
        (1.0, "p = 1.0000", "1.0000"),
        (1e-4, "p = 0.0001", "0.0001"),
        (9.99e-5, "p < 0.0001", "<0.0001"),
        (0.0, "p < 0.0001", "<0.0001"),
        (np.nan, "p = nan", "nan"),
        (None, "p = nan", "nan"),
    ],
)
def test_format_pvalue_in_prose_and_in_cells(pvalue, prose, cell):
    assert format_pvalue(pvalue) == prose
    assert format_pvalue(pvalue, prefix=False) == cell


def test_format_df_and_intervals():
    assert format_df(None) == ""
    assert format_df(4) == "(4)"
    assert format_df(4.0) == "(4)"
    assert format_df(3.456) == "(3.46)"
    assert format_df((2, 8.5)) == "(2, 8.50)"
    assert format_interval(-0.4161, 1.1094) == "[-0.416, 1.109]"
    assert (
        format_mean_sd_interval(0.5, 0.1, np.nan, 0.7) == "0.500 ± 0.100 [nan, 0.700]"
    )


def test_markdown_table_escapes_pipes_and_blanks_missing_cells():
    frame = pd.DataFrame({"a|b": ["x|y", None], "c": [1.5, np.nan]}, index=[5, 6])
    assert markdown_table(frame).splitlines() == [
        "| a\\|b | c |",
        "|---|---|",
        "| x\\|y | 1.5 |",
        "|  |  |",
    ]
