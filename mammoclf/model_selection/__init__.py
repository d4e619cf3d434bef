"""Comparing models honestly: identical patient-grouped folds, scores from predictions.

:func:`compare_models` cross-validates several estimators or pipelines on
the same folds and returns a :class:`ComparisonResult` (per-split scores,
out-of-fold predictions, timings, memory), whose ``summary()`` prints a
Table-1-like table with confidence intervals and pairwise tests.
"""

from mammoclf.model_selection._checklist import reporting_checklist
from mammoclf.model_selection._compare import compare_models
from mammoclf.model_selection._result import ComparisonResult
from mammoclf.model_selection._splits import GroupLeakageWarning, Split
from mammoclf.model_selection._summary import (
    ComparisonSummary,
    SummaryOptions,
    SummaryTable,
)

__all__ = [
    "ComparisonResult",
    "ComparisonSummary",
    "GroupLeakageWarning",
    "Split",
    "SummaryOptions",
    "SummaryTable",
    "compare_models",
    "reporting_checklist",
]
