"""Comparing models honestly: identical patient-grouped folds, scores from predictions.

:func:`compare_models` cross-validates several estimators or pipelines on
the same folds and returns a :class:`ComparisonResult` (per-split scores,
out-of-fold predictions, timings, memory), whose summary
(:func:`mammoclf.evaluation.summarize`) prints a Table-1-like table with
confidence intervals and pairwise tests.

:func:`evaluate_holdout` refits models on a whole training set and evaluates
them once on a separate test set; :func:`evaluate_fitted` evaluates models
fitted elsewhere (saved ones) the same way. Cross-validation and both
held-out evaluations predict through one predict-and-score step. The tables
built from their predictions live in :mod:`mammoclf.evaluation` (their old
names here are deprecated).
"""

from mammoclf.model_selection._compare import compare_models
from mammoclf.model_selection._external import evaluate_fitted
from mammoclf.model_selection._holdout import HoldoutResult, evaluate_holdout
from mammoclf.model_selection._result import ComparisonResult
from mammoclf.model_selection._splits import GroupLeakageWarning, Split
from mammoclf.model_selection._threshold import DecisionThreshold, decision_threshold
from mammoclf.utils._deprecation import deprecated_module_getattr

__all__ = [
    "ComparisonResult",
    "DecisionThreshold",
    "GroupLeakageWarning",
    "HoldoutResult",
    "Split",
    "compare_models",
    "decision_threshold",
    "evaluate_fitted",
    "evaluate_holdout",
]

# Moved to mammoclf.evaluation; the old names work, with a FutureWarning,
# for one release.
__getattr__ = deprecated_module_getattr(
    __name__,
    "mammoclf.evaluation",
    (
        "CalibrationResult",
        "ComparisonSummary",
        "SummaryOptions",
        "SummaryTable",
        "evaluate_calibration",
        "evaluate_operating_points",
        "evaluate_predictions",
        "evaluate_subgroups",
        "reporting_checklist",
    ),
)
