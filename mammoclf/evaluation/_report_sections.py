"""One report writer for ``mammoclf compare`` and ``mammoclf evaluate``.

A report is an ordered list of *sections*: callables ``section(report,
out_dir)`` that add headings, text, tables and figures to a
:class:`~mammoclf.evaluation._report.Report` and write the CSV and PNG files
they link. :func:`write_report` runs them in order and writes
``report.md``, ``report.html``, ``tables/*.csv``, ``figures/*.png`` and
``run.json``, every file atomically. Each command chooses the sections that
apply; the sections below are shared, and draw and lay out the same objects
(a :class:`~mammoclf.evaluation.ComparisonSummary`, a
:class:`~mammoclf.evaluation.Predictions`) the same way for both.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mammoclf.evaluation._report import REPORT_HEADINGS, Report, save_figure, write_csv
from mammoclf.storage import write_text

__all__ = [
    "bullets_section",
    "checklist_section",
    "csv_section",
    "environment_section",
    "figures_section",
    "predictions_section",
    "summary_tables_section",
    "table_section",
    "write_report",
]


#: Tables of a summary that a section of their own places in the report:
#: the checklist ends it (:func:`checklist_section`), the localisation table
#: follows the Grad-CAM figures (``localization_section``).
PLACED_APART = ("checklist", "localization")


def write_report(out_dir, *, title, sections, run_info, banner=None):
    """Write a report's files into ``out_dir``: Markdown, HTML, CSVs, figures, run.json.

    Parameters
    ----------
    out_dir : path
        The report folder; ``figures/`` and ``tables/`` are made in it.
    title : str
        The report's title.
    sections : sequence of callable
        ``section(report, out_dir)``, in the order the report shows them.
    run_info : dict
        What ``run.json`` records about the run (JSON; other values as text).
    banner : str, default=None
        A warning shown above everything else.

    Returns
    -------
    report : Report
        The document written.
    """
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    (out_dir / "tables").mkdir(exist_ok=True)
    report = Report(title)
    if banner:
        report.banner(banner)
    for section in sections:
        section(report, out_dir)
    report.write(out_dir)
    write_text(out_dir / "run.json", json.dumps(run_info, indent=1, default=str))
    return report


def bullets_section(heading, items, *, anchor=None):
    """A heading (linked to by ``anchor``) and a bulleted list; nothing without items."""

    def section(report, out_dir):
        items_ = list(items)
        if items_:
            report.heading(heading, anchor=anchor)
            report.bullets(items_)

    return section


def csv_section(frame, file_name):
    """``tables/<file_name>``: ``frame`` as it is (no section in the document)."""

    def section(report, out_dir):
        write_csv(frame, Path(out_dir) / "tables" / file_name)

    return section


def environment_section(run_info):
    """The run's settings and versions, as ``run.json`` records them."""

    def section(report, out_dir):
        report.heading(REPORT_HEADINGS["environment"], anchor="environment")
        report.code("\n".join(f"{key}: {value}" for key, value in run_info.items()))

    return section


def summary_tables_section(summary, *, run_notes=None):
    """Every table of ``summary`` but those :data:`PLACED_APART`, with its CSV; see :func:`add_summary_tables`."""

    def section(report, out_dir):
        add_summary_tables(report, summary, out_dir, run_notes=run_notes)

    return section


def table_section(table):
    """One :class:`SummaryTable` as a section of its own (see :func:`add_table`)."""

    def section(report, out_dir):
        add_table(report, table, out_dir)

    return section


def checklist_section(summary):
    """The reporting checklist of ``summary``, if it has one, as the report's last table."""

    def section(report, out_dir):
        if "checklist" in [table.key for table in summary.tables]:
            add_table(report, summary.table("checklist"), out_dir)

    return section


def add_summary_tables(report, summary, out_dir, *, run_notes=None):
    """Lay out every table of ``summary`` in ``report`` and write its CSV.

    Each table gets its heading, caption, formatted cells and notes, as
    :meth:`~mammoclf.evaluation.ComparisonSummary.to_markdown` shows
    them, and ``tables/<key>.csv`` with its numbers. ``run_notes`` adds
    facts of the run that the comparison does not hold (the GPU's peak
    memory) to the notes of the table they concern, by table key.
    """
    run_notes = run_notes or {}
    for table in summary.tables:
        if table.key not in PLACED_APART:
            add_table(report, table, out_dir, run_notes.get(table.key, ()))
        if table.key.endswith("calibration"):
            _reliability_diagram(report, table, out_dir)
    if summary.general_notes:
        report.heading("Notes on the tables")
        report.bullets(summary.general_notes)


