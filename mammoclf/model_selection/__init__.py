"""Comparing models honestly: identical patient-grouped folds, scores from predictions.

:func:`compare_models` cross-validates several estimators or pipelines on
the same folds and returns a :class:`ComparisonResult` (per-split scores,
out-of-fold predictions, timings, memory), whose ``summary()`` prints a
Table-1-like table with confidence intervals and pairwise tests.

:func:`evaluate_holdout` refits models on a whole training set and evaluates
them once on a separate test set; :func:`evaluate_predictions`,
:func:`evaluate_calibration`, :func:`evaluate_operating_points` and
:func:`evaluate_subgroups` turn one model's predictions into tables with
patient-bootstrap intervals.
"""

from mammoclf.model_selection._calibration import (
    CalibrationResult,
    evaluate_calibration,
)
from mammoclf.model_selection._checklist import reporting_checklist
from mammoclf.model_selection._compare import compare_models
from mammoclf.model_selection._evaluation import (
    evaluate_operating_points,
    evaluate_predictions,
)
from mammoclf.model_selection._holdout import (
    DecisionThreshold,
    HoldoutResult,
    decision_threshold,
    evaluate_holdout,
)
from mammoclf.model_selection._result import ComparisonResult
from mammoclf.model_selection._splits import GroupLeakageWarning, Split
from mammoclf.model_selection._subgroups import evaluate_subgroups
from mammoclf.model_selection._summary import (
    ComparisonSummary,
    SummaryOptions,
    SummaryTable,
)

__all__ = [
    "CalibrationResult",
    "ComparisonResult",
    "ComparisonSummary",
    "DecisionThreshold",
    "GroupLeakageWarning",
    "HoldoutResult",
    "Split",
    "SummaryOptions",
    "SummaryTable",
    "compare_models",
    "decision_threshold",
    "evaluate_calibration",
    "evaluate_holdout",
    "evaluate_operating_points",
    "evaluate_predictions",
    "evaluate_subgroups",
    "reporting_checklist",
]
