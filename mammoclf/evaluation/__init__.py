"""Evaluating predictions: tables with intervals, pairwise tests, the summary.

This layer sits between :mod:`mammoclf.model_selection` (which produces
predictions: :class:`~mammoclf.model_selection.ComparisonResult`,
:class:`~mammoclf.model_selection.HoldoutResult`) and :mod:`mammoclf.cli`
(which writes reports). It reads result objects through their public
attributes only, so it never imports :mod:`mammoclf.model_selection`.

:class:`Predictions` records who predicted what (out-of-fold or held out),
with which model, threshold and patient; the tables read it.
:func:`evaluate_predictions`, :func:`evaluate_calibration`,
:func:`evaluate_operating_points` and :func:`evaluate_subgroups` turn one
model's predictions into tables with patient-bootstrap intervals;
:func:`pairwise_tests` and :func:`omnibus_test` run the statistical tests of
:mod:`mammoclf.stats` across the models of a comparison;
:func:`summarize` builds the :class:`ComparisonSummary` of a comparison or
a held-out evaluation, the tables of the ``SUMMARY_TABLES`` registry, as
:class:`SummaryOptions` asks; :func:`reporting_checklist` maps a report's
sections to the CLAIM and TRIPOD+AI items. :func:`training_details` (and its
report table, :func:`training_table`) states how each model was built,
preprocessed and trained, read off the fitted estimators;
:func:`localization_maps` gathers the Grad-CAM maps whose agreement with
the lesion masks the summary's localisation table scores.
``write_report`` writes the report of ``mammoclf compare`` and of
``mammoclf evaluate`` from an ordered list of sections (Markdown, HTML, CSV
tables, figures and ``run.json``).
"""

from mammoclf.evaluation._calibration import CalibrationResult, evaluate_calibration
from mammoclf.evaluation._checklist import reporting_checklist
from mammoclf.evaluation._evaluation import (
    evaluate_operating_points,
    evaluate_predictions,
)
from mammoclf.evaluation._pairwise import PAIRWISE_TESTS, omnibus_test, pairwise_tests
from mammoclf.evaluation._prediction_sets import Predictions
from mammoclf.evaluation._report import REPORT_HEADINGS, Report, section_links
from mammoclf.evaluation._report_grad_cam import (
    fold_model_explainer,
    grad_cam_section,
    saved_model_explainer,
)
from mammoclf.evaluation._report_localization import (
    LocalizationMaps,
    lesion_masks,
    localization_maps,
    localization_section,
)
from mammoclf.evaluation._report_sections import (
    bullets_section,
    checklist_section,
    csv_section,
    environment_section,
    figures_section,
    predictions_section,
    summary_tables_section,
    table_section,
    write_report,
)
from mammoclf.evaluation._subgroups import evaluate_subgroups
from mammoclf.evaluation._summarize import summarize
from mammoclf.evaluation._summary import ComparisonSummary, SummaryTable
from mammoclf.evaluation._summary_options import (
    ResolvedSummaryOptions,
    SummaryOptions,
)
from mammoclf.evaluation._summary_tables import SUMMARY_TABLES
from mammoclf.evaluation._training_details import training_details, training_table

__all__ = [
    "PAIRWISE_TESTS",
    "SUMMARY_TABLES",
    "CalibrationResult",
    "ComparisonSummary",
    "Predictions",
    "ResolvedSummaryOptions",
    "SummaryOptions",
    "SummaryTable",
    "evaluate_calibration",
    "evaluate_operating_points",
    "evaluate_predictions",
    "evaluate_subgroups",
    "omnibus_test",
    "pairwise_tests",
    "reporting_checklist",
    "summarize",
    "training_details",
    "training_table",
]

# Not in __all__: the one report writer of ``mammoclf compare`` and
# ``mammoclf evaluate`` and its sections (a report is an ordered list of them).
_ = (
    LocalizationMaps,
    REPORT_HEADINGS,
    Report,
    bullets_section,
    checklist_section,
    csv_section,
    environment_section,
    figures_section,
    fold_model_explainer,
    grad_cam_section,
    lesion_masks,
    localization_maps,
    localization_section,
    predictions_section,
    saved_model_explainer,
    section_links,
    summary_tables_section,
    table_section,
    write_report,
)