def add_table(report, table, out_dir, run_notes=(), *, heading=True):
    """One :class:`SummaryTable`: heading, caption, cells, notes and ``tables/<key>.csv``."""
    if heading:
        report.heading(table.title, anchor=table.key)
    report.table(table.display, table.caption)
    notes = [*table.notes, *run_notes]
    if notes:
        report.bullets(f"Note: {note}" for note in notes)
    write_csv(table.csv_frame(), Path(out_dir) / "tables" / f"{table.key}.csv")


def _reliability_diagram(report, table, out_dir):
    """The reliability diagram of a calibration table, every model on one plot."""
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(5.5, 5))
    results = table.data["result"].groupby(level="model", sort=False).first()
    for model, calibration in results.items():
        calibration.plot(ax=ax, name=model)
    ax.set_title(table.title)
    file_name = f"reliability_{table.key}.png"
    _save(
        report,
        figure,
        out_dir,
        file_name,
        (
            f"Reliability diagram ({table.title.lower()}): observed fraction malignant "
            "against mean predicted probability per bin, with patient-bootstrap "
            "intervals; the diagonal is perfect calibration."
        ),
    )


def _save(report, figure, out_dir, file_name, caption):
    import matplotlib.pyplot as plt

    save_figure(figure, Path(out_dir) / "figures" / file_name)
    plt.close(figure)
    report.figure(Path("figures") / file_name, caption)


def figures_section(predictions, *, captions, extra=(), log=None):
    """ROC curves and confusion matrices of ``predictions``, then ``extra`` figures.

    Both reports draw them with the plot objects' ``from_predictions``.
    ``captions`` gives the ``"roc_curves"`` and ``"confusion_matrices"``
    captions; ``extra`` holds ``(file_name, make_display, caption)``, where
    ``make_display()`` returns a display with a ``figure_``.
    """

    def section(report, out_dir):
        from mammoclf.plotting import ConfusionMatricesDisplay, RocCurvesDisplay

        if log is not None:
            log("drawing figures ...")
        report.heading("Figures")
        roc = [
            (
                "roc_curves.png",
                lambda: RocCurvesDisplay.from_predictions(predictions),
                captions["roc_curves"],
            )
        ]
        if np.unique(predictions.y_true).size < 2 or not predictions.scored_models:
            report.paragraph(
                "No ROC curves: they need images of both classes and scored models."
            )
            roc = []
        figures = [
            *roc,
            (
                "confusion_matrices.png",
                lambda: ConfusionMatricesDisplay.from_predictions(predictions),
                captions["confusion_matrices"],
            ),
            *extra,
        ]
        for file_name, make_display, caption in figures:
            _save(report, make_display().figure_, out_dir, file_name, caption)

    return section


def predictions_section(predictions, *, patients, file_name):
    """``tables/<file_name>``: one row per image, each model's score and label.

    Columns: the image's row (``sample``, cross-validation only), ``path``
    (when the predictions know it), ``patient`` (``patients``, as the report
    shows them, by image row), ``fold`` (cross-validation), ``y_true``, then
    ``<model>: y_score`` and ``<model>: y_pred`` per model.
    """

    def section(report, out_dir):
        write_csv(
            predictions_frame(predictions, patients=patients),
            Path(out_dir) / "tables" / file_name,
        )

    return section


def predictions_frame(predictions, *, patients):
    """The wide predictions table of :func:`predictions_section`."""
    columns = {}
    if predictions.fold is not None:
        columns["sample"] = predictions.sample
    if predictions.paths is not None:
        columns["path"] = predictions.paths
    columns["patient"] = np.asarray(patients)[predictions.sample]
    if predictions.fold is not None:
        columns["fold"] = predictions.fold
    columns["y_true"] = predictions.y_true
    for model in predictions.model_names:
        score = predictions.y_score[model]
        columns[f"{model}: y_score"] = (
            np.full(predictions.y_true.shape[0], np.nan) if score is None else score
        )
        columns[f"{model}: y_pred"] = predictions.y_pred[model]
    return pd.DataFrame(columns)
