"""Clinical metrics for benign-vs-malignant classification, and their scorers.

Every metric is defined from the confusion counts of the positive
(malignant) class, which ``pos_label="auto"`` finds by name (see
:func:`resolve_pos_label`). Accuracy is ``(TP + TN) / N``; the study mammoclf
reproduces printed ``(TP + FP) / N``, which is the fraction of images called
malignant, not an accuracy.
"""

from mammoclf.metrics._breast import breast_level, laterality_from_metadata
from mammoclf.metrics._calibration import (
    brier_score,
    calibration_intercept,
    calibration_slope,
    reliability_curve,
)
from mammoclf.metrics._clinical import (
    ConfusionCounts,
    accuracy_score,
    balanced_accuracy_score,
    confusion_counts,
    f1_weighted_score,
    npv_score,
    ppv_score,
    roc_auc_score,
    sensitivity_score,
    specificity_score,
)
from mammoclf.metrics._labels import check_targets, resolve_pos_label
from mammoclf.metrics._operating_points import (
    OperatingPoint,
    roc_operating_point,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
)
from mammoclf.metrics._scorers import (
    CLINICAL_METRICS,
    METRIC_DISPLAY_NAMES,
    ClinicalScorer,
    clinical_scorers,
    make_clinical_scorer,
    positive_class_scores,
)

__all__ = [
    "CLINICAL_METRICS",
    "METRIC_DISPLAY_NAMES",
    "ClinicalScorer",
    "ConfusionCounts",
    "OperatingPoint",
    "accuracy_score",
    "balanced_accuracy_score",
    "breast_level",
    "brier_score",
    "calibration_intercept",
    "calibration_slope",
    "check_targets",
    "clinical_scorers",
    "confusion_counts",
    "f1_weighted_score",
    "laterality_from_metadata",
    "make_clinical_scorer",
    "npv_score",
    "positive_class_scores",
    "ppv_score",
    "reliability_curve",
    "resolve_pos_label",
    "roc_auc_score",
    "roc_operating_point",
    "sensitivity_at_specificity",
    "sensitivity_score",
    "specificity_at_sensitivity",
    "specificity_score",
]
